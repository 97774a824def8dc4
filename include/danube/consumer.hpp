// basic_consumer<RetryPolicy>: receives from a subscription on a topic (every partition of it).
//
//   auto k = client.new_consumer().topic("/default/orders").consumer_name("c1")
//                  .subscription("billing").subscription_type(danube::subscription_type::shared).build();
//   if (auto ok = k->subscribe(); !ok) { ... }    // TopicPartitions, then Subscribe per partition
//   auto m = k->receive(std::chrono::seconds(1));  // result<message>; errc::timeout when none came
//   k->ack(*m);
//
// All partitions feed one bounded queue; while it is full the streams are not read, so the
// broker is held back and nothing is dropped.
#pragma once

#include <danube/consumer_options.hpp>
#include <danube/detail/ack_batch.hpp>
#include <danube/detail/await_all.hpp>
#include <danube/detail/callback_scope.hpp>
#include <danube/detail/client_core.hpp>
#include <danube/detail/deadline.hpp>
#include <danube/detail/lookup.hpp>
#include <danube/detail/message_access.hpp>
#include <danube/detail/once_completion.hpp>
#include <danube/detail/receive_queue.hpp>
#include <danube/detail/retry_loop.hpp>
#include <danube/detail/stats.hpp>
#include <danube/detail/topic_consumer.hpp>
#include <danube/error.hpp>
#include <danube/message.hpp>
#include <danube/policies/concepts.hpp>
#include <danube/policies/retry.hpp>
#include <danube/stats.hpp>
#include <danube/topic_name.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace danube {

namespace detail {

// The non-template state of a consumer, shared with its streams and with the client.
class consumer_core final : public closable, public std::enable_shared_from_this<consumer_core> {
 public:
  consumer_core(std::shared_ptr<client_core> client, consumer_options options, retry_schedule retry)
      : client_(std::move(client)),
        options_(std::move(options)),
        retry_(std::move(retry)),
        queue_(std::make_shared<receive_queue>(options_.receive_queue_capacity)) {}

  [[nodiscard]] const consumer_options& options() const noexcept { return options_; }

  // One subscribe() at a time per consumer: a concurrent call waits for the one in progress,
  // then returns at once if it succeeded (each partition subscribes once).
  [[nodiscard]] result<void> subscribe() {
    if (auto ok = check_may_wait("subscribe()"); !ok) {
      return ok;
    }
    {
      std::unique_lock lock(mu_);
      subscribed_.wait(lock, [&] { return !subscribing_; });
      if (closed_) {
        return unexpected_error(errc::closed, "the consumer is closed");
      }
      if (!partitions_.empty()) {
        return {};
      }
      subscribing_ = true;
    }
    auto outcome = subscribe_();
    {
      std::lock_guard lock(mu_);
      subscribing_ = false;
    }
    subscribed_.notify_all();
    return outcome;
  }

