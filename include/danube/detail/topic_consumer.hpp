// The consumer of one topic (one partition of a partitioned topic): its subscription on the
// owning broker, its delivery stream, acks to that broker, and its recovery. Everything after the
// first subscribe runs on gRPC's callback API and the client's scheduler: no thread of its own.
#pragma once

#include <danube/consumer_options.hpp>
#include <danube/detail/async_call.hpp>
#include <danube/detail/callback_scope.hpp>
#include <danube/detail/client_core.hpp>
#include <danube/detail/lookup.hpp>
#include <danube/detail/message_access.hpp>
#include <danube/detail/once_completion.hpp>
#include <danube/detail/proto.hpp>
#include <danube/detail/receive_queue.hpp>
#include <danube/detail/resolve_async.hpp>
#include <danube/detail/retry_loop.hpp>
#include <danube/detail/stats.hpp>
#include <danube/detail/stream_reader.hpp>
#include <danube/error.hpp>
#include <danube/message.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace danube::detail {

[[nodiscard]] constexpr wire::ConsumerRequest::SubscriptionType to_wire(subscription_type type) noexcept {
  switch (type) {
    case subscription_type::exclusive: return wire::ConsumerRequest::Exclusive;
    case subscription_type::shared: return wire::ConsumerRequest::Shared;
    case subscription_type::failover: return wire::ConsumerRequest::Failover;
    case subscription_type::key_shared: return wire::ConsumerRequest::KeyShared;
  }
  return wire::ConsumerRequest::Shared;
}

class topic_consumer : public std::enable_shared_from_this<topic_consumer> {
 public:
  using completion = std::function<void(result<void>)>;

  topic_consumer(std::shared_ptr<client_core> core, std::string topic, const consumer_options& options,
                 retry_schedule retry, std::shared_ptr<receive_queue> queue)
      : core_(std::move(core)),
        topic_(std::move(topic)),
        options_(options),
        retry_(std::move(retry)),
        queue_(std::move(queue)),
        lane_(core_->next_lane()) {}

  [[nodiscard]] const std::string& topic() const noexcept { return topic_; }
  [[nodiscard]] bool closed() {
    std::lock_guard lock(mu_);
    return closed_;
  }

  // This partition's counters (the queue depth is the consumer's, not a partition's).
  [[nodiscard]] consumer_stats stats() const {
    auto s = stats_->snapshot();
    s.name = options_.consumer_name;
    s.subscription = options_.subscription;
    s.topic = topic_;
    return s;
  }

  // Looks the topic up and subscribes on the broker that serves it, retrying retryable failures
  // per the policy; `done` runs exactly once (on a gRPC or scheduler thread; with errc::closed if
  // the client closes first, also while waiting to retry). Does not open the stream.
  void subscribe(completion done) { attempt_subscribe_(once_completion<void>(std::move(done)), 1); }

  // Opens the delivery stream. Call once, after subscribe() succeeded. A re-subscription under
  // way (a health-check CLOSE since) opens it when it succeeds instead: every stream follows its
  // own Subscribe (see open_stream_).
  void start() {
    bool open = false;
    {
      std::lock_guard lock(mu_);
      open = !closed_ && !started_ && !resubscribing_;
      started_ = true;
    }
    if (open) {
      open_stream_();
    }
  }

  void ack(const message& m, completion done) { ack(ack_request(m), std::move(done)); }

  // The Ack call for `m`, self-contained (it does not refer to the message).
  [[nodiscard]] static wire::AckRequest ack_request(const message& m) {
    wire::AckRequest request;
    request.set_request_id(message_access::request_id(m));
    message_access::fill(*request.mutable_msg_id(), m.id());
    request.set_subscription_name(message_access::subscription(m));
    return request;
  }

