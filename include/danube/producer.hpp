// basic_producer<RetryPolicy, Router>: publishes to a topic (or to each partition of one).
//
//   auto p = client.new_producer().topic("/default/orders").name("writer").partitions(3).build();
//   if (auto ok = p->create(); !ok) { ... }       // connects: lookup + CreateProducer per partition
//   auto id = p->send("payload");                  // result<message_id>, waits for the broker
//   auto f  = p->send_async("payload");            // std::future<result<message_id>>
//
// Sends on one partition complete in the order they were made. At most max_pending_messages are
// unfinished at once (block or fail when full); max_in_flight (default 1) are on the wire per
// partition.
#pragma once

#include <danube/detail/await_all.hpp>
#include <danube/detail/callback_scope.hpp>
#include <danube/detail/client_core.hpp>
#include <danube/detail/deadline.hpp>
#include <danube/detail/pending_limiter.hpp>
#include <danube/detail/retry_loop.hpp>
#include <danube/detail/schema_resolution.hpp>
#include <danube/detail/stats.hpp>
#include <danube/detail/topic_producer.hpp>
#include <danube/error.hpp>
#include <danube/message.hpp>
#include <danube/payload.hpp>
#include <danube/policies/concepts.hpp>
#include <danube/policies/retry.hpp>
#include <danube/policies/routing.hpp>
#include <danube/producer_options.hpp>
#include <danube/stats.hpp>
#include <danube/topic_name.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace danube {

// The most a single message may be: gRPC's default 4 MiB limit, which the broker never raises,
// less room for the envelope.
inline constexpr std::size_t max_payload_size = 4 * 1024 * 1024 - 16 * 1024;

namespace detail {

// The non-template state of a producer, shared with its in-flight sends and with the client
// (which closes it on client close).
class producer_core final : public closable, public std::enable_shared_from_this<producer_core> {
 public:
  producer_core(std::shared_ptr<client_core> client, producer_options options, retry_schedule retry)
      : client_(std::move(client)),
        options_(std::move(options)),
        retry_(std::move(retry)),
        limiter_(std::make_shared<pending_limiter>(options_.max_pending_messages)) {}

  using clock = std::chrono::steady_clock;

  [[nodiscard]] const producer_options& options() const noexcept { return options_; }
  [[nodiscard]] std::size_t partition_count() {
    std::lock_guard lock(mu_);
    return partitions_.size();
  }
  [[nodiscard]] std::optional<resolved_schema> schema() {
    std::lock_guard lock(mu_);
    return schema_;
  }

  // One create() at a time per producer: a concurrent call waits for the one in progress, then
  // returns at once if it succeeded (each partition registers once).
  [[nodiscard]] result<void> create() {
    if (auto ok = check_may_wait("create()"); !ok) {
      return ok;
    }
    {
      std::unique_lock lock(mu_);
      created_.wait(lock, [&] { return !creating_; });
      if (closed_) {
        return unexpected_error(errc::closed, "the producer is closed");
      }
      if (!partitions_.empty()) {
        return {};
      }
      creating_ = true;
    }
    auto outcome = create_();
    {
      std::lock_guard lock(mu_);
      creating_ = false;
    }
    created_.notify_all();
    return outcome;
  }

  // Validates, takes a pending slot and queues the message on `partition`'s pipeline. `complete`
  // runs exactly once, never under a lock of the library.
  void send(std::uint32_t partition, std::optional<std::string_view> key, payload_arg payload, const attributes& attrs,
            send_completion complete) {
    // The send timeout and the send latency count from here: waiting for room in the pending queue
    // is part of both.
    const auto called = clock::now();
    const auto deadline = deadline_after(options_.send_timeout, called);
    std::shared_ptr<topic_producer> target;
    std::optional<resolved_schema> schema;
    std::optional<error> refused;
    {
      std::lock_guard lock(mu_);
      schema = schema_;
      if (!partitions_.empty()) {
        target = partitions_[partition % partitions_.size()];
      }
      if (closed_) {
        refused = error(errc::closed, "the producer is closed");
      } else if (!target) {
        refused = error(errc::failed_precondition, "create() has not succeeded on this producer");
      }
    }
    if (!refused) {
      if (auto ok = validate_(key, payload, attrs); !ok) {
        refused = std::move(ok).error();
      }
    }
    if (refused) {
      refuse_(target, std::move(complete), std::move(*refused));
      return;
    }
    // Inside a callback that must not block a full queue fails at once: the slots it would wait
    // for may be freed only by the completions this very thread is about to run.
    const auto when_full = check_may_wait("send") ? options_.when_full : queue_full_policy::fail;
    if (auto ok = limiter_->acquire(when_full, deadline); !ok) {
      refuse_(target, std::move(complete), std::move(ok).error());
      return;
    }
    auto op = target->make_op();
    op->deadline = deadline;
    op->called = called;
    fill_send_request(op->request, std::move(payload), key, attrs, schema);
    op->complete = std::move(complete);  // the op releases the pending slot just before it runs
    target->send(std::move(op));
  }