  [[nodiscard]] result<message> receive(std::optional<std::chrono::milliseconds> timeout) {
    if (auto ok = receivable_(timeout); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    return queue_->pop(timeout);
  }

  // What is queued, up to `max_messages`, waiting up to `timeout` for the first (Pulsar's
  // batchReceive): one hand-over between threads for the whole batch.
  [[nodiscard]] result<std::vector<message>> receive_batch(std::size_t max_messages,
                                                           std::optional<std::chrono::milliseconds> timeout) {
    if (max_messages == 0) {
      return unexpected_error(errc::invalid_argument, "receive_batch: max_messages must be at least 1");
    }
    if (auto ok = receivable_(timeout); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    std::vector<message> batch;
    if (auto ok = queue_->pop_batch(batch, max_messages, timeout); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    return batch;
  }

  void ack(const message& m, topic_consumer::completion done) {
    auto partition = partition_of_(m);
    if (!partition) {
      done(std::unexpected(std::move(partition).error()));
      return;
    }
    (*partition)->ack(m, std::move(done));
  }

  // Acknowledges every message of `messages` (each to its partition's broker; at most
  // ack_batch::window calls at once); `done` runs once, when all have answered, with the first
  // failure. Nothing is acknowledged when one of them was not received by this consumer.
  void ack(std::span<const message> messages, topic_consumer::completion done) {
    std::vector<ack_batch::one> acks;
    acks.reserve(messages.size());
    for (const auto& m : messages) {
      auto partition = partition_of_(m);
      if (!partition) {
        done(std::unexpected(std::move(partition).error()));
        return;
      }
      acks.push_back({std::move(*partition), topic_consumer::ack_request(m)});
    }
    ack_batch::start(std::move(acks), std::move(done));
  }

  void nack(const message& m, const nack_options& options, topic_consumer::completion done) {
    auto partition = partition_of_(m);
    if (!partition) {
      done(std::unexpected(std::move(partition).error()));
      return;
    }
    (*partition)->nack(m, options, std::move(done));
  }

  // Hands every message (and failure notice) to the listener instead of receive(): on the
  // client's listener thread, one call at a time, in order.
  [[nodiscard]] result<void> listen(std::function<void(message)> on_message, std::function<void(error)> on_error) {
    {
      std::lock_guard lock(mu_);
      if (closed_) {
        return unexpected_error(errc::closed, "the consumer is closed");
      }
      if (listening_) {
        return unexpected_error(errc::failed_precondition, "this consumer already has a message listener");
      }
      listening_ = true;
      on_message_ = std::move(on_message);
      on_error_ = std::move(on_error);
    }
    queue_->on_ready([weak = weak_from_this()] {
      if (const auto self = weak.lock()) {
        self->schedule_drain_();
      }
    });
    return {};
  }

  // Summed over the partitions, each also listed (none before subscribe() succeeded; kept after
  // close()).
  [[nodiscard]] consumer_stats stats() {
    consumer_stats total;
    total.name = options_.consumer_name;
    total.subscription = options_.subscription;
    total.topic = options_.topic;
    std::vector<std::shared_ptr<topic_consumer>> partitions;
    {
      std::lock_guard lock(mu_);
      partitions = partitions_;
    }
    for (const auto& partition : partitions) {
      total.partitions.push_back(partition->stats());
      add_to_total(total, total.partitions.back());
    }
    total.queue_depth = queue_->size();
    return total;
  }

  void collect_stats(client_stats& out) override { out.consumers.push_back(stats()); }

  // Idempotent; a second close() (another thread, or the client closing) also waits for the
  // partitions' streams (topic_consumer::close()).
  void close() override {
    std::vector<std::shared_ptr<topic_consumer>> partitions;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      partitions = partitions_;
      partitions.insert(partitions.end(), pending_.begin(), pending_.end());
    }
    closing_.notify_all();
    queue_->close();
    for (const auto& partition : partitions) {
      partition->close();
    }
  }

 private:
  // subscribe() itself, one caller at a time.
  [[nodiscard]] result<void> subscribe_() {
    // Tracked before anything is subscribed: a client closing from now on closes this consumer,
    // and with it what is being subscribed (pending_).
    if (!tracked_) {
      if (!client_->track(weak_from_this())) {
        close();
        return unexpected_error(errc::closed, "the client is closed");
      }
      tracked_ = true;
    }
    if (auto ch = client_->connect(client_->service_address()); !ch) {
      return std::unexpected(std::move(ch).error());
    }
    auto names = with_retries(
        retry_, [&] { return topic_partitions(*client_, client_->service_address(), options_.topic); },
        [&](std::chrono::milliseconds delay) { return wait_(delay); });
    if (!names) {
      return std::unexpected(std::move(names).error());
    }
    if (names->empty()) {
      return unexpected_error(errc::not_found, "no topic or partitions found for " + options_.topic);
    }
    // Every partition subscribes at once, on gRPC's callback API (no thread per partition).
    std::vector<std::shared_ptr<topic_consumer>> partitions;
    for (auto& name : *names) {
      partitions.push_back(std::make_shared<topic_consumer>(client_, std::move(name), options_, retry_, queue_));
    }
    {
      std::lock_guard lock(mu_);
      if (closed_) {
        return unexpected_error(errc::closed, "the consumer was closed during subscribe()");
      }
      pending_ = partitions;
    }
    auto failure =
        start_all_and_wait(partitions, [](topic_consumer& partition, auto done) { partition.subscribe(done); });
    {
      std::lock_guard lock(mu_);
      pending_.clear();
      if (closed_) {  // whatever the partitions ran into meanwhile, the close is why they stopped
        failure = error(errc::closed, "the consumer was closed during subscribe()");
      }
      if (!failure) {
        partitions_ = partitions;
      }
    }
    if (failure) {
      // Those already subscribed are released: no stream, no health check.
      for (const auto& partition : partitions) {
        partition->close();
      }
      return std::unexpected(std::move(*failure));
    }
    for (const auto& partition : partitions) {
      partition->start();
    }
    return {};
  }

  // Sleeps `delay` unless the consumer is closed first (then returns false). A huge delay (the
  // policy may ask for milliseconds::max()) saturates: wait_for would overflow into the past.
  [[nodiscard]] bool wait_(std::chrono::milliseconds delay) {
    std::unique_lock lock(mu_);
    return !closing_.wait_until(lock, deadline_after(delay), [&] { return closed_; });
  }

  // One drain at a time per consumer, on the client's listener thread.
  void schedule_drain_() {
    {
      std::lock_guard lock(mu_);
      if (draining_ || closed_) {
        return;
      }
      draining_ = true;
    }
    if (!client_->listeners().post([self = shared_from_this()] { self->drain_(); })) {
      std::lock_guard lock(mu_);
      draining_ = false;
    }
  }

  // The listeners run marked as such (callback_scope): they may block, and may call anything.
  // The queue is taken in batches (one hand-over per batch) and delivered one message at a time;
  // a close() from anywhere (the listener included) stops delivery before the next message.
  void drain_() {
    const callback_scope scope(callback_kind::listener);
    static constexpr std::size_t batch_size = 64;
    std::vector<message> batch;
    for (;;) {
      batch.clear();
      auto next = queue_->pop_batch(batch, batch_size, std::nullopt);
      if (next) {
        for (auto& m : batch) {
          if (queue_->closed()) {
            return;  // draining_ stays set: nothing is delivered after close
          }
          on_message_(std::move(m));
        }
        continue;
      }
      if (next.error() == errc::closed) {
        return;  // draining_ stays set: nothing is delivered after close
      }
      if (next.error() != errc::timeout) {
        if (on_error_) {
          on_error_(next.error());
        }
        continue;
      }
      {
        std::lock_guard lock(mu_);
        draining_ = false;
      }
      // Something may have arrived between the empty pop and clearing the flag.
      if (queue_->size() == 0) {
        return;
      }
      {
        std::lock_guard lock(mu_);
        if (draining_ || closed_) {
          return;
        }
        draining_ = true;
      }
    }
  }

  // receive() and receive_batch() may be called: subscribed, not closed, no listener, and (to wait)
  // not inside a callback that must not block.
  [[nodiscard]] result<void> receivable_(std::optional<std::chrono::milliseconds> timeout) {
    if (timeout && timeout->count() > 0) {
      if (auto ok = check_may_wait("receive() with a timeout"); !ok) {
        return ok;
      }
    }
    std::lock_guard lock(mu_);
    if (closed_) {
      return unexpected_error(errc::closed, "the consumer is closed");
    }
    if (partitions_.empty()) {
      return unexpected_error(errc::failed_precondition, "subscribe() has not succeeded on this consumer");
    }
    if (listening_) {
      return unexpected_error(errc::failed_precondition, "this consumer delivers to its message listener");
    }
    return {};
  }

  [[nodiscard]] result<std::shared_ptr<topic_consumer>> partition_of_(const message& m) {
    std::lock_guard lock(mu_);
    if (closed_) {
      return unexpected_error(errc::closed, "the consumer is closed");
    }
    for (const auto& partition : partitions_) {
      if (partition->topic() == m.topic()) {
        // The broker settles acks per subscription: another subscription's message would be
        // acknowledged there, for its consumers, not here.
        if (const auto& from = message_access::subscription(m); from != options_.subscription) {
          return unexpected_error(errc::invalid_argument, "the message was received on subscription '" + from +
                                                              "', not by this consumer (subscription '" +
                                                              options_.subscription + "')");
        }
        return partition;
      }
    }
    return unexpected_error(errc::invalid_argument,
                            "the message (topic " + m.topic() + ") was not received by this consumer");
  }

  const std::shared_ptr<client_core> client_;
  const consumer_options options_;
  const retry_schedule retry_;
  const std::shared_ptr<receive_queue> queue_;
  std::mutex mu_;
  std::condition_variable closing_;
  std::vector<std::shared_ptr<topic_consumer>> partitions_;
  std::vector<std::shared_ptr<topic_consumer>> pending_;  // subscribing right now
  std::condition_variable subscribed_;                    // subscribing_ went false
  std::function<void(message)> on_message_;
  std::function<void(error)> on_error_;
  bool subscribing_ = false;  // a subscribe() is in progress
  bool tracked_ = false;      // the client knows this consumer
  bool listening_ = false;
  bool draining_ = false;
  bool closed_ = false;
};

}  // namespace detail

template <retry_policy RetryPolicy>
class basic_consumer_builder;

template <retry_policy RetryPolicy = retry::exponential_backoff>
class basic_consumer {
 public:
  using retry_policy_type = RetryPolicy;
  using completion = std::function<void(result<void>)>;