  // Every ack of this partition comes through here, one message per call (a batch too: ack_batch):
  // the one place acks are counted. After close() it fails with errc::closed without calling the
  // broker (an ack failure).
  void ack(wire::AckRequest request, completion done) {
    const auto key = consumer_counters::ack_key(request.msg_id().producer_id(), request.msg_id().topic_offset(),
                                                request.request_id());
    if (closed()) {
      stats_->on_ack_done(false, key);
      done(unexpected_error(errc::closed, "the consumer is closed"));
      return;
    }
    async_unary<wire::ConsumerService>(
        *core_, address_snapshot_(),
        static_cast<async_method<wire::ConsumerService, wire::AckRequest, wire::AckResponse>>(
            &wire::ConsumerService::Stub::async::Ack),
        std::move(request), [stats = stats_, key, done = std::move(done)](result<wire::AckResponse> r) {
          stats->on_ack_done(r.has_value(), key);
          done(r ? result<void>() : result<void>(std::unexpected(std::move(r).error())));
        });
  }

  void nack(const message& m, const nack_options& options, completion done) {
    wire::NackRequest request;
    request.set_request_id(message_access::request_id(m));
    message_access::fill(*request.mutable_msg_id(), m.id());
    request.set_subscription_name(message_access::subscription(m));
    if (options.delay.count() > 0) {
      request.set_delay_ms(static_cast<std::uint64_t>(options.delay.count()));
    }
    if (!options.reason.empty()) {
      request.set_reason(options.reason);
    }
    async_unary<wire::ConsumerService>(
        *core_, address_snapshot_(),
        static_cast<async_method<wire::ConsumerService, wire::NackRequest, wire::NackResponse>>(
            &wire::ConsumerService::Stub::async::Nack),
        std::move(request), [stats = stats_, done = std::move(done)](result<wire::NackResponse> r) {
          stats->on_nack_done(r.has_value());
          done(r ? result<void>() : result<void>(std::unexpected(std::move(r).error())));
        });
  }

  // Ends the stream, the health check and any pending repair; returns once gRPC is done with the
  // stream (bounded), or at once inside a library callback (which never waits for another thread).
  // A second close() waits for the first.
  void close() {
    std::shared_ptr<stream_reader> reader;
    std::shared_ptr<pending_prepare> stream_wait;
    scheduler::task_id watch = 0;
    scheduler::task_id repair = 0;
    {
      std::unique_lock lock(mu_);
      if (closed_) {
        if (!inside_callback()) {
          close_finished_.wait(lock, [&] { return close_done_; });
        }
        return;
      }
      closed_ = true;
      reader = std::move(reader_);
      stream_wait = std::exchange(stream_wait_, {}).lock();
      watch = std::exchange(health_watch_, 0);
      repair = std::exchange(repair_timer_, 0);
    }
    core_->unwatch_health(watch);
    core_->timers().discard(repair);
    if (stream_wait) {
      // Its continuation finds the consumer closed and does nothing.
      stream_wait->abandon(error(errc::closed, "the consumer was closed while its stream waited for a token"));
    }
    if (reader) {
      reader->close(inside_callback() ? std::chrono::milliseconds(0) : std::chrono::milliseconds(1000));
    }
    {
      std::lock_guard lock(mu_);
      close_done_ = true;
    }
    close_finished_.notify_all();
  }

 private:
  using clock = std::chrono::steady_clock;

  void attempt_subscribe_(completion done, unsigned attempt) {
    if (is_closed_()) {
      done(unexpected_error(errc::closed, "the consumer is closed"));
      return;
    }
    resolve_topic_async(
        *core_, topic_, address_snapshot_(),
        [self = shared_from_this(), done = std::move(done), attempt](result<broker_address> address) mutable {
          if (!address) {
            self->retry_subscribe_(std::move(done), attempt, std::move(address).error());
            return;
          }
          async_unary<wire::ConsumerService>(
              *self->core_, *address,
              static_cast<async_method<wire::ConsumerService, wire::ConsumerRequest, wire::ConsumerResponse>>(
                  &wire::ConsumerService::Stub::async::Subscribe),
              self->subscribe_request_(),
              [self, address = *address, done = std::move(done), attempt](result<wire::ConsumerResponse> r) mutable {
                if (!r) {
                  self->retry_subscribe_(std::move(done), attempt, std::move(r).error());
                  return;
                }
                self->adopt_(std::move(address), r->consumer_id());
                done({});
              });
        });
  }

  void retry_subscribe_(completion done, unsigned attempt, error failure) {
    retry_later(
        core_->timers(), retry_, std::move(failure), attempt, is_closed_(),
        [weak = weak_from_this(), done, attempt]() mutable {
          if (const auto self = weak.lock()) {
            self->attempt_subscribe_(std::move(done), attempt + 1);
          } else {
            done(unexpected_error(errc::closed, "the consumer is closed"));
          }
        },
        [done](error e) mutable { done(std::unexpected(std::move(e))); });
  }

