// The producer of one topic (one partition of a partitioned producer): its registration on the
// owning broker, its ordered send pipeline over gRPC's callback API (no thread of its own), and
// its recovery when the broker loses it.
//
// Every send stays queued until the broker acknowledged it or it failed for good, so recovery
// never loses a message; a resend after a lost answer may duplicate one (at-least-once). Every
// send ends by its deadline (the send timeout from the send() call): one timer per partition
// wakes the pipeline for the earliest deadline or backoff, also while recovery keeps failing.
#pragma once

#include <danube/detail/async_call.hpp>
#include <danube/detail/callback_scope.hpp>
#include <danube/detail/client_core.hpp>
#include <danube/detail/deadline.hpp>
#include <danube/detail/grpc_status.hpp>
#include <danube/detail/lookup.hpp>
#include <danube/detail/once_completion.hpp>
#include <danube/detail/pending_limiter.hpp>
#include <danube/detail/proto.hpp>
#include <danube/detail/resolve_async.hpp>
#include <danube/detail/retry_loop.hpp>
#include <danube/detail/schema_resolution.hpp>
#include <danube/detail/stats.hpp>
#include <danube/error.hpp>
#include <danube/message.hpp>
#include <danube/payload.hpp>
#include <danube/producer_options.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace danube::detail {

using send_completion = std::function<void(result<message_id>)>;

class topic_producer;

// Writes what the application gave into `request` (a new one, or a reused one whose buffers it
// keeps): a moved-in payload replaces the payload buffer (no copy), a viewed one is copied into it
// (exactly one copy, no allocation when the buffer is large enough).
inline void fill_send_request(wire::StreamMessage& request, payload_arg payload, std::optional<std::string_view> key,
                              const attributes& attrs, const std::optional<resolved_schema>& schema) {
  std::move(payload).release_into(*request.mutable_payload());
  request.set_publish_time(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count()));
  if (!attrs.empty()) {
    request.mutable_attributes()->insert(attrs.begin(), attrs.end());
  }
  if (key) {
    request.mutable_routing_key()->assign(*key);
  }
  if (schema) {
    request.set_schema_id(schema->schema_id);
    request.set_schema_version(schema->version);
  }
}

// One message on its way: the wire request plus what to do when the broker has answered. A
// topic_producer reuses its ops (make_op()): the request keeps the strings and sub-messages it
// already allocated, and the call context lives inside the op, so a send allocates nothing here.
struct send_op {
  enum class stage : std::uint8_t { waiting, in_flight, done };

  explicit send_op(std::shared_ptr<pending_limiter> slots = nullptr) : limiter(std::move(slots)) {}
  send_op(const send_op&) = delete;
  send_op& operator=(const send_op&) = delete;
  // A send dropped before its completion ran (nothing should drop one) still completes, once.
  ~send_op() { finish(unexpected_error(errc::closed, "the producer was closed")); }

  // Releases the send's pending slot, then runs the completion, marked as a callback that must
  // not block (marked here, for every send, rather than by wrapping each completion in another
  // std::function: that was an allocation per message); later calls do nothing.
  void finish(result<message_id> value) {
    if (complete) {
      run_completion(std::exchange(complete, nullptr), holds_slot ? limiter.get() : nullptr, std::move(value));
    }
  }

  // What finish() does, for a completion already taken out of its op (the op may be reused).
  static void run_completion(send_completion done, pending_limiter* slots, result<message_id> value) {
    if (slots != nullptr) {
      slots->release();
    }
    const callback_scope scope(callback_kind::completion);
    done(std::move(value));
  }

  // Makes a completed op ready for the next message: what the next one does not overwrite is
  // cleared; the request's buffers (payload, msg_id, name) stay for reuse.
  void reset_for_reuse() {
    complete = nullptr;
    outcome.reset();
    context.reset();
    owner.reset();
    state = stage::waiting;
    holds_slot = true;
    attempts = 0;
    sequence = 0;
    deadline = {};
    not_before = {};
    called = {};
    on_wire_before = false;
    prepared_at = {};
    request.clear_attributes();
    request.clear_routing_key();
    request.clear_schema_id();
    request.clear_schema_version();
    request.mutable_payload()->clear();
  }