  // Waits until the sends made before this call have completed (not those made meanwhile), at
  // most until `deadline` (then errc::timeout).
  [[nodiscard]] result<void> flush(std::optional<clock::time_point> deadline) {
    if (auto ok = check_may_wait("flush()"); !ok) {
      return ok;
    }
    std::vector<std::shared_ptr<topic_producer>> partitions;
    {
      std::lock_guard lock(mu_);
      if (closed_) {
        return unexpected_error(errc::closed, "the producer is closed");
      }
      partitions = partitions_;
    }
    std::vector<std::uint64_t> marks;
    marks.reserve(partitions.size());
    for (const auto& partition : partitions) {
      marks.push_back(partition->flush_mark());
    }
    for (std::size_t i = 0; i < partitions.size(); ++i) {
      if (!partitions[i]->wait_completed(marks[i], deadline)) {
        return unexpected_error(errc::timeout, "sends made before flush() were still unfinished at its deadline");
      }
    }
    return {};
  }

  // Summed over the partitions, each also listed (none before create() succeeded).
  [[nodiscard]] producer_stats stats() {
    producer_stats total;
    total.name = options_.name;
    total.topic = options_.topic;
    latency_counts latency;
    for (const auto& partition : snapshot_()) {
      total.partitions.push_back(partition->stats());
      add_to_total(total, total.partitions.back());
      latency.add(partition->latency());
    }
    total.messages_refused = refused_.get();
    total.send_latency = latency.summary();
    return total;
  }

  void collect_stats(client_stats& out) override { out.producers.push_back(stats()); }

  // Idempotent; a second close() (another thread, or the client closing) also waits for the
  // partitions' completions (topic_producer::close()).
  void close() override {
    std::vector<std::shared_ptr<topic_producer>> partitions;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      partitions = partitions_;
      partitions.insert(partitions.end(), pending_.begin(), pending_.end());
    }
    limiter_->close();
    for (const auto& partition : partitions) {
      partition->close();
    }
  }

 private:
  // create() itself, one caller at a time.
  [[nodiscard]] result<void> create_() {
    // Tracked before anything is registered: a client closing from now on closes this producer,
    // and with it what is being created (pending_).
    if (!tracked_) {
      if (!client_->track(weak_from_this())) {
        close();
        return unexpected_error(errc::closed, "the client is closed");
      }
      tracked_ = true;
    }
    std::vector<std::shared_ptr<topic_producer>> created;
    const auto count = options_.partitions.value_or(0);
    if (count == 0) {
      created.push_back(
          std::make_shared<topic_producer>(client_, options_.topic, options_.name, options_, retry_, limiter_));
    } else {
      for (std::uint32_t i = 0; i < count; ++i) {
        created.push_back(std::make_shared<topic_producer>(client_, partition_topic_name(options_.topic, i),
                                                           options_.name + "-" + std::to_string(i), options_, retry_,
                                                           limiter_));
      }
    }
    // Wait for the service URL once (the connect timeout), then register every partition at once
    // on gRPC's callback API: no thread per partition.
    if (auto ch = client_->connect(client_->service_address()); !ch) {
      return std::unexpected(std::move(ch).error());
    }
    {
      std::lock_guard lock(mu_);
      if (closed_) {
        return unexpected_error(errc::closed, "the producer was closed during create()");
      }
      pending_ = created;
    }
    auto failure = start_all_and_wait(created, [](topic_producer& partition, auto done) { partition.create(done); });
    {
      std::lock_guard lock(mu_);
      pending_.clear();
      if (closed_) {
        // Whatever the partitions ran into meanwhile, the reason they stopped is the close.
        failure = error(errc::closed, "the producer was closed during create()");
      }
    }
    if (failure) {
      for (const auto& partition : created) {
        partition->close();
      }
      return std::unexpected(std::move(*failure));
    }
    // The schema version stamped on every message, resolved once the broker accepted the subject
    // (§8.5); failing to resolve it fails create().
    std::optional<resolved_schema> schema;
    if (options_.schema) {
      auto resolved = resolve_schema(*client_, *options_.schema);
      if (!resolved) {
        for (const auto& partition : created) {
          partition->close();
        }
        return std::unexpected(std::move(resolved).error());
      }
      schema = *resolved;
    }
    bool closed = false;
    {
      std::lock_guard lock(mu_);
      closed = closed_;
      if (!closed) {
        partitions_ = created;
        schema_ = schema;
      }
    }
    if (closed) {
      // close() ran after the partitions left pending_: they are ours to close.
      for (const auto& partition : created) {
        partition->close();
      }
      return unexpected_error(errc::closed, "the producer was closed during create()");
    }
    return {};
  }