  basic_consumer(basic_consumer&& other) noexcept : retry_(other.retry_), core_(std::move(other.core_)) {}
  // Closes the consumer this one was, then takes `other`'s place.
  basic_consumer& operator=(basic_consumer&& other) noexcept {
    if (this != &other) {
      const auto replaced = std::exchange(core_, std::move(other.core_));
      retry_ = other.retry_;
      if (replaced) {
        replaced->close();
      }
    }
    return *this;
  }
  basic_consumer(const basic_consumer&) = delete;
  basic_consumer& operator=(const basic_consumer&) = delete;
  ~basic_consumer() {
    if (core_) {
      core_->close();
    }
  }

  // Finds the topic's partitions and subscribes to each, then starts receiving. Safe to call
  // again after a failure, and from several threads (they share one attempt).
  [[nodiscard]] result<void> subscribe() {
    const auto core = core_;
    return core ? core->subscribe() : moved_from_();
  }

  // Waits up to `timeout` for the next message (errc::timeout when none came). Inside a send or
  // ack completion, the token supplier or the logger it fails with errc::failed_precondition.
  [[nodiscard]] result<message> receive(std::chrono::milliseconds timeout) {
    const auto core = core_;
    return core ? core->receive(timeout) : moved_from_();
  }
  // The next message if one is waiting (errc::timeout otherwise); never blocks.
  [[nodiscard]] result<message> try_receive() {
    const auto core = core_;
    return core ? core->receive(std::nullopt) : moved_from_();
  }