  [[nodiscard]] wire::ConsumerRequest subscribe_request_() const {
    wire::ConsumerRequest request;
    request.set_request_id(core_->next_request_id());
    request.set_topic_name(topic_);
    request.set_consumer_name(options_.consumer_name);
    request.set_subscription(options_.subscription);
    request.set_subscription_type(to_wire(options_.type));
    for (const auto& filter : options_.key_filters) {
      request.add_key_filters(filter);
    }
    return request;
  }

  // Takes a fresh subscription (first or after recovery) and moves the health check to it.
  void adopt_(broker_address address, std::uint64_t consumer_id) {
    // After a re-subscription the first check waits one interval: a broker that keeps answering
    // CLOSE then costs one re-subscription per interval, not a storm of them.
    bool resubscribing = false;
    std::uint64_t watch_generation = 0;
    {
      std::lock_guard lock(mu_);
      resubscribing = resubscribing_;
      watch_generation = ++health_generation_;
    }
    // A check of an older watch can answer after this Subscribe (it asked before): its CLOSE is
    // about a consumer this Subscribe has taken over, so it is ignored.
    const auto watch = core_->watch_health(
        address, wire::HealthCheckRequest::Consumer, consumer_id,
        [weak = weak_from_this(), watch_generation] {
          if (const auto self = weak.lock()) {
            if (!self->health_watch_current_(watch_generation)) {
              return;
            }
            self->core_->log(log_level::warn, "health check: the broker answered CLOSE for consumer " +
                                                  self->options_.consumer_name + " on " + self->topic_);
            self->resubscribe_();
          }
        },
        resubscribing ? core_->settings().health_check_interval : std::chrono::milliseconds::zero());
    scheduler::task_id previous = 0;
    bool closed = false;
    {
      std::lock_guard lock(mu_);
      closed = closed_;
      if (!closed) {
        address_ = std::move(address);
        consumer_id_ = consumer_id;
        previous = std::exchange(health_watch_, watch);
        attach_due_ = true;
      }
    }
    core_->unwatch_health(closed ? watch : previous);
  }

  // Opens the stream for the consumer id the last Subscribe answered. Runs once per successful
  // Subscribe (from start() or a re-subscription), never twice for one: the broker treats a second
  // ReceiveMessages without a Subscribe in between as a plain replacement (docs/protocol.md §2.5),
  // so the messages it had written to the first stream would wait for their ack timeout while
  // later ones arrive on the second. And no Subscribe starts while this stream is opening
  // (`opening_`, see resubscribe_): a Subscribe that overtook the stream on the way to the broker
  // would make the stream that replacement.
  void open_stream_() {
    broker_address address;
    std::uint64_t id = 0;
    std::uint64_t generation = 0;
    {
      std::lock_guard lock(mu_);
      if (closed_ || stopped_) {
        return;
      }
      address = address_;
      id = consumer_id_;
      generation = ++generation_;
      opened_at_ = clock::now();
      opening_ = true;
    }
    auto ch = core_->channel(address.connect_url, lane_);  // this partition's connection
    if (!ch) {
      on_stream_end_(generation, grpc::Status(grpc::StatusCode::UNAVAILABLE, ch.error().message()));
      return;
    }
    auto reader = std::make_shared<stream_reader>(
        queue_, options_.subscription,
        [weak = weak_from_this(), generation](const grpc::Status& status) {
          if (const auto self = weak.lock()) {
            self->on_stream_end_(generation, status);
          }
        },
        stats_);
    reader->when_open([weak = weak_from_this(), generation](bool open) {
      if (const auto self = weak.lock()) {
        self->on_stream_open_(generation, open);
      }
    });
    // The stream has no deadline: it lives as long as the consumer. It opens once the call is
    // prepared: at once, or when a token exchange completes.
    auto& context = reader->context();
    auto waiting =
        core_->prepare_async(context, address, std::nullopt,
                             [weak = weak_from_this(), reader, channel = *ch, id, generation](result<void> prepared) {
                               if (const auto self = weak.lock()) {
                                 self->start_stream_(std::move(prepared), reader, channel, id, generation);
                               }
                             });
    if (!waiting) {
      return;
    }
    // Waiting for a token, with no deadline: close() ends the wait (what it holds -- the reader,
    // the queue, a channel -- must not outlive the consumer until the policy answers, if ever), and
    // so does a newer stream (the continuation of an older generation does nothing).
    std::shared_ptr<pending_prepare> replaced;
    bool closed = false;
    bool current = false;
    {
      std::lock_guard lock(mu_);
      closed = closed_;
      current = !closed && generation == generation_;
      if (current) {
        replaced = std::exchange(stream_wait_, waiting).lock();
      }
    }
    if (replaced) {
      replaced->abandon(error(errc::cancelled, "a newer stream replaced this one"));
    }
    if (closed) {
      waiting->abandon(error(errc::closed, "the consumer was closed while its stream waited for a token"));
    } else if (!current) {
      waiting->abandon(error(errc::cancelled, "a newer stream replaced this one"));
    }
  }