  // A send refused before it was queued. With a partition to go to, its completion keeps its place
  // in that partition's order (topic_producer::refuse): a refusal never overtakes the completion
  // of an earlier send there. Without one (create() has not succeeded) nothing is before it: it
  // runs here, on the caller's thread, marked like every send completion (send_op::finish). Every
  // send refused before it reaches a partition's queue comes through here: the one place it is
  // counted (messages_refused).
  void refuse_(const std::shared_ptr<topic_producer>& target, send_completion complete, error why) {
    refused_.add();
    if (target) {
      target->refuse(std::move(complete), std::move(why));
      return;
    }
    send_op::run_completion(std::move(complete), nullptr, std::unexpected(std::move(why)));
  }

  [[nodiscard]] static result<void> validate_(std::optional<std::string_view> key, const payload_arg& payload,
                                              const attributes& attrs) {
    if (payload.size() > max_payload_size) {
      return unexpected_error(errc::invalid_argument, "a payload of " + std::to_string(payload.size()) +
                                                          " bytes exceeds the broker's gRPC message limit (4 MiB)");
    }
    // Attributes and the key travel in the same gRPC message: together they must fit too (the
    // broker would refuse it with RESOURCE_EXHAUSTED, which is retried until the send timeout).
    std::size_t size = payload.size() + (key ? key->size() : 0);
    for (const auto& [name, value] : attrs) {
      size += name.size() + value.size();
    }
    if (size > max_payload_size) {
      return unexpected_error(errc::invalid_argument, "a message of " + std::to_string(size) +
                                                          " bytes (payload, attributes and routing key) exceeds the "
                                                          "broker's gRPC message limit (4 MiB)");
    }
    if (key && !is_valid_utf8(*key)) {
      return unexpected_error(errc::invalid_argument, "the routing key is not valid UTF-8");
    }
    for (const auto& [name, value] : attrs) {
      if (!is_valid_utf8(name) || !is_valid_utf8(value)) {
        return unexpected_error(errc::invalid_argument, "attribute '" + name + "' is not valid UTF-8");
      }
    }
    return {};
  }

  [[nodiscard]] std::vector<std::shared_ptr<topic_producer>> snapshot_() {
    std::lock_guard lock(mu_);
    return partitions_;
  }

  const std::shared_ptr<client_core> client_;
  const producer_options options_;
  const retry_schedule retry_;
  const std::shared_ptr<pending_limiter> limiter_;  // shared with the partitions, which release it
  counter refused_;                                 // sends refused before reaching a partition (refuse_)
  std::mutex mu_;
  std::vector<std::shared_ptr<topic_producer>> partitions_;
  std::vector<std::shared_ptr<topic_producer>> pending_;  // being created right now
  std::optional<resolved_schema> schema_;                 // stamped on every message
  std::condition_variable created_;                       // creating_ went false
  bool creating_ = false;                                 // a create() is in progress
  bool tracked_ = false;                                  // the client knows this producer
  bool closed_ = false;
};

}  // namespace detail

template <retry_policy RetryPolicy, message_router Router>
class basic_producer_builder;