  // Every message already queued, up to `max_messages` (>= 1), waiting up to `timeout` for the
  // first one; errc::timeout when none came (Pulsar's batchReceive, minus its wait for more). A
  // failure notice ends a batch: it is the error of the next call. Handing a batch over costs what
  // handing one message does, so a consumer catching up on a backlog should receive in batches.
  [[nodiscard]] result<std::vector<message>> receive_batch(std::size_t max_messages,
                                                           std::chrono::milliseconds timeout) {
    const auto core = core_;
    return core ? core->receive_batch(max_messages, timeout) : moved_from_();
  }

  // Delivers every message to `on_message` instead of receive(): on the client's listener thread,
  // one call at a time, in order. Failures the consumer could not recover from go to `on_error`.
  // The listener may block (it holds up only this client's listeners) and may call anything.
  [[nodiscard]] result<void> on_message(std::function<void(message)> on_message,
                                        std::function<void(error)> on_error = {}) {
    if (!on_message) {
      return detail::empty_callback("on_message");
    }
    const auto core = core_;
    return core ? core->listen(std::move(on_message), std::move(on_error)) : moved_from_();
  }

  // Acknowledges to the broker that owns the message's partition, and waits for its answer.
  // Inside a completion, the token supplier or the logger: errc::failed_precondition (use ack_async).
  [[nodiscard]] result<void> ack(const message& m) {
    if (auto ok = detail::check_may_wait("ack()"); !ok) {
      return ok;
    }
    return ack_async(m).get();
  }
  [[nodiscard]] std::future<result<void>> ack_async(const message& m) {
    return to_future_([&](completion done) { ack_(m, std::move(done)); });
  }
  // Callback form: `done` runs exactly once, on a client thread, with no lock of the library held;
  // it must not block (docs/reliability.md lists what it may call). An empty `done` is refused
  // (errc::invalid_argument) and nothing is sent; every other outcome goes to `done`.
  [[nodiscard]] result<void> ack_async(const message& m, completion done) {
    if (!done) {
      return detail::empty_callback("ack_async");
    }
    ack_(m, as_callback_(std::move(done)));
    return {};
  }