  wire::StreamMessage request;
  wire::MessageResponse response;
  std::optional<grpc::ClientContext> context;  // one per attempt (a context serves one call)
  std::shared_ptr<topic_producer> owner;       // keeps the producer alive while a call is in flight
  std::shared_ptr<pending_limiter> limiter;    // whose slot this send holds until it completes
  send_completion complete;
  std::optional<result<message_id>> outcome;  // set once the send is done, successfully or not
  stage state = stage::waiting;
  bool holds_slot = true;      // false for a refusal (topic_producer::refuse): it took no pending slot
  unsigned attempts = 0;       // retries of retryable failures since the last recovery
  std::uint64_t sequence = 0;  // its place in this partition's queue, from 1
  std::chrono::steady_clock::time_point deadline;     // the send timeout, from the send() call
  std::chrono::steady_clock::time_point not_before;   // backoff before the next attempt
  std::chrono::steady_clock::time_point called;       // the send() call: its latency counts from here
  bool on_wire_before = false;                        // put on the wire before: a further attempt is a retry
  std::chrono::steady_clock::time_point prepared_at;  // when this attempt asked for its header
};

// Completed send_ops kept for reuse by one topic_producer: at most `max_ops`, and of their payload
// buffers only as many bytes as `payload_budget` (a larger buffer is freed), so an idle producer
// holds little memory whatever it sent. Thread-safe, with a lock of its own (a leaf).
class send_op_pool {
 public:
  static constexpr std::size_t default_payload_budget = 256 * 1024;

  explicit send_op_pool(std::size_t max_ops, std::size_t payload_budget = default_payload_budget)
      : max_ops_(max_ops), payload_budget_(payload_budget) {}

  // A kept op, or nullptr when none is.
  [[nodiscard]] std::shared_ptr<send_op> take() {
    std::lock_guard lock(mu_);
    if (ops_.empty()) {
      return nullptr;
    }
    auto op = std::move(ops_.back());
    ops_.pop_back();
    payload_bytes_ -= heap_bytes_(op->request.payload());
    return op;
  }

  // Keeps a completed op (its completion has run) unless the pool is full or someone else still
  // holds the op (close() cancelling it): only the last holder may reuse it.
  void give_back(std::shared_ptr<send_op> op) {
    if (!op || op.use_count() != 1) {
      return;
    }
    // Pairs with the release of the other holder's reference: what it did to the op (close()
    // cancelling its context) happens before the reset.
    std::atomic_thread_fence(std::memory_order_acquire);
    op->reset_for_reuse();
    std::lock_guard lock(mu_);
    if (ops_.size() >= max_ops_) {
      return;
    }
    const auto kept = heap_bytes_(op->request.payload());
    if (payload_bytes_ + kept > payload_budget_) {
      std::string().swap(*op->request.mutable_payload());  // now in the string itself: no heap bytes
    } else {
      payload_bytes_ += kept;
    }
    ops_.push_back(std::move(op));
  }

  [[nodiscard]] std::size_t size() {
    std::lock_guard lock(mu_);
    return ops_.size();
  }
  [[nodiscard]] std::size_t payload_bytes() {
    std::lock_guard lock(mu_);
    return payload_bytes_;
  }

 private:
  // What a string's buffer holds on the heap (none while it is in the string itself).
  [[nodiscard]] static std::size_t heap_bytes_(const std::string& s) noexcept {
    return s.capacity() > std::string().capacity() ? s.capacity() : 0;
  }

  const std::size_t max_ops_;
  const std::size_t payload_budget_;
  std::mutex mu_;
  std::vector<std::shared_ptr<send_op>> ops_;
  std::size_t payload_bytes_ = 0;  // the capacity of the kept ops' payload buffers
};

class topic_producer : public std::enable_shared_from_this<topic_producer> {
 public:
  using clock = std::chrono::steady_clock;

  // `limiter` is the producer's pending bound: each send holds one slot until it completes.
  topic_producer(std::shared_ptr<client_core> core, std::string topic, std::string name,
                 const producer_options& options, retry_schedule retry, std::shared_ptr<pending_limiter> limiter)
      : core_(std::move(core)),
        topic_(std::move(topic)),
        name_(std::move(name)),
        options_(options),
        retry_(std::move(retry)),
        limiter_(std::move(limiter)),
        lane_(core_->next_lane()) {}

  [[nodiscard]] const std::string& topic() const noexcept { return topic_; }