template <retry_policy RetryPolicy = retry::exponential_backoff, message_router Router = route::round_robin>
class basic_producer {
 public:
  using retry_policy_type = RetryPolicy;
  using router_type = Router;
  using completion = std::function<void(result<message_id>)>;

  basic_producer(basic_producer&& other) noexcept
      : retry_(other.retry_), router_(other.router_), core_(std::move(other.core_)) {}
  // Closes the producer this one was, then takes `other`'s place.
  basic_producer& operator=(basic_producer&& other) noexcept {
    if (this != &other) {
      const auto replaced = std::exchange(core_, std::move(other.core_));
      retry_ = other.retry_;
      router_ = other.router_;
      if (replaced) {
        replaced->close();
      }
    }
    return *this;
  }
  basic_producer(const basic_producer&) = delete;
  basic_producer& operator=(const basic_producer&) = delete;
  ~basic_producer() {
    if (core_) {
      core_->close();
    }
  }

  // Connects: looks up each partition's broker and registers the producer there. Safe to call
  // again after a failure, and from several threads (they share one attempt); a no-op once it
  // succeeded.
  [[nodiscard]] result<void> create() {
    const auto core = core_;
    return core ? core->create() : moved_from_();
  }

  // Publishes and waits for the broker's answer. Inside a send or ack completion, the token
  // supplier or the logger it fails with errc::failed_precondition (use send_async there).
  [[nodiscard]] result<message_id> send(payload_arg payload, const attributes& attrs = {}) {
    if (auto ok = detail::check_may_wait("send()"); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    return send_async(std::move(payload), attrs).get();
  }
  // Publishes with a routing key: the key picks the partition (see the Router) and drives
  // KeyShared dispatch on the broker.
  [[nodiscard]] result<message_id> send_with_key(std::string_view key, payload_arg payload,
                                                 const attributes& attrs = {}) {
    if (auto ok = detail::check_may_wait("send_with_key()"); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    return send_with_key_async(key, std::move(payload), attrs).get();
  }

  // Queues the message; the future completes when the broker answered (in order per partition).
  [[nodiscard]] std::future<result<message_id>> send_async(payload_arg payload, const attributes& attrs = {}) {
    return to_future_([&](completion done) { dispatch_(std::nullopt, std::move(payload), attrs, std::move(done)); });
  }
  [[nodiscard]] std::future<result<message_id>> send_with_key_async(std::string_view key, payload_arg payload,
                                                                    const attributes& attrs = {}) {
    return to_future_([&](completion done) { dispatch_(key, std::move(payload), attrs, std::move(done)); });
  }
  // Callback form: `done` runs exactly once, on a client thread, with no lock of the library held;
  // it must not block (docs/reliability.md lists what it may call). An empty `done` is refused
  // (errc::invalid_argument) and nothing is sent; every other outcome goes to `done`.
  [[nodiscard]] result<void> send_async(payload_arg payload, const attributes& attrs, completion done) {
    if (!done) {
      return detail::empty_callback("send_async");
    }
    dispatch_(std::nullopt, std::move(payload), attrs, std::move(done));
    return {};
  }
  [[nodiscard]] result<void> send_with_key_async(std::string_view key, payload_arg payload, const attributes& attrs,
                                                 completion done) {
    if (!done) {
      return detail::empty_callback("send_with_key_async");
    }
    dispatch_(key, std::move(payload), attrs, std::move(done));
    return {};
  }

  // Waits until every send made before this call has completed (sends made meanwhile, by this or
  // another thread, are not waited for). Each send ends within its send timeout, so this does too.
  [[nodiscard]] result<void> flush() {
    const auto core = core_;
    return core ? core->flush(std::nullopt) : moved_from_();
  }
  // The same, but at most until `deadline`: errc::timeout if sends made before it are unfinished
  // then (they go on).
  [[nodiscard]] result<void> flush(std::chrono::steady_clock::time_point deadline) {
    const auto core = core_;
    return core ? core->flush(deadline) : moved_from_();
  }
  [[nodiscard]] result<void> flush(std::chrono::milliseconds timeout) { return flush(detail::deadline_after(timeout)); }

  // What this producer has done since it was made: counters, gauges and send latency, summed and
  // per partition (danube/stats.hpp, docs/producer.md). Thread-safe, callable from any callback;
  // cheap enough to poll. All zero on a moved-from producer.
  [[nodiscard]] producer_stats stats() const {
    const auto core = core_;
    return core ? core->stats() : producer_stats{};
  }

  // Fails queued sends with errc::closed and waits for those in flight. Idempotent; a no-op on a
  // moved-from producer. Inside a library callback it does not wait: the completions left run
  // after the callback returned.
  void close() {
    if (const auto core = core_) {
      core->close();
    }
  }

  [[nodiscard]] const producer_options& options() const noexcept {
    static const producer_options moved_from;
    return core_ ? core_->options() : moved_from;
  }
  // The schema id and version every message carries, once create() resolved them.
  [[nodiscard]] std::optional<resolved_schema> schema() const { return core_ ? core_->schema() : std::nullopt; }
  [[nodiscard]] RetryPolicy& retry_policy() noexcept { return *retry_; }
  [[nodiscard]] Router& router() noexcept { return *router_; }

 private:
  template <danube::retry_policy, danube::message_router>
  friend class basic_producer_builder;

  basic_producer(std::shared_ptr<detail::client_core> client, producer_options options, RetryPolicy retry,
                 Router router)
      : retry_(std::make_shared<RetryPolicy>(std::move(retry))),
        router_(std::make_shared<Router>(std::move(router))),
        core_(std::make_shared<detail::producer_core>(std::move(client), std::move(options),
                                                      [policy = retry_](const error& failure, unsigned attempt) {
                                                        return policy->next_delay(failure, attempt);
                                                      })) {}

  [[nodiscard]] static std::unexpected<error> moved_from_() {
    return unexpected_error(errc::closed, "the producer was moved from");
  }

  void dispatch_(std::optional<std::string_view> key, payload_arg payload, const attributes& attrs, completion done) {
    // Held for the call: a callback it runs inline may destroy this handle.
    const auto core = core_;
    if (!core) {
      const detail::callback_scope scope(detail::callback_kind::completion);  // as every send completion
      done(moved_from_());
      return;
    }
    const auto partitions = static_cast<std::uint32_t>(core->partition_count());
    const auto partition = partitions <= 1 ? 0U : router_->select_partition(key, partitions);
    core->send(partition, key, std::move(payload), attrs, std::move(done));
  }

  template <class Start>
  [[nodiscard]] static std::future<result<message_id>> to_future_(Start&& start) {
    auto promise = std::make_shared<std::promise<result<message_id>>>();
    auto future = promise->get_future();
    start([promise](result<message_id> outcome) { promise->set_value(std::move(outcome)); });
    return future;
  }

  // Shared with the core, which retries in the background, and kept by a moved-from handle.
  std::shared_ptr<RetryPolicy> retry_;
  std::shared_ptr<Router> router_;  // stable address: routers are called concurrently
  std::shared_ptr<detail::producer_core> core_;
};

using producer = basic_producer<>;

// Collects a producer's settings; build() checks them without any I/O.
template <retry_policy RetryPolicy = retry::exponential_backoff, message_router Router = route::round_robin>
class basic_producer_builder;

template <danube::retry_policy RetryPolicy, danube::message_router Router>
class basic_producer_builder {
 public:
  explicit basic_producer_builder(std::shared_ptr<detail::client_core> client) : client_(std::move(client)) {}

  basic_producer_builder& topic(std::string topic) {
    options_.topic = std::move(topic);
    return *this;
  }
  basic_producer_builder& name(std::string name) {
    options_.name = std::move(name);
    return *this;
  }
  // A partitioned topic of `count` partitions, `{topic}-part-{i}`; zero is an error from build().
  basic_producer_builder& partitions(std::uint32_t count) {
    options_.partitions = count;
    return *this;
  }
  // The same, checked at compile time.
  template <std::uint32_t Count>
  basic_producer_builder& partitions() {
    static_assert(Count > 0,
                  "danube: a partitioned producer needs at least one partition; use partitions<N>() with N >= 1, "
                  "or leave partitions unset for a non-partitioned topic");
    return partitions(Count);
  }
  basic_producer_builder& dispatch(dispatch_strategy strategy) {
    options_.dispatch = strategy;
    return *this;
  }
  basic_producer_builder& access(access_mode mode) {
    options_.access = mode;
    return *this;
  }
  // More than one in flight per partition is faster but a retried send can then overtake.
  basic_producer_builder& max_in_flight(std::size_t count) {
    options_.max_in_flight = count;
    return *this;
  }
  basic_producer_builder& max_pending_messages(std::size_t count,
                                               queue_full_policy when_full = queue_full_policy::block) {
    options_.max_pending_messages = count;
    options_.when_full = when_full;
    return *this;
  }
  basic_producer_builder& send_timeout(std::chrono::milliseconds timeout) {
    options_.send_timeout = timeout;
    return *this;
  }
  // Publishes with the registered schema `subject` (the topic is bound to it by its first
  // producer): its latest version at create(), unless schema_version() or schema_min_version().
  basic_producer_builder& schema(std::string subject) {
    schema_reference_().subject = std::move(subject);
    return *this;
  }
  basic_producer_builder& schema(schema_reference reference) {
    options_.schema = std::move(reference);
    return *this;
  }
  // Exactly this version of the subject (it must exist at create()).
  basic_producer_builder& schema_version(std::uint32_t version) {
    schema_reference_().pinned_version = version;
    return *this;
  }
  // The latest version of the subject, which must be at least this one at create().
  basic_producer_builder& schema_min_version(std::uint32_t version) {
    schema_reference_().min_version = version;
    return *this;
  }
  basic_producer_builder& retry_policy(RetryPolicy policy) {
    retry_ = std::move(policy);
    return *this;
  }
  basic_producer_builder& router(Router router) {
    router_ = std::move(router);
    return *this;
  }

  [[nodiscard]] result<basic_producer<RetryPolicy, Router>> build() const {
    if (!client_) {
      return unexpected_error(errc::closed, "the client was moved from");
    }
    if (options_.topic.empty()) {
      return unexpected_error(errc::invalid_argument, "a producer needs a topic: call topic(\"/namespace/name\")");
    }
    if (auto ok = validate_topic_name(options_.topic); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    if (options_.name.empty()) {
      return unexpected_error(errc::invalid_argument, "a producer needs a name: call name(\"...\")");
    }
    if (!is_valid_utf8(options_.name)) {
      return unexpected_error(errc::invalid_argument, "the producer name is not valid UTF-8");
    }
    if (options_.partitions && *options_.partitions == 0) {
      return unexpected_error(errc::invalid_argument,
                              "partitions(0): a partitioned topic needs at least one partition");
    }
    if (options_.partitions && *options_.partitions > max_partitions) {
      return unexpected_error(errc::invalid_argument, "partitions(" + std::to_string(*options_.partitions) +
                                                          "): a producer may have at most " +
                                                          std::to_string(max_partitions) + " partitions");
    }
    if (options_.max_in_flight == 0 || options_.max_pending_messages == 0) {
      return unexpected_error(errc::invalid_argument, "max_in_flight and max_pending_messages must be at least 1");
    }
    if (options_.send_timeout <= std::chrono::milliseconds::zero()) {
      return unexpected_error(errc::invalid_argument, "the send timeout must be positive");
    }
    if (auto ok = validate_retry_policy(retry_); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    if (auto ok = check_schema_(); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    return basic_producer<RetryPolicy, Router>(client_, options_, retry_, router_);
  }

 private:
  schema_reference& schema_reference_() {
    if (!options_.schema) {
      options_.schema.emplace();
    }
    return *options_.schema;
  }

  [[nodiscard]] result<void> check_schema_() const {
    if (!options_.schema) {
      return {};
    }
    const schema_reference& s = *options_.schema;
    if (s.subject.empty()) {
      return unexpected_error(errc::invalid_argument, "a schema version needs a schema subject: call schema(\"...\")");
    }
    if (!is_valid_utf8(s.subject)) {
      return unexpected_error(errc::invalid_argument, "the schema subject is not valid UTF-8");
    }
    if (s.pinned_version && s.min_version) {
      return unexpected_error(errc::invalid_argument, "schema_version() and schema_min_version() exclude each other");
    }
    if (s.pinned_version.value_or(1) == 0 || s.min_version.value_or(1) == 0) {
      return unexpected_error(errc::invalid_argument, "schema versions start at 1");
    }
    return {};
  }

  std::shared_ptr<detail::client_core> client_;
  producer_options options_;
  RetryPolicy retry_{};
  Router router_{};
};

}  // namespace danube