  // Acknowledges a batch (e.g. one receive_batch() returned) and waits until every ack was
  // answered: the first failure, if any. At most 64 Ack calls are in flight at once (the broker
  // acknowledges one message per call); nothing is sent when one of the messages was not received
  // by this consumer (errc::invalid_argument). Inside a completion: failed_precondition, as ack(m).
  [[nodiscard]] result<void> ack(std::span<const message> messages) {
    if (auto ok = detail::check_may_wait("ack()"); !ok) {
      return ok;
    }
    return ack_async(messages).get();
  }
  [[nodiscard]] std::future<result<void>> ack_async(std::span<const message> messages) {
    return to_future_([&](completion done) { ack_batch_(messages, std::move(done)); });
  }
  // Callback form, as ack_async(m, done): `done` runs exactly once, on a client thread; an empty
  // `done` is refused (errc::invalid_argument) and nothing is sent.
  [[nodiscard]] result<void> ack_async(std::span<const message> messages, completion done) {
    if (!done) {
      return detail::empty_callback("ack_async");
    }
    ack_batch_(messages, as_callback_(std::move(done)));
    return {};
  }

  // Asks for redelivery (reliable topics), after at least `options.delay`.
  [[nodiscard]] result<void> nack(const message& m, const nack_options& options = {}) {
    if (auto ok = detail::check_may_wait("nack()"); !ok) {
      return ok;
    }
    return nack_async(m, options).get();
  }
  [[nodiscard]] std::future<result<void>> nack_async(const message& m, const nack_options& options = {}) {
    return to_future_([&](completion done) { nack_(m, options, std::move(done)); });
  }
  [[nodiscard]] result<void> nack_async(const message& m, const nack_options& options, completion done) {
    if (!done) {
      return detail::empty_callback("nack_async");
    }
    nack_(m, options, as_callback_(std::move(done)));
    return {};
  }

  // What this consumer has done since it was made: counters and its queue depth, summed and per
  // partition (danube/stats.hpp, docs/consumer.md). Thread-safe, callable from any callback; cheap
  // enough to poll. All zero on a moved-from consumer.
  [[nodiscard]] consumer_stats stats() const {
    const auto core = core_;
    return core ? core->stats() : consumer_stats{};
  }

  // Stops the streams; receive() then fails with errc::closed. Idempotent; a no-op on a
  // moved-from consumer.
  void close() {
    if (const auto core = core_) {
      core->close();
    }
  }

  [[nodiscard]] const consumer_options& options() const noexcept {
    static const consumer_options moved_from;
    return core_ ? core_->options() : moved_from;
  }
  [[nodiscard]] RetryPolicy& retry_policy() noexcept { return *retry_; }

 private:
  template <danube::retry_policy>
  friend class basic_consumer_builder;

  basic_consumer(std::shared_ptr<detail::client_core> client, consumer_options options, RetryPolicy retry)
      : retry_(std::make_shared<RetryPolicy>(std::move(retry))),
        core_(std::make_shared<detail::consumer_core>(std::move(client), std::move(options),
                                                      [policy = retry_](const error& failure, unsigned attempt) {
                                                        return policy->next_delay(failure, attempt);
                                                      })) {}

  [[nodiscard]] static std::unexpected<error> moved_from_() {
    return unexpected_error(errc::closed, "the consumer was moved from");
  }

  // A user's completion: run exactly once, marked as a callback that must not block.
  [[nodiscard]] static completion as_callback_(completion done) {
    return detail::once_completion<void>(detail::in_callback_scope(detail::callback_kind::completion, std::move(done)));
  }