  // This partition's counters, with its pending and in-flight messages now. The counters are read
  // under mu_, which their writers hold: they agree with each other (pending is what was sent and
  // has no outcome yet), even while messages flow.
  [[nodiscard]] producer_stats stats() {
    producer_stats s;
    {
      std::lock_guard lock(mu_);
      s = stats_.counts();
      s.in_flight = in_flight_;
    }
    s.pending = s.messages_sent - s.messages_acked - s.messages_failed;
    s.send_latency = stats_.latency().summary();  // 273 buckets: read outside the lock
    s.name = name_;
    s.topic = topic_;
    return s;
  }
  [[nodiscard]] latency_counts latency() const noexcept { return stats_.latency(); }

  using completion = std::function<void(result<void>)>;

  // Looks the topic up and registers the producer on the broker that serves it (creating the
  // topic there if it is new), retrying retryable failures per the policy with a fresh lookup each
  // time. Runs on gRPC's callback API; `done` runs exactly once, on a gRPC or scheduler thread
  // (with errc::closed if the client closes first, also while waiting to retry).
  void create(completion done) { attempt_create_(once_completion<void>(std::move(done)), 1); }

  // An op to fill and send(), holding a pending slot already taken: a completed one of this
  // producer when one is kept, else a new one.
  [[nodiscard]] std::shared_ptr<send_op> make_op() {
    if (auto op = pool_.take()) {
      return op;
    }
    return std::make_shared<send_op>(limiter_);
  }

  // Queues one message whose `deadline` is set; `op->complete` runs exactly once, in queue order,
  // on a gRPC or scheduler thread, or on this one (a producer already closed fails it with
  // errc::closed, still after the sends before it).
  void send(std::shared_ptr<send_op> op) {
    bool start = false;
    bool closed = false;
    {
      std::lock_guard lock(mu_);
      op->sequence = ++queued_;
      closed = closed_;
      stats_.on_queued(op->request.payload().size());
      if (closed) {
        // Done at once, but completed in queue order, after the sends before it.
        op->outcome = unexpected_error(errc::closed, "the producer is closed");
        op->state = send_op::stage::done;
        stats_.on_done(false, op->request.payload().size(), {});
      } else {
        // With the window full, the next completion starts this send: nothing to do here.
        start = in_flight_ < options_.max_in_flight || !registered_;
      }
      ops_.push_back(std::move(op));
    }
    if (closed) {
      deliver_completed_();
    } else if (start) {
      start_ready_();
    }
  }

  // A send refused before it was queued (invalid, the producer closed, its pending queue full, no
  // room within its send timeout): it takes no pending slot, but its completion keeps its place in
  // this partition's order, after the sends queued before it -- on the thread that completes the
  // last of those, or here when none is unfinished. Memory stays bounded for a caller spinning on a
  // full queue: at most max_waiting_refusals_ wait per partition, and one more completes at once,
  // here.
  void refuse(send_completion complete, error why) {
    auto op = make_op();
    bool waits = false;
    {
      std::lock_guard lock(mu_);
      waits = refusals_waiting_ < max_waiting_refusals_;
      if (waits) {
        ++refusals_waiting_;
        op->sequence = ++queued_;
        op->holds_slot = false;
        op->complete = std::move(complete);
        op->outcome = std::unexpected(std::move(why));
        op->state = send_op::stage::done;
        ops_.push_back(std::move(op));
      }
    }
    if (waits) {
      deliver_completed_();
      return;
    }
    pool_.give_back(std::move(op));
    send_op::run_completion(std::move(complete), nullptr, std::unexpected(std::move(why)));
  }

  // The sequence number of the last send queued so far: what a flush() now waits for.
  [[nodiscard]] std::uint64_t flush_mark() {
    std::lock_guard lock(mu_);
    return queued_;
  }

  // Waits until the completions of every send up to `mark` have run; false if `deadline` came
  // first. Later sends are not waited for.
  [[nodiscard]] bool wait_completed(std::uint64_t mark, std::optional<clock::time_point> deadline) {
    std::unique_lock lock(mu_);
    const auto done = [&] { return completed_through_ >= mark; };
    if (!deadline) {
      idle_.wait(lock, done);
      return true;
    }
    return idle_.wait_until(lock, *deadline, done);
  }