  void start_stream_(result<void> prepared, const std::shared_ptr<stream_reader>& reader,
                     const std::shared_ptr<grpc::Channel>& channel, std::uint64_t id, std::uint64_t generation) {
    if (!prepared) {
      {
        std::lock_guard lock(mu_);
        if (closed_ || generation != generation_) {
          return;  // a newer stream (or none) is what counts now
        }
      }
      opening_done_(generation);
      fail_(prepared.error());
      repair_after_(prepared.error());
      return;
    }
    std::shared_ptr<stream_reader> previous;
    {
      std::lock_guard lock(mu_);
      if (closed_ || generation != generation_) {
        return;
      }
      previous = std::exchange(reader_, reader);
    }
    if (previous) {
      previous->close(std::chrono::milliseconds(0));
    }
    const auto stub = wire::ConsumerService::NewStub(channel);
    reader->start(*stub, core_->next_request_id(), id);
  }

  // The broker answered the stream's call: open (attached to the consumer), or refused (its end
  // follows). A re-subscription asked for meanwhile starts now.
  void on_stream_open_(std::uint64_t generation, bool open) {
    bool again = false;
    {
      std::lock_guard lock(mu_);
      if (generation != generation_ || !opening_) {
        return;
      }
      opening_ = false;
      if (open) {
        attach_due_ = false;
      }
      again = std::exchange(resubscribe_wanted_, false) && !closed_;
    }
    if (again) {
      resubscribe_();
    }
  }

  // The stream of `generation` will not open (it could not start): a re-subscription asked for
  // meanwhile is the caller's to start (a repair follows every such failure).
  void opening_done_(std::uint64_t generation) {
    std::lock_guard lock(mu_);
    if (generation == generation_) {
      opening_ = false;
      resubscribe_wanted_ = false;
    }
  }

  [[nodiscard]] bool health_watch_current_(std::uint64_t watch_generation) {
    std::lock_guard lock(mu_);
    return !closed_ && !stopped_ && watch_generation == health_generation_;
  }

  // The stream ended without close(): the broker went away, took the consumer over, or forgot it.
  // Subscribe again (the same names give back the same consumer) and reopen; streams that keep
  // ending at once back off per the retry policy.
  void on_stream_end_(std::uint64_t generation, const grpc::Status& status) {
    bool quick = false;
    clock::time_point opened_at;
    {
      std::lock_guard lock(mu_);
      if (closed_ || generation != generation_) {
        return;
      }
      opened_at = opened_at_;
      opening_ = false;
      resubscribe_wanted_ = false;  // subscribing again is what follows here
      quick = clock::now() - opened_at_ < std::chrono::seconds(1);
      if (!quick) {
        backoff_.reset();  // it lived: a fresh start
      }
    }
    stats_->on_stream_end();
    core_->on_call_status(status, opened_at);  // (the policy's code: outside mu_)
    core_->log(log_level::info, "consumer " + options_.consumer_name + " on " + topic_ + ": stream ended (" +
                                    status.error_message() + "), subscribing again");
    if (quick) {
      repair_after_(status.ok() ? error(errc::unavailable, "the stream ended at once") : error_from_grpc(status));
    } else {
      resubscribe_();
    }
  }