  void ack_(const message& m, completion done) {
    const auto core = core_;  // held for the call: a callback it runs inline may destroy this handle
    if (!core) {
      done(moved_from_());
      return;
    }
    core->ack(m, std::move(done));
  }

  void ack_batch_(std::span<const message> messages, completion done) {
    const auto core = core_;
    if (!core) {
      done(moved_from_());
      return;
    }
    core->ack(messages, std::move(done));
  }

  void nack_(const message& m, const nack_options& options, completion done) {
    const auto core = core_;
    if (!core) {
      done(moved_from_());
      return;
    }
    core->nack(m, options, std::move(done));
  }

  template <class Start>
  [[nodiscard]] static std::future<result<void>> to_future_(Start&& start) {
    auto promise = std::make_shared<std::promise<result<void>>>();
    auto future = promise->get_future();
    start(detail::once_completion<void>([promise](result<void> outcome) { promise->set_value(std::move(outcome)); }));
    return future;
  }

  std::shared_ptr<RetryPolicy> retry_;  // shared with the core, which retries in the background
  std::shared_ptr<detail::consumer_core> core_;
};

using consumer = basic_consumer<>;

// Collects a consumer's settings; build() checks them without any I/O.
template <retry_policy RetryPolicy = retry::exponential_backoff>
class basic_consumer_builder;

template <danube::retry_policy RetryPolicy>
class basic_consumer_builder {
 public:
  explicit basic_consumer_builder(std::shared_ptr<detail::client_core> client) : client_(std::move(client)) {}

  basic_consumer_builder& topic(std::string topic) {
    options_.topic = std::move(topic);
    return *this;
  }
  basic_consumer_builder& consumer_name(std::string name) {
    options_.consumer_name = std::move(name);
    return *this;
  }
  basic_consumer_builder& subscription(std::string name) {
    options_.subscription = std::move(name);
    return *this;
  }
  basic_consumer_builder& subscription_type(danube::subscription_type type) {
    options_.type = type;
    return *this;
  }
  // Glob patterns on the routing key (`*`, `?`); key_shared subscriptions only.
  basic_consumer_builder& key_filters(std::vector<std::string> filters) {
    options_.key_filters = std::move(filters);
    return *this;
  }
  basic_consumer_builder& receive_queue_capacity(std::size_t capacity) {
    options_.receive_queue_capacity = capacity;
    return *this;
  }
  basic_consumer_builder& retry_policy(RetryPolicy policy) {
    retry_ = std::move(policy);
    return *this;
  }

  [[nodiscard]] result<basic_consumer<RetryPolicy>> build() const {
    if (!client_) {
      return unexpected_error(errc::closed, "the client was moved from");
    }
    if (options_.topic.empty()) {
      return unexpected_error(errc::invalid_argument, "a consumer needs a topic: call topic(\"/namespace/name\")");
    }
    if (auto ok = validate_topic_name(options_.topic); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    if (options_.consumer_name.empty() || options_.subscription.empty()) {
      return unexpected_error(errc::invalid_argument, "a consumer needs a consumer_name(...) and a subscription(...)");
    }
    if (!is_valid_utf8(options_.consumer_name) || !is_valid_utf8(options_.subscription)) {
      return unexpected_error(errc::invalid_argument, "consumer and subscription names must be valid UTF-8");
    }
    if (!options_.key_filters.empty() && options_.type != subscription_type::key_shared) {
      return unexpected_error(errc::invalid_argument,
                              "key_filters only apply to key_shared subscriptions: set "
                              "subscription_type(danube::subscription_type::key_shared) or drop the filters");
    }
    if (options_.receive_queue_capacity == 0) {
      return unexpected_error(errc::invalid_argument, "the receive queue capacity must be at least 1");
    }
    if (auto ok = validate_retry_policy(retry_); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    return basic_consumer<RetryPolicy>(client_, options_, retry_);
  }

 private:
  std::shared_ptr<detail::client_core> client_;
  consumer_options options_;
  RetryPolicy retry_{};
};

}  // namespace danube