  // Fails queued sends with errc::closed, cancels those in flight, and returns once every
  // completion has run (still in queue order). Inside a library callback it does not wait: the
  // completions left run after the callback returns (the thread running it may be the one that
  // delivers them).
  // A second close() (another thread, or the client closing) waits for the same.
  void close() {
    std::vector<std::shared_ptr<send_op>> to_cancel;
    std::vector<std::weak_ptr<pending_prepare>> waiting;
    scheduler::task_id watch = 0;
    scheduler::task_id wake = 0;
    bool first = false;
    {
      std::lock_guard lock(mu_);
      first = !std::exchange(closed_, true);
      if (first) {
        watch = std::exchange(health_watch_, 0);
        wake = std::exchange(wake_timer_, 0);
        waiting.swap(waiting_for_token_);
        for (const auto& op : ops_) {
          if (op->state == send_op::stage::waiting) {
            finish_locked_(*op, unexpected_error(errc::closed, "the producer was closed before the message was sent"));
          } else if (op->state == send_op::stage::in_flight) {
            to_cancel.push_back(op);
          }
        }
      }
    }
    core_->unwatch_health(watch);
    core_->timers().discard(wake);
    for (const auto& op : to_cancel) {
      op->context->TryCancel();
    }
    to_cancel.clear();
    for (const auto& w : waiting) {
      if (const auto pending = w.lock()) {
        pending->abandon(error(errc::closed, "the producer was closed while the message waited for a token"));
      }
    }
    if (first) {
      deliver_completed_();
    }
    if (inside_callback()) {
      return;
    }
    std::unique_lock lock(mu_);
    idle_.wait(lock, [&] { return ops_.empty() && !delivering_; });
  }

 private:
  [[nodiscard]] wire::ProducerRequest create_request_() const {
    wire::ProducerRequest request;
    request.set_request_id(core_->next_request_id());
    request.set_producer_name(name_);
    request.set_topic_name(topic_);
    request.set_producer_access_mode(options_.access == access_mode::exclusive ? wire::ProducerAccessMode::Exclusive
                                                                               : wire::ProducerAccessMode::Shared);
    request.set_dispatch_strategy(options_.dispatch == dispatch_strategy::reliable
                                      ? wire::DispatchStrategy::Reliable
                                      : wire::DispatchStrategy::NonReliable);
    if (options_.schema) {
      fill_schema_reference(*request.mutable_schema_ref(), *options_.schema);
    }
    return request;
  }

  // Takes a fresh registration (after create or recovery) and moves the health check to it.
  [[nodiscard]] result<void> adopt_(broker_address address, std::uint64_t producer_id) {
    auto ch = core_->channel(address.connect_url, lane_);  // this partition's connection, for every send
    if (!ch) {
      return std::unexpected(std::move(ch).error());
    }
    // After a re-creation the first check waits one interval: a broker that keeps answering CLOSE
    // then costs one re-creation per interval, not a storm of them.
    bool recovering = false;
    {
      std::lock_guard lock(mu_);
      recovering = recovering_;
    }
    const auto watch = core_->watch_health(
        address, wire::HealthCheckRequest::Producer, producer_id,
        [weak = weak_from_this()] {
          if (const auto self = weak.lock()) {
            self->core_->log(log_level::warn, "health check: the broker answered CLOSE for producer " + self->name_ +
                                                  " on " + self->topic_);
            self->recover_();
          }
        },
        recovering ? core_->settings().health_check_interval : std::chrono::milliseconds::zero());
    scheduler::task_id previous = 0;
    bool closed = false;
    {
      std::lock_guard lock(mu_);
      closed = closed_;
      if (!closed) {
        address_ = std::move(address);
        producer_id_ = producer_id;
        stub_ = wire::ProducerService::NewStub(*ch);
        registered_ = true;
        previous = std::exchange(health_watch_, watch);
      }
    }
    core_->unwatch_health(closed ? watch : previous);
    if (closed) {
      return unexpected_error(errc::closed, "the producer was closed during create()");
    }
    return {};
  }