  // Lookup + Subscribe + a new stream (once start() has run). Retryable failures keep being
  // retried (the application is told each time the policy gives up; told once while unread: see
  // receive_queue::notify), and so does NOT_FOUND: the topic existed a moment ago (a restarted
  // broker may not know it until its producer is back). Consecutive failures back off per the
  // retry policy. Any other failure stops this partition (stop_); the application is told.
  // While the current stream is still opening this waits for the broker's answer to it
  // (on_stream_open_; at most the call timeout): see open_stream_.
  void resubscribe_() {
    scheduler::task_id repair = 0;
    {
      std::lock_guard lock(mu_);
      if (closed_ || stopped_ || resubscribing_) {
        return;
      }
      // A broker that never answers a stream does not hold re-subscriptions back for longer than
      // a call may take (the health check asks again every interval).
      if (opening_ && std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - opened_at_) <
                          core_->settings().call_timeout) {
        resubscribe_wanted_ = true;
        return;
      }
      opening_ = false;
      resubscribe_wanted_ = false;
      resubscribing_ = true;
      ++generation_;  // the current stream's end is ours, not news
      repair = std::exchange(repair_timer_, 0);
    }
    core_->timers().discard(repair);
    subscribe([weak = weak_from_this()](result<void> outcome) {
      const auto self = weak.lock();
      if (!self) {
        return;
      }
      bool open = false;
      {
        std::lock_guard lock(self->mu_);
        self->resubscribing_ = false;
        open = self->started_;  // before start(), start() opens the stream
      }
      if (outcome) {
        self->stats_->on_resubscribed();
        if (open) {
          self->open_stream_();
        }
        return;
      }
      self->fail_(outcome.error());
      if (outcome.error().retryable() || outcome.error() == errc::not_found) {
        self->repair_after_(outcome.error());
      } else {
        self->stop_();
      }
    });
  }

  // This partition gives up (the application has been told). Its health check ends, and if its
  // last Subscribe left the broker-side consumer active with no stream attached since (a stream
  // refused, or ended before it opened), that consumer is released: the broker keeps dispatching
  // to an active consumer (Shared round-robin, the reliable window), so one nobody reads would
  // hold the subscription's messages until their ack timeout, again and again. There is no
  // unsubscribe call; a stream that opens and is cancelled marks the consumer inactive and hands
  // its unacknowledged messages to the others (docs/protocol.md §2.5). Best effort: a broker that
  // no longer knows the consumer refuses the stream, and that is the end of it.
  void stop_() {
    broker_address address;
    std::uint64_t id = 0;
    scheduler::task_id watch = 0;
    std::shared_ptr<stream_reader> previous;
    bool release = false;
    {
      std::lock_guard lock(mu_);
      if (closed_ || stopped_) {
        return;
      }
      stopped_ = true;
      ++generation_;  // ends of older streams are not news any more
      ++health_generation_;
      watch = std::exchange(health_watch_, 0);
      previous = std::move(reader_);
      release = std::exchange(attach_due_, false) && consumer_id_ != 0;
      address = address_;
      id = consumer_id_;
    }
    core_->unwatch_health(watch);
    if (previous) {
      previous->close(std::chrono::milliseconds(0));
    }
    if (!release) {
      return;
    }
    core_->log(log_level::info, "consumer " + options_.consumer_name + " on " + topic_ +
                                    ": stopped; releasing its consumer on the broker");
    // What the broker held for this consumer reaches the application like any other message; the
    // stream ends as soon as it is open.
    auto reader = std::make_shared<stream_reader>(queue_, options_.subscription, nullptr, stats_);
    auto ch = core_->channel(address.connect_url, lane_);
    if (!ch) {
      return;
    }
    reader->when_open([weak = std::weak_ptr<stream_reader>(reader)](bool /*open*/) {
      if (const auto self = weak.lock()) {
        self->close(std::chrono::milliseconds(0));  // inside a gRPC callback: never waits
      }
    });
    auto& context = reader->context();
    auto waiting = core_->prepare_async(context, address, std::nullopt,
                                        [weak = weak_from_this(), reader, channel = *ch, id](result<void> prepared) {
                                          const auto self = weak.lock();
                                          if (!self || !prepared) {
                                            return;
                                          }
                                          {
                                            std::lock_guard lock(self->mu_);
                                            if (self->closed_) {
                                              return;
                                            }
                                            self->reader_ = reader;  // close() ends it if it is still open then
                                          }
                                          const auto stub = wire::ConsumerService::NewStub(channel);
                                          reader->start(*stub, self->core_->next_request_id(), id);
                                        });
    if (!waiting) {
      return;
    }
    // Waiting for a token: close() ends the wait, as for a stream (open_stream_).
    std::shared_ptr<pending_prepare> replaced;
    bool closed = false;
    {
      std::lock_guard lock(mu_);
      closed = closed_;
      if (!closed) {
        replaced = std::exchange(stream_wait_, waiting).lock();
      }
    }
    if (replaced) {
      replaced->abandon(error(errc::cancelled, "the partition stopped"));
    }
    if (closed) {
      waiting->abandon(error(errc::closed, "the consumer was closed while its stream waited for a token"));
    }
  }

  // Subscribes again after the backoff `failure` earns; one pending repair per partition.
  void repair_after_(const error& failure) {
    unsigned attempt = 0;
    {
      std::lock_guard lock(mu_);
      if (closed_ || repair_timer_ != 0) {
        return;
      }
      attempt = backoff_.next_attempt();
    }
    const auto asked = retry_(failure, attempt);  // user code: no lock held
    std::lock_guard lock(mu_);
    if (closed_ || repair_timer_ != 0) {
      return;
    }
    // The scheduler's lock is a leaf (it never calls out while held): taking it under mu_ is safe.
    const auto generation = ++repair_generation_;
    repair_timer_ = core_->timers().schedule(backoff_.delay(asked), [weak = weak_from_this(), generation] {
      if (const auto self = weak.lock()) {
        {
          std::lock_guard again(self->mu_);
          if (self->repair_generation_ == generation) {
            self->repair_timer_ = 0;
          }
        }
        self->resubscribe_();
      }
    });
  }

  // Tells the application (through receive() or the listener's error callback): never silence.
  void fail_(const error& failure) {
    if (!is_closed_()) {
      queue_->notify(
          error(failure.code(), "consumer " + options_.consumer_name + " on " + topic_ + ": " + failure.message(),
                failure.grpc_status()),
          topic_);
    }
  }

  [[nodiscard]] bool is_closed_() {
    std::lock_guard lock(mu_);
    return closed_;
  }

  [[nodiscard]] broker_address address_snapshot_() {
    std::lock_guard lock(mu_);
    return address_;
  }

  const std::shared_ptr<client_core> core_;
  const std::string topic_;
  const consumer_options options_;
  const retry_schedule retry_;
  const std::shared_ptr<receive_queue> queue_;
  const std::size_t lane_;  // which of the client's connections to the broker carries the stream
  const std::shared_ptr<consumer_counters> stats_ = std::make_shared<consumer_counters>();
  std::mutex mu_;
  broker_address address_;
  std::uint64_t consumer_id_ = 0;
  std::shared_ptr<stream_reader> reader_;
  std::weak_ptr<pending_prepare> stream_wait_;  // the newest stream's token wait (expired: none)
  scheduler::task_id health_watch_ = 0;
  scheduler::task_id repair_timer_ = 0;  // the one pending re-subscription (0: none)
  std::uint64_t repair_generation_ = 0;  // which repair timer is current
  std::uint64_t generation_ = 0;         // which stream is current; older streams' ends are ignored
  clock::time_point opened_at_{};
  persistent_backoff backoff_;           // streams ending at once and failed re-subscriptions, in a row
  std::uint64_t health_generation_ = 0;  // which health watch is current; older ones' CLOSE is stale
  bool started_ = false;
  bool resubscribing_ = false;
  bool opening_ = false;             // the current stream's call has not been answered yet
  bool resubscribe_wanted_ = false;  // asked for while opening_: starts when the broker answers
  bool attach_due_ = false;          // the last Subscribe succeeded and no stream has opened since
  bool stopped_ = false;             // gave up for good (stop_)
  bool closed_ = false;
  bool close_done_ = false;  // the first close() has returned
  std::condition_variable close_finished_;
};

}  // namespace danube::detail