  void attempt_create_(completion done, unsigned attempt) {
    if (is_closed_()) {
      done(unexpected_error(errc::closed, "the producer is closed"));
      return;
    }
    resolve_topic_async(
        *core_, topic_, last_known_address_(),
        [self = shared_from_this(), done = std::move(done), attempt](result<broker_address> address) mutable {
          if (!address) {
            self->retry_create_(std::move(done), attempt, std::move(address).error());
            return;
          }
          async_unary<wire::ProducerService>(
              *self->core_, *address,
              static_cast<async_method<wire::ProducerService, wire::ProducerRequest, wire::ProducerResponse>>(
                  &wire::ProducerService::Stub::async::CreateProducer),
              self->create_request_(),
              [self, address = *address, done = std::move(done),
               attempt](result<wire::ProducerResponse> created) mutable {
                if (!created) {
                  self->retry_create_(std::move(done), attempt, std::move(created).error());
                  return;
                }
                done(self->adopt_(std::move(address), created->producer_id()));
              });
        });
  }

  void retry_create_(completion done, unsigned attempt, error failure) {
    retry_later(
        core_->timers(), retry_, std::move(failure), attempt, is_closed_(),
        [weak = weak_from_this(), done, attempt]() mutable {
          if (const auto self = weak.lock()) {
            self->attempt_create_(std::move(done), attempt + 1);
          } else {
            done(unexpected_error(errc::closed, "the producer is closed"));
          }
        },
        [done](error e) mutable { done(std::unexpected(std::move(e))); });
  }

  [[nodiscard]] bool is_closed_() {
    std::lock_guard lock(mu_);
    return closed_;
  }

  // Where this partition was registered last (empty before its first registration).
  [[nodiscard]] broker_address last_known_address_() {
    std::lock_guard lock(mu_);
    return address_;
  }

  // The broker lost this producer (CLOSE, NOT_FOUND, retries exhausted): look the topic up again
  // and register again, without blocking any thread; queued sends wait (each at most until its
  // deadline) and then go out again in order. If that fails for good, the queued sends fail with
  // the error (never silently) and the next send starts over.
  void recover_() {
    {
      std::lock_guard lock(mu_);
      if (closed_ || recovering_) {
        return;
      }
      recovering_ = true;
      registered_ = false;
    }
    core_->log(log_level::info, "producer " + name_ + " on " + topic_ + ": looking the topic up again");
    create([weak = weak_from_this()](result<void> outcome) {
      const auto self = weak.lock();
      if (!self) {
        return;
      }
      if (outcome) {
        {
          std::lock_guard lock(self->mu_);
          self->recovering_ = false;
        }
        self->stats_.on_reconnected();
        self->core_->log(log_level::info, "producer " + self->name_ + " on " + self->topic_ + " recovered");
        self->start_ready_();
        return;
      }
      {
        std::lock_guard lock(self->mu_);
        self->recovering_ = false;
        for (const auto& op : self->ops_) {
          if (op->state == send_op::stage::waiting) {
            self->finish_locked_(*op, std::unexpected(outcome.error()));
          }
        }
      }
      if (outcome.error() != errc::closed) {
        self->core_->log(log_level::error, "producer " + self->name_ + " on " + self->topic_ +
                                               " could not recover: " + outcome.error().message());
      }
      self->deliver_completed_();
    });
  }

  // Starts waiting sends, in queue order, while the in-flight window has room, and fails those
  // past their deadline. A send backing off is a barrier: later sends do not overtake it. RPCs
  // start outside the lock. One thread at a time runs this loop; a call meanwhile (from another
  // thread, or from a completion or a failed start on this one) makes it go round again instead of
  // recursing, so a queue of n sends that all fail to start costs n iterations, not n frames.
  void start_ready_() {
    {
      std::lock_guard lock(mu_);
      if (starting_) {
        again_ = true;
        return;
      }
      starting_ = true;
    }
    // Only the thread in this loop touches starting_ops_ and starting_address_: their buffers are
    // reused from pass to pass (no allocation per message).
    auto& starting = starting_ops_;
    auto& address = starting_address_;
    for (;;) {
      starting.clear();  // each op in it stays queued (so alive) until its completion has run
      std::shared_ptr<wire::ProducerService::Stub> stub;
      bool expired = false;
      bool needs_recovery = false;
      {
        std::lock_guard lock(mu_);
        again_ = false;
        if (!closed_) {
          scan_locked_(starting, expired, needs_recovery);
          stub = stub_;
          address = address_;
        }
      }
      if (expired) {
        deliver_completed_();
      }
      if (needs_recovery) {
        recover_();
      }
      for (auto* op : starting) {
        start_send_(*op, stub, address);
      }
      std::lock_guard lock(mu_);
      if (!again_) {
        starting_ = false;
        return;
      }
    }
  }

  // Starts one send once its call is prepared: at once, or when a token exchange completes. Until
  // settle_ has run for it the op stays queued (ops_) and in flight, so neither delivery, the pool
  // nor close() can finish or reuse it while the continuation is pending (prepare_async runs the
  // continuation exactly once: answer, deadline or abandon()); op->owner keeps this producer alive
  // until then. The continuation captures only the op's address and the stub: a token at hand
  // runs it here, without allocating. A send that cannot start is settled through on_sent_: on this
  // thread (inside start_ready_'s loop) that only makes the loop go round again; later, on the
  // thread that ended the wait.
  void start_send_(send_op& op, const std::shared_ptr<wire::ProducerService::Stub>& stub,
                   const broker_address& address) {
    op.prepared_at = clock::now();
    auto waiting = core_->prepare_async(
        *op.context, address, attempt_timeout(op.deadline, clock::now()), [op = &op, stub](result<void> prepared) {
          if (!prepared) {
            const auto self = std::move(op->owner);
            self->on_sent_(*op, std::move(prepared).error());
            return;
          }
          // The callback needs only the op's address, which std::function stores without
          // allocating. After on_sent_ the op may already be reused.
          stub->async()->SendMessage(&*op->context, &op->request, &op->response, [op](const grpc::Status& status) {
            const auto self = std::move(op->owner);
            self->core_->on_call_status(status, op->prepared_at);
            self->on_sent_(*op, status.ok() ? std::nullopt : std::optional<error>(error_from_grpc(status)));
          });
        });
    if (!waiting) {
      return;
    }
    // Waiting for a token (the op may already be settled and reused: not touched from here on).
    // close() ends the wait rather than waiting for the exchange.
    bool closed = false;
    {
      std::lock_guard lock(mu_);
      closed = closed_;
      if (!closed) {
        // Ended waits are dropped once the list has doubled since the last sweep: O(1) per push.
        if (waiting_for_token_.size() >= sweep_waiting_at_) {
          std::erase_if(waiting_for_token_, [](const auto& w) { return w.expired(); });
          sweep_waiting_at_ = std::max<std::size_t>(16, 2 * waiting_for_token_.size());
        }
        waiting_for_token_.push_back(waiting);
      }
    }
    if (closed) {
      waiting->abandon(error(errc::closed, "the producer was closed while the message waited for a token"));
    }
  }

  // One pass over the queue (mu_ held): expires, collects what may start, arms the wake-up timer.
  void scan_locked_(std::vector<send_op*>& starting, bool& expired, bool& needs_recovery) {
    const auto now = clock::now();
    std::optional<clock::time_point> wake_at;
    // Every op before scan_from_ is in flight or done: the scan starts after them, so it costs
    // O(1) per call instead of O(in flight).
    for (auto i = scan_from_; i < ops_.size(); ++i) {
      const auto& op = ops_[i];
      if (op->state != send_op::stage::waiting) {
        if (i == scan_from_) {
          ++scan_from_;
        }
        continue;
      }
      if (now >= op->deadline) {
        finish_locked_(*op,
                       unexpected_error(errc::timeout, "the message was not acknowledged within the send timeout"));
        expired = true;
        if (i == scan_from_) {
          ++scan_from_;
        }
        continue;
      }
      if (!registered_ || recovering_) {
        // Waits for the recovery, but not past its deadline.
        needs_recovery = !recovering_;
        wake_at = op->deadline;
        break;
      }
      if (op->not_before > now) {
        wake_at = std::min(op->not_before, op->deadline);
        break;
      }
      if (in_flight_ >= options_.max_in_flight) {
        break;  // a completion starts the next one
      }
      stamp_(*op);
      op->state = send_op::stage::in_flight;
      op->owner = shared_from_this();
      ++in_flight_;
      if (std::exchange(op->on_wire_before, true)) {
        stats_.on_retried(op->request.payload().size());
      }
      if (i == scan_from_) {
        ++scan_from_;
      }
      starting.push_back(op.get());
    }
    if (wake_at) {
      arm_wake_locked_(*wake_at);
    }
  }

  // One timer per partition: kept if it fires soon enough, else replaced.
  void arm_wake_locked_(clock::time_point at) {
    if (wake_timer_ != 0 && wake_at_ <= at) {
      return;
    }
    // The scheduler's lock is a leaf (it never calls out while held): taking it under mu_ is safe.
    if (wake_timer_ != 0) {
      core_->timers().discard(wake_timer_);
    }
    const auto generation = ++wake_generation_;
    wake_at_ = at;
    wake_timer_ = core_->timers().schedule(std::chrono::ceil<std::chrono::milliseconds>(at - clock::now()),
                                           [weak = weak_from_this(), generation] {
                                             if (const auto self = weak.lock()) {
                                               {
                                                 std::lock_guard lock(self->mu_);
                                                 if (self->wake_generation_ == generation) {
                                                   self->wake_timer_ = 0;
                                                 }
                                               }
                                               self->start_ready_();
                                             }
                                           });
  }

  // Called with mu_ held: fills in what depends on the current registration.
  void stamp_(send_op& op) {
    op.context.reset();
    op.context.emplace();
    op.request.set_request_id(core_->next_request_id());
    auto& id = *op.request.mutable_msg_id();
    id.set_producer_id(producer_id_);
    id.set_topic_name(topic_);
    id.set_broker_addr(address_.broker_url);
    op.request.set_producer_name(name_);
  }

  // An answer from the broker.
  void on_sent_(send_op& op, std::optional<error> failure) {
    settle_(op, std::move(failure));
    start_ready_();
  }

  // An answer (or a failure to start): done, retried after a backoff, or held for recovery.
  void settle_(send_op& op, std::optional<error> failure) {
    // Unless close() cancelled it, a cancelled send was cancelled by the broker's side (a broker
    // shutting down cancels the calls in flight), as transient as UNAVAILABLE.
    std::optional<error> transient = failure;
    if (transient && transient->code() == errc::cancelled) {
      transient = error(errc::unavailable, "the broker cancelled the send (" + transient->message() + ")",
                        transient->grpc_status());
    }
    // The retry policy is user code: asked before taking the lock. Only the thread settling this
    // send touches its attempts.
    std::optional<std::chrono::milliseconds> backoff;
    if (transient && transient->retryable()) {
      backoff = retry_(*transient, ++op.attempts);
    }
    bool recover = false;
    {
      std::lock_guard lock(mu_);
      --in_flight_;
      if (!closed_) {
        failure = std::move(transient);
      }
      if (!failure) {
        // The request is not sent again: its strings move into the id (no copies).
        auto& id = *op.request.mutable_msg_id();
        finish_locked_(op, message_id{id.producer_id(), std::move(*id.mutable_topic_name()),
                                      std::move(*id.mutable_broker_addr()), id.topic_offset()});
      } else if (closed_) {
        finish_locked_(op,
                       failure->code() == errc::cancelled
                           ? unexpected_error(errc::closed, "the producer was closed while the message was in flight")
                           : result<message_id>(std::unexpected(std::move(*failure))));
      } else if (clock::now() >= op.deadline) {
        finish_locked_(op,
                       unexpected_error(errc::timeout, "the message was not acknowledged within the send timeout (" +
                                                           failure->message() + ")"));
      } else if (failure->code() == errc::not_found) {
        // "The producer with id … does not exist": the topic moved or the broker restarted.
        op.state = send_op::stage::waiting;
        scan_from_ = 0;
        recover = true;
      } else if (failure->retryable()) {
        op.state = send_op::stage::waiting;
        scan_from_ = 0;
        if (backoff) {
          op.not_before = deadline_after(*backoff);  // the policy may ask for milliseconds::max()
        } else {
          op.attempts = 0;
          recover = true;
        }
      } else {
        finish_locked_(op, std::unexpected(std::move(*failure)));
      }
    }
    deliver_completed_();
    if (recover) {
      recover_();
    }
  }

  // Every outcome of a queued send comes through here (mu_ held): the one place it is counted.
  void finish_locked_(send_op& op, result<message_id> outcome) {
    const auto ok = outcome.has_value();
    stats_.on_done(ok, op.request.payload().size(), ok ? clock::now() - op.called : clock::duration{});
    op.outcome = std::move(outcome);
    op.state = send_op::stage::done;
  }

  // Completes, in queue order, every send whose predecessors are done. One thread at a time
  // delivers, so completions never overtake each other even when answers arrive on several gRPC
  // threads at once.
  void deliver_completed_() {
    {
      std::lock_guard lock(mu_);
      if (delivering_) {
        return;  // the thread delivering now will see our work too
      }
      delivering_ = true;
    }
    // Only the delivering thread touches delivered_, so its capacity is reused without a lock.
    for (;;) {
      {
        std::lock_guard lock(mu_);
        while (!ops_.empty() && ops_.front()->state == send_op::stage::done) {
          if (!ops_.front()->holds_slot) {
            --refusals_waiting_;
          }
          delivered_.push_back(std::move(ops_.front()));
          ops_.pop_front();
          if (scan_from_ > 0) {
            --scan_from_;
          }
        }
        if (delivered_.empty()) {
          delivering_ = false;
          break;
        }
      }
      const auto last = delivered_.back()->sequence;
      for (auto& finished : delivered_) {
        // The op goes back to the pool before its completion runs: a sender that the completion
        // wakes (send() waiting on a future) finds it there instead of allocating a new one.
        auto done = std::exchange(finished->complete, nullptr);
        auto outcome = std::move(*finished->outcome);
        auto* slots = finished->holds_slot ? finished->limiter.get() : nullptr;
        pool_.give_back(std::move(finished));
        if (done) {
          send_op::run_completion(std::move(done), slots, std::move(outcome));
        }
      }
      delivered_.clear();  // the ops not kept go outside the lock
      {
        std::lock_guard lock(mu_);
        completed_through_ = last;
      }
      idle_.notify_all();  // flush() waits for completed_through_
    }
    idle_.notify_all();  // close() waits for !delivering_
  }

  const std::shared_ptr<client_core> core_;
  const std::string topic_;
  const std::string name_;
  const producer_options options_;
  const retry_schedule retry_;
  const std::shared_ptr<pending_limiter> limiter_;  // shared with the producer, which takes the slots
  const std::size_t lane_;                          // which of the client's connections to the broker carries the sends
  producer_counters stats_;                         // on_queued / on_retried / on_done with mu_ held

  std::mutex mu_;
  std::condition_variable idle_;
  broker_address address_;
  std::uint64_t producer_id_ = 0;
  std::shared_ptr<wire::ProducerService::Stub> stub_;
  scheduler::task_id health_watch_ = 0;
  scheduler::task_id wake_timer_ = 0;                // the one pending wake-up of this partition (0: none)
  clock::time_point wake_at_{};                      // when it fires
  std::uint64_t wake_generation_ = 0;                // which wake-up is current
  std::deque<std::shared_ptr<send_op>> ops_;         // in submission order
  std::size_t scan_from_ = 0;                        // ops_[0, scan_from_) are in flight or done
  std::vector<std::shared_ptr<send_op>> delivered_;  // the delivering thread's batch
  std::uint64_t queued_ = 0;                         // sequence of the last op queued
  std::uint64_t completed_through_ = 0;              // every op up to this sequence has completed
  std::size_t refusals_waiting_ = 0;                 // refuse()d sends in ops_, not yet delivered
  // Their bound: as many as the pending queue holds, and at least 1024 (a small queue refuses often).
  const std::size_t max_waiting_refusals_ = std::max<std::size_t>(options_.max_pending_messages, 1024);
  std::size_t in_flight_ = 0;
  bool registered_ = false;
  bool recovering_ = false;
  bool delivering_ = false;
  bool starting_ = false;               // a thread is in start_ready_'s loop
  std::vector<send_op*> starting_ops_;  // that thread's: the sends it starts in this pass
  broker_address starting_address_;     // that thread's: where they go (assigned: no new buffers)
  bool again_ = false;                  // ... and must go round once more
  bool closed_ = false;
  // Completed ops for make_op(), with a lock of their own: filling a request never waits for mu_.
  send_op_pool pool_{std::min<std::size_t>(options_.max_pending_messages, 64)};
  // Sends whose call waits for a token: close() abandons the wait.
  std::vector<std::weak_ptr<pending_prepare>> waiting_for_token_;
  std::size_t sweep_waiting_at_ = 16;  // its size at which ended waits are dropped next
};

}  // namespace danube::detail
