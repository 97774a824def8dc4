// The soak's users of the library: long-lived clients (re-built when closed), lanes (producers
// that keep sending, in sync, future and callback form, plain and partitioned, reliable or not),
// consumer slots (every subscription type, by receive(), try_receive() and a listener; acks in
// every form, some nacks), short-lived clients and objects, and a churner that closes things from
// the outside while they are in use. Every library call goes through the watchdog.
#pragma once

#include "soak/context.hpp"
#include <danube/danube.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace soak {

// Closes `object` (a client, producer or consumer) under the close bound, then destroys it.
template <class T>
void close_and_drop(context& ctx, std::shared_ptr<T>& object, std::string what) {
  if (!object) {
    return;
  }
  (void)ctx.dog.call(what + ".close", ctx.lim.close(), [&] { object->close(); });
  // The destructor closes again (a no-op now); it is bounded as well.
  (void)ctx.dog.call(what + ".destroy", ctx.lim.close(), [&] { object.reset(); });
}

// A client with the soak's settings (context.hpp, limits); `name` labels its log lines, which are
// kept in the recent events printed on failure. nullptr if build() failed (it does no I/O, so that
// is counted and reported in the figures, not expected).
[[nodiscard]] inline std::shared_ptr<client_t> build_client(context& ctx, const std::string& url, std::string name) {
  auto built = ctx.dog.call("client.build", ctx.lim.build(), [&] {
    return client_t::builder()
        .service_url(url)
        .connect_timeout(ctx.lim.connect)
        .call_timeout(ctx.lim.call)
        .health_check_interval(ctx.lim.health)
        .logger([&ctx, name = std::move(name)](danube::log_level level, std::string_view text) {
          if (level != danube::log_level::debug) {
            ctx.findings.event(fmt::format("client {} {}: {}", name, danube::to_string(level), text));
          }
        })
        .build();
  });
  if (!built || !*built) {
    ctx.findings.count("client.build failed");
    return nullptr;
  }
  return std::make_shared<client_t>(std::move(**built));
}

// One client, re-built lazily after it was closed (by churn, or because its objects saw errc::closed).
class client_slot {
 public:
  client_slot(context& ctx, std::size_t index, std::string url) : ctx_(ctx), index_(index), url_(std::move(url)) {}

  [[nodiscard]] std::size_t index() const noexcept { return index_; }

  // The current client; built if there is none. nullptr if build() failed (it does no I/O, so
  // that is counted and reported in the figures, not expected).
  [[nodiscard]] std::shared_ptr<client_t> get() {
    const std::lock_guard lock(mu_);
    if (!client_) {
      client_ = build_client(ctx_, url_, fmt::format("{}.{}", index_, generation_ + 1));
      if (!client_) {
        return nullptr;
      }
      ++generation_;
      ctx_.findings.count("clients built");
    }
    return client_;
  }

  // `seen` failed with errc::closed: the next get() builds a fresh client.
  void retire(const std::shared_ptr<client_t>& seen) {
    std::shared_ptr<client_t> old;
    {
      const std::lock_guard lock(mu_);
      if (client_ == seen) {
        old = std::move(client_);
      }
    }
    close_and_drop(ctx_, old, "client");
  }

  // Churn: closes the current client while its producers and consumers are in use.
  void churn() {
    std::shared_ptr<client_t> current;
    {
      const std::lock_guard lock(mu_);
      current = std::move(client_);
    }
    if (current) {
      ctx_.findings.event(fmt::format("churn: close client {} (generation {})", index_, generation_));
      ctx_.findings.count("clients closed by churn");
      close_and_drop(ctx_, current, "client");
    }
  }

 private:
  context& ctx_;
  const std::size_t index_;
  const std::string url_;
  std::mutex mu_;
  std::shared_ptr<client_t> client_;
  std::uint64_t generation_ = 0;
};

enum class send_form : std::uint8_t { sync, future, callback };

struct lane_config {
  std::size_t id;  // ledger lane
  std::size_t client;
  std::string topic;
  std::uint32_t partitions = 0;  // 0: a plain topic
  bool reliable = false;
  bool keyed = false;
  send_form form = send_form::sync;
  std::size_t window = 1;  // outstanding future / callback sends
  std::size_t max_in_flight = 1;
  // The producer's queue bound: below the window, sends wait for room (block) or fail at once
  // with errc::queue_full (fail).
  std::size_t max_pending = 1000;
  danube::queue_full_policy when_full = danube::queue_full_policy::block;
};

[[nodiscard]] inline std::string_view to_string(send_form f) noexcept {
  switch (f) {
    case send_form::sync: return "sync";
    case send_form::future: return "future";
    case send_form::callback: return "callback";
  }
  return "?";
}

// One producer identity over time: it sends seq 0, 1, 2, ... and re-creates its producer
// whenever it was closed (by itself, the churner or its client).
class lane {
 public:
  lane(context& ctx, client_slot& slot, lane_config config)
      : ctx_(ctx), slot_(slot), config_(std::move(config)), rng_(ctx.rng_for(1000 + config_.id)) {}

  [[nodiscard]] const lane_config& config() const noexcept { return config_; }

  void start() {
    thread_.start([this] { run_(); });
  }
  void join() { thread_.join(); }

  // The churner: close this lane's producer from another thread while it sends.
  void close_from_outside() {
    close_from_another_thread(ctx_, current_(), fmt::format("producer (lane L{})", config_.id));
  }
  // The churner: flush this lane's producer from another thread while it sends.
  void flush_from_outside() {
    auto p = current_();
    if (p) {
      ctx_.findings.count("flushes from outside");
      (void)ctx_.dog.call(fmt::format("producer.flush (lane L{}, from another thread)", config_.id), ctx_.lim.flush(),
                          [&] { return p->flush(); });
    }
  }

 private:
  // What one producer incarnation has outstanding (callback sends), for the close() check.
  struct incarnation {
    std::atomic<std::int64_t> pending{0};
  };
  struct future_send {
    std::uint64_t seq;
    watchdog::token token;
    std::future<danube::result<danube::message_id>> outcome;
  };

  [[nodiscard]] std::shared_ptr<producer_t> current_() {
    const std::lock_guard lock(mu_);
    return producer_;
  }

  void run_() {
    const auto period =
        std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / ctx_.opts.rate));
    auto next = clock::now();
    std::uint64_t sends_until_churn = next_churn_();
    while (!ctx_.stop_lanes.load()) {
      if (!ensure_producer_()) {
        nap(random_ms(rng_, 50, 250), ctx_.stop_lanes);
        continue;
      }
      // A window of outstanding sends, paced at `rate`.
      harvest_(false);
      if (outstanding_() >= config_.window) {
        harvest_(true);
        continue;
      }
      const auto now = clock::now();
      if (now < next) {
        std::this_thread::sleep_for(std::min<clock::duration>(next - now, 20ms));
        continue;
      }
      next = std::max(next + period, now - 10 * period);
      send_one_();
      if (--sends_until_churn == 0) {
        sends_until_churn = next_churn_();
        maybe_flush_or_churn_();
      }
    }
    // Finish: every outstanding send completes, then the producer closes.
    if (auto p = current_(); p && config_.form != send_form::sync) {
      flush_checked_(p);
    }
    finish_outstanding_();
    drop_producer_("at the end");
  }

  // Waits for the outstanding sends, at most twice their bound: one that never completes is
  // reported by the watchdog and the ledger, and must not stall the soak.
  void finish_outstanding_() {
    const auto until = clock::now() + 2 * ctx_.lim.send();
    while (outstanding_() > 0 && clock::now() < until) {
      harvest_(true);
    }
    futures_.clear();  // abandoned: not ready within twice their bound
  }

  [[nodiscard]] std::uint64_t next_churn_() {
    return std::uniform_int_distribution<std::uint64_t>(static_cast<std::uint64_t>(ctx_.opts.rate * 2),
                                                        static_cast<std::uint64_t>(ctx_.opts.rate * 8) + 1)(rng_);
  }

  [[nodiscard]] bool ensure_producer_() {
    if (current_()) {
      return true;
    }
    auto client = slot_.get();
    if (!client) {
      return false;
    }
    const auto name = fmt::format("L{}-g{}", config_.id, ++generation_);
    auto built = ctx_.dog.call(fmt::format("producer.build (lane L{})", config_.id), ctx_.lim.build(), [&] {
      auto b = client->new_producer<producer_t>();
      b.topic(config_.topic)
          .name(name)
          .dispatch(config_.reliable ? danube::dispatch_strategy::reliable : danube::dispatch_strategy::non_reliable)
          .max_in_flight(config_.max_in_flight)
          .max_pending_messages(config_.max_pending, config_.when_full)
          .send_timeout(ctx_.lim.send_timeout)
          .retry_policy(soak_retry{ctx_.lim.retries, ctx_.lim.retry_base, ctx_.lim.retry_cap});
      if (config_.partitions > 0) {
        b.partitions(config_.partitions);
      }
      return b.build();
    });
    if (!built || !*built) {
      ctx_.findings.count("producer.build failed");
      return false;
    }
    auto p = std::make_shared<producer_t>(std::move(**built));
    auto created = ctx_.dog.call(fmt::format("producer.create (lane L{} {})", config_.id, name), ctx_.lim.create(),
                                 [&] { return p->create(); });
    if (!created || !*created) {
      const auto code = created ? created->error().code() : danube::errc::internal;
      ctx_.findings.count(fmt::format("producer.create failed: {}", danube::to_string(code)));
      close_and_drop(ctx_, p, "producer");
      if (code == danube::errc::closed) {
        slot_.retire(client);
      }
      return false;
    }
    ctx_.findings.count("producers created");
    {
      const std::lock_guard lock(mu_);
      producer_ = std::move(p);
      incarnation_ = std::make_shared<incarnation>();
      first_seq_ = ctx_.book.issued(config_.id);
    }
    return true;
  }

  // Closes the producer (from this thread): every callback send made on it has completed once
  // close() returns, every future send is ready.
  void drop_producer_(std::string_view why) {
    std::shared_ptr<producer_t> p;
    std::shared_ptr<incarnation> inc;
    {
      const std::lock_guard lock(mu_);
      p = std::move(producer_);
      inc = std::move(incarnation_);
    }
    if (!p) {
      return;
    }
    ctx_.findings.event(fmt::format("lane L{}: close producer ({})", config_.id, why));
    (void)ctx_.dog.call(fmt::format("producer.close (lane L{})", config_.id), ctx_.lim.close(), [&] { p->close(); });
    if (ctx_.saboteur.on && !ctx_.saboteur.delayed_close.exchange(true)) {
      inc->pending.fetch_add(1);  // self-test: one completion that close() did not wait for
      std::thread([inc] {
        std::this_thread::sleep_for(500ms);
        inc->pending.fetch_sub(1);
      }).detach();
    }
    if (const auto left = inc->pending.load(); left > 0) {
      ctx_.findings.add(
          violation::close_left_sends_pending,
          fmt::format("lane L{}: producer close() returned with {} callback sends not completed", config_.id, left));
    }
    for (const auto& f : futures_) {
      if (f.outcome.wait_for(0s) != std::future_status::ready) {
        ctx_.findings.add(violation::close_left_sends_pending,
                          fmt::format("lane L{}: producer close() returned before the future of seq {} was ready",
                                      config_.id, f.seq));
        break;
      }
    }
    (void)ctx_.dog.call(fmt::format("producer.destroy (lane L{})", config_.id), ctx_.lim.close(), [&] { p.reset(); });
    finish_outstanding_();
  }

  void maybe_flush_or_churn_() {
    auto p = current_();
    if (!p) {
      return;
    }
    if (config_.form != send_form::sync && chance(rng_, 0.5)) {
      flush_checked_(p);
    } else if (ctx_.opts.enabled("producer-churn")) {
      ctx_.findings.count("producers closed by their lane");
      drop_producer_("churn");
    }
  }

  // flush(): every send made before it has completed when it returns.
  void flush_checked_(const std::shared_ptr<producer_t>& p) {
    std::uint64_t from = 0;
    {
      const std::lock_guard lock(mu_);
      from = first_seq_;
    }
    if (ctx_.saboteur.on && config_.form == send_form::callback && !ctx_.saboteur.delayed_flush.exchange(true)) {
      before_flush_delay_ = true;  // self-test: the next completion is recorded late
      send_one_();
      std::this_thread::sleep_for(50ms);
    }
    const auto issued_before = ctx_.book.issued(config_.id);
    ctx_.findings.count("flushes");
    (void)ctx_.dog.call(fmt::format("producer.flush (lane L{})", config_.id), ctx_.lim.flush(),
                        [&] { return p->flush(); });
    std::vector<std::uint64_t> open;
    if (config_.form == send_form::callback) {
      open = ctx_.book.uncompleted(config_.id, from, issued_before);
    } else {
      for (const auto& f : futures_) {
        if (f.seq < issued_before && f.outcome.wait_for(0s) != std::future_status::ready) {
          open.push_back(f.seq);
        }
      }
    }
    if (!open.empty()) {
      ctx_.findings.add(violation::flush_returned_early,
                        fmt::format("lane L{}: flush() returned with {} earlier sends not completed (first seq {})",
                                    config_.id, open.size(), open.front()));
    }
  }

  [[nodiscard]] std::size_t outstanding_() const {
    if (config_.form == send_form::future) {
      return futures_.size();
    }
    if (config_.form == send_form::callback) {
      const std::lock_guard lock(mu_);
      return incarnation_ ? static_cast<std::size_t>(std::max<std::int64_t>(0, incarnation_->pending.load())) : 0;
    }
    return 0;
  }

  // Collects finished future sends, in order; `wait` blocks (in slices) for the oldest.
  void harvest_(bool wait) {
    if (config_.form == send_form::callback) {
      if (wait) {
        std::this_thread::sleep_for(1ms);
      }
      return;
    }
    while (!futures_.empty()) {
      auto& f = futures_.front();
      if (f.outcome.wait_for(wait ? 10ms : 0ms) != std::future_status::ready) {
        return;  // the watchdog reports it if it stays unready past its bound
      }
      wait = false;
      auto outcome = ctx_.dog.call("future.get", ctx_.lim.callback(), [&] { return f.outcome.get(); });
      ctx_.dog.end(f.token);
      if (outcome) {
        record_(f.seq, *outcome);
      }
      futures_.pop_front();
    }
  }

  void record_(std::uint64_t seq, const danube::result<danube::message_id>& outcome) {
    if (outcome) {
      ctx_.book.complete(config_.id, seq, outcome->topic, 0, false);
      return;
    }
    const auto code = outcome.error().code();
    ctx_.findings.count(fmt::format("send failed: {}", danube::to_string(code)));
    ctx_.book.complete(config_.id, seq, std::nullopt, static_cast<int>(code), code == danube::errc::closed);
    if (code == danube::errc::closed) {
      // Closed from outside (churner, client churn): re-create. Outstanding sends complete first.
      std::shared_ptr<producer_t> p;
      {
        const std::lock_guard lock(mu_);
        p = producer_;
      }
      if (p && config_.form == send_form::sync) {
        drop_producer_("it was closed");
      } else if (p) {
        closed_seen_ = true;
      }
    }
  }

  void send_one_() {
    auto p = current_();
    if (p && closed_seen_.exchange(false)) {
      drop_producer_("it was closed");
      return;
    }
    if (!p) {
      return;
    }
    const auto seq = ctx_.book.begin_send(config_.id);
    auto payload = payload_of(config_.id, seq);
    // The receivers check these against the payload.
    const danube::attributes attrs{{"lane", fmt::format("L{}", config_.id)}, {"seq", std::to_string(seq)}};
    const auto what = fmt::format("producer.send[{}] (lane L{} seq {})", to_string(config_.form), config_.id, seq);
    const auto key = key_of(seq);
    ctx_.findings.count("sends");
    switch (config_.form) {
      case send_form::sync: {
        auto outcome = ctx_.dog.call(what, ctx_.lim.send(), [&] {
          return config_.keyed ? p->send_with_key(key, std::move(payload), attrs) : p->send(std::move(payload), attrs);
        });
        if (outcome) {
          record_(seq, *outcome);
        }
        break;
      }
      case send_form::future: {
        const auto token = ctx_.dog.begin(what, ctx_.lim.send());
        auto f = ctx_.dog.call(what + " call", ctx_.lim.send(), [&] {
          return config_.keyed ? p->send_with_key_async(key, std::move(payload), attrs)
                               : p->send_async(std::move(payload), attrs);
        });
        if (f) {
          futures_.push_back({seq, token, std::move(*f)});
        } else {
          ctx_.dog.end(token);
        }
        break;
      }
      case send_form::callback: {
        std::shared_ptr<incarnation> inc;
        {
          const std::lock_guard lock(mu_);
          inc = incarnation_;
        }
        inc->pending.fetch_add(1);
        const auto token = ctx_.dog.begin(what, ctx_.lim.send());
        const bool late = std::exchange(before_flush_delay_, false);
        auto done = [this, seq, token, inc, late](danube::result<danube::message_id> outcome) {
          ctx_.dog.end(token);
          on_callback_(seq, std::move(outcome), inc, late);
        };
        auto accepted = ctx_.dog.call(what + " call", ctx_.lim.send(), [&] {
          return config_.keyed ? p->send_with_key_async(key, std::move(payload), attrs, std::move(done))
                               : p->send_async(std::move(payload), attrs, std::move(done));
        });
        if (accepted && !*accepted) {
          // Refused up front (only an empty callback is): the completion will not run.
          ctx_.findings.add(violation::send_not_completed,
                            fmt::format("{} refused: {}", what, accepted->error().message()));
        }
        break;
      }
    }
  }

  // A send completion (callback form): runs on a client thread; must not block.
  void on_callback_(std::uint64_t seq, danube::result<danube::message_id> outcome,
                    const std::shared_ptr<incarnation>& inc, bool late) {
    auto& s = ctx_.saboteur;
    if (s.on && seq >= 20 && !s.dropped_completion.exchange(true)) {
      inc->pending.fetch_sub(1);
      return;  // self-test: a completion the ledger never sees
    }
    if (late) {
      // self-test: recorded after flush() returned
      std::thread([this, seq, outcome = std::move(outcome), inc]() mutable {
        std::this_thread::sleep_for(300ms);
        finish_callback_(seq, outcome, inc);
      }).detach();
      return;
    }
    if (s.on && seq >= 30 && config_.partitions == 0 && !s.swapped_completion.exchange(true)) {
      // self-test: this completion is recorded after the next one
      const std::lock_guard lock(held_mu_);
      held_ = {seq, std::move(outcome)};
      return;
    }
    finish_callback_(seq, outcome, inc);
    std::optional<std::pair<std::uint64_t, danube::result<danube::message_id>>> held;
    {
      const std::lock_guard lock(held_mu_);
      held = std::exchange(held_, std::nullopt);
    }
    if (held) {
      finish_callback_(held->first, held->second, inc);
    }
    if (s.on && seq >= 40 && !s.doubled_completion.exchange(true)) {
      ctx_.book.complete(config_.id, seq, std::nullopt, 0, false);  // self-test: a second completion
    }
    if (ctx_.opts.enabled("reentrant") && config_.form == send_form::callback && chance(reentrant_rng_, 0.002)) {
      // Reentrancy: close the producer from inside its own completion.
      if (auto p = current_()) {
        ctx_.findings.count("producer closed inside its completion");
        (void)ctx_.dog.call(fmt::format("producer.close (lane L{}, inside a completion)", config_.id), ctx_.lim.close(),
                            [&] { p->close(); });
      }
    }
  }

  void finish_callback_(std::uint64_t seq, const danube::result<danube::message_id>& outcome,
                        const std::shared_ptr<incarnation>& inc) {
    if (outcome) {
      ctx_.book.complete(config_.id, seq, outcome->topic, 0, false);
    } else {
      const auto code = outcome.error().code();
      ctx_.findings.count(fmt::format("send failed: {}", danube::to_string(code)));
      ctx_.book.complete(config_.id, seq, std::nullopt, static_cast<int>(code), code == danube::errc::closed);
      if (code == danube::errc::closed) {
        closed_seen_ = true;
      }
    }
    inc->pending.fetch_sub(1);
  }

  context& ctx_;
  client_slot& slot_;
  const lane_config config_;
  std::mt19937_64 rng_;
  std::minstd_rand reentrant_rng_{42};  // used on completion threads, one at a time per producer
  mutable std::mutex mu_;
  std::shared_ptr<producer_t> producer_;
  std::shared_ptr<incarnation> incarnation_;
  std::uint64_t first_seq_ = 0;
  std::uint64_t generation_ = 0;
  std::deque<future_send> futures_;
  std::atomic<bool> closed_seen_{false};
  bool before_flush_delay_ = false;
  std::mutex held_mu_;
  std::optional<std::pair<std::uint64_t, danube::result<danube::message_id>>> held_;
  worker thread_;  // last: joined before the members it uses go
};

enum class receive_form : std::uint8_t { receive, try_receive, listener };
enum class ack_form : std::uint8_t { sync, future, callback };

struct consumer_config {
  std::size_t id;
  std::size_t sub;  // ledger subscription
  std::size_t client;
  std::string topic;
  std::string subscription;
  std::string name;
  danube::subscription_type type;
  bool reliable = false;
  receive_form receive = receive_form::receive;
  ack_form ack = ack_form::sync;
  std::size_t queue_capacity = 1000;
  double nack_rate = 0;
};

// One consumer name on one subscription over time: re-subscribes under the same name (a
// takeover) whenever its consumer was closed.
class consumer_slot {
 public:
  consumer_slot(context& ctx, client_slot& slot, consumer_config config)
      : ctx_(ctx), slot_(slot), config_(std::move(config)), rng_(ctx.rng_for(2000 + config_.id)) {}

  [[nodiscard]] const consumer_config& config() const noexcept { return config_; }

  // Subscribes (the first time, before any producer sends: a reliable subscription starts at the
  // latest message). Returns whether it succeeded.
  bool subscribe_now() { return ensure_consumer_(); }

  void start() {
    thread_.start([this] { run_(); });
  }
  void join() { thread_.join(); }

  void close_from_outside() { close_from_another_thread(ctx_, current_(), fmt::format("consumer ({})", config_.name)); }

 private:
  [[nodiscard]] std::shared_ptr<consumer_t> current_() {
    const std::lock_guard lock(mu_);
    return consumer_;
  }

  void run_() {
    auto churn_at = clock::now() + random_ms(rng_, 3000, 15000);
    while (!ctx_.stop_consumers.load()) {
      if (!ensure_consumer_()) {
        nap(random_ms(rng_, 50, 250), ctx_.stop_consumers);
        continue;
      }
      auto c = current_();
      if (!c) {
        continue;
      }
      if (config_.receive == receive_form::listener) {
        // The listener delivers; this thread only notices a closed consumer (try_receive answers
        // errc::closed then) and churns.
        nap(100ms, ctx_.stop_consumers);
        auto probe = ctx_.dog.call(fmt::format("consumer.try_receive ({}, probe)", config_.name), ctx_.lim.receive(0ms),
                                   [&] { return c->try_receive(); });
        if (probe && !*probe && probe->error().code() == danube::errc::closed) {
          drop_consumer_("it was closed");
        } else if (partition_stopped_.exchange(false)) {
          ctx_.findings.count("consumers re-created after a partition stopped");
          drop_consumer_("a partition stopped");
        }
      } else {
        receive_one_(c);
      }
      if (clock::now() >= churn_at && !ctx_.stop_churn.load()) {
        churn_at = clock::now() + random_ms(rng_, 3000, 15000);
        if (ctx_.opts.enabled("consumer-churn")) {
          ctx_.findings.count("consumers closed by their slot");
          drop_consumer_("churn");
          nap(random_ms(rng_, 0, 500), ctx_.stop_consumers);
        }
      }
    }
    drop_consumer_("at the end");
  }

  void receive_one_(const std::shared_ptr<consumer_t>& c) {
    std::optional<danube::result<danube::message>> m;
    if (config_.receive == receive_form::receive) {
      m = ctx_.dog.call(fmt::format("consumer.receive ({})", config_.name), ctx_.lim.receive(100ms),
                        [&] { return c->receive(100ms); });
    } else {
      m = ctx_.dog.call(fmt::format("consumer.try_receive ({})", config_.name), ctx_.lim.receive(0ms),
                        [&] { return c->try_receive(); });
      if (m && !*m && m->error().code() == danube::errc::timeout) {
        std::this_thread::sleep_for(5ms);
      }
    }
    if (!m) {
      return;
    }
    if (*m) {
      handle_(c, std::move(**m), false);
      return;
    }
    const auto code = (*m).error().code();
    if (code == danube::errc::timeout) {
      return;
    }
    ctx_.findings.count(fmt::format("receive reported: {}", danube::to_string(code)));
    ctx_.findings.event(fmt::format("consumer {}: receive reported {}", config_.name, (*m).error().message()));
    if (code == danube::errc::closed) {
      drop_consumer_("it was closed");
    } else if (stops_a_partition((*m).error())) {
      ctx_.findings.count("consumers re-created after a partition stopped");
      drop_consumer_("a partition stopped");
    }
  }

  // docs/consumer.md, "Recovery": a re-subscription that fails with an error neither retryable
  // nor NOT_FOUND stops that partition, and the application is told. What an application does
  // then: close the consumer and subscribe again (the same name: the same broker-side consumer,
  // whose buffered messages then flow).
  [[nodiscard]] static bool stops_a_partition(const danube::error& e) noexcept {
    return !e.retryable() && e.code() != danube::errc::not_found && e.code() != danube::errc::timeout &&
           e.code() != danube::errc::closed;
  }

  // One message: record it, then ack (or, for a few first arrivals on reliable topics, nack).
  void handle_(const std::shared_ptr<consumer_t>& c, danube::message m, bool in_listener) {
    ctx_.findings.count("messages received");
    auto& s = ctx_.saboteur;
    if (s.on && config_.type == danube::subscription_type::exclusive && config_.reliable) {
      const auto parsed = parse_payload(m.payload_string());
      if (parsed && parsed->second >= 25 && !s.dropped_arrival.exchange(true)) {
        (void)c->ack(m);  // self-test: a delivery the ledger never sees
        return;
      }
      if (parsed && parsed->second >= 35 && m.topic().find("-part-") == std::string::npos &&
          !s.reordered_arrival.exchange(true)) {
        held_ = std::move(m);  // self-test: recorded after the next message of its lane
        return;
      }
      if (!s.phantom_arrival.exchange(true)) {
        const auto lane = ctx_.book.subs()[config_.sub].lanes.front();  // self-test: a message never sent
        (void)ctx_.book.arrive(config_.sub, config_.id, fmt::format("L{}:{}:", lane, 1'000'000'000), m.topic());
      }
    }
    check_integrity_(m);
    const bool first = ctx_.book.arrive(config_.sub, config_.id, m.payload_string(), m.topic());
    const auto mine = parse_payload(m.payload_string());
    const auto theirs = held_ ? parse_payload(held_->payload_string()) : std::nullopt;
    if (mine && theirs && mine->first == theirs->first) {
      auto held = std::exchange(held_, std::nullopt);
      (void)ctx_.book.arrive(config_.sub, config_.id, held->payload_string(), held->topic());
      settle_(c, *held, false);
    }
    const bool nack = config_.reliable && first && ctx_.opts.enabled("nack") && config_.nack_rate > 0 &&
                      (in_listener ? chance(listener_rng_, config_.nack_rate) : chance(rng_, config_.nack_rate));
    settle_(c, m, nack);
  }

  // A lane's message arrives exactly as sent: payload, attributes, routing key.
  void check_integrity_(const danube::message& m) {
    if (ctx_.saboteur.on && !ctx_.saboteur.corrupted_arrival.exchange(true)) {
      // self-test: the attributes of another message
      check_integrity_(m.payload_string(), {{"lane", "L0"}, {"seq", "123456789"}}, m.routing_key());
    }
    check_integrity_(m.payload_string(), m.attributes(), m.routing_key());
  }
  void check_integrity_(std::string_view payload, const danube::attributes& attrs,
                        std::optional<std::string_view> routing_key) {
    const auto parsed = parse_payload(payload);
    if (!parsed || parsed->first >= ctx_.book.lanes().size()) {
      return;  // short-lived producers' messages; unknown lanes are the ledger's to report
    }
    const auto [lane, seq] = *parsed;
    std::string problem;
    const auto attribute = [&](const char* name) {
      const auto it = attrs.find(name);
      return it == attrs.end() ? std::string("(none)") : it->second;
    };
    if (payload != payload_of(lane, seq)) {
      problem = "payload";
    } else if (attribute("lane") != fmt::format("L{}", lane) || attribute("seq") != std::to_string(seq)) {
      problem = fmt::format("attributes lane={} seq={}", attribute("lane"), attribute("seq"));
    } else if (ctx_.book.lanes()[lane].keyed && routing_key != std::optional<std::string_view>(key_of(seq))) {
      problem = fmt::format("routing key {}", routing_key.value_or("(none)"));
    }
    if (!problem.empty()) {
      ctx_.findings.add(violation::corrupted_message,
                        fmt::format("{}: lane L{} seq {} arrived with a different {} than it was sent with",
                                    config_.name, lane, seq, problem));
    }
  }

  // A failed ack leaves the message unacknowledged: the broker sends it again only after a
  // reconnect or its ack timeout (30 s), and a KeyShared key waits that long. Like a careful
  // application, the soak tries a failed ack again a few times (from inside the completion for
  // the callback form: a reentrant call).
  static constexpr int settle_attempts = 4;

  [[nodiscard]] bool settled_or_final_(const danube::result<void>& r, const danube::message& m, bool nack,
                                       int attempt) {
    if (r) {
      return true;
    }
    const auto code = r.error().code();
    ctx_.findings.count(fmt::format("{} failed: {}", nack ? "nack" : "ack", danube::to_string(code)));
    ctx_.findings.event(fmt::format("{}: {} of {} failed (attempt {}): {}", config_.name, nack ? "nack" : "ack",
                                    m.payload_string().substr(0, m.payload_string().find(':', 1)), attempt,
                                    r.error().message()));
    return code == danube::errc::closed || code == danube::errc::invalid_argument || attempt >= settle_attempts;
  }

  void settle_(const std::shared_ptr<consumer_t>& c, const danube::message& m, bool nack, int attempt = 1) {
    const auto what = fmt::format("consumer.{} ({})", nack ? "nack" : "ack", config_.name);
    ctx_.findings.count(nack ? "nacks" : "acks");
    switch (config_.ack) {
      case ack_form::sync: {
        for (;; ++attempt) {
          auto r = ctx_.dog.call(what, ctx_.lim.ack(), [&] { return nack ? c->nack(m) : c->ack(m); });
          if (!r || settled_or_final_(*r, m, nack, attempt)) {
            break;
          }
          std::this_thread::sleep_for(50ms);
        }
        break;
      }
      case ack_form::future: {
        for (;; ++attempt) {
          auto f =
              ctx_.dog.call(what + " call", ctx_.lim.ack(), [&] { return nack ? c->nack_async(m) : c->ack_async(m); });
          if (!f) {
            break;
          }
          // Waited for at once: the bound covers the call and its completion.
          auto r = ctx_.dog.call(what, ctx_.lim.ack(), [&] { return f->get(); });
          if (!r || settled_or_final_(*r, m, nack, attempt)) {
            break;
          }
          std::this_thread::sleep_for(50ms);
        }
        break;
      }
      case ack_form::callback: {
        const auto token = ctx_.dog.begin(what + " completion", ctx_.lim.ack());
        auto count = std::make_shared<std::atomic<int>>(0);
        std::weak_ptr<consumer_t> weak = c;
        auto done = [this, token, count, weak, m, nack, attempt](danube::result<void> r) {
          if (count->fetch_add(1) > 0) {
            ctx_.findings.add(violation::send_completed_twice,
                              fmt::format("an ack completion of {} ran twice", config_.name));
          }
          ctx_.dog.end(token);
          if (!settled_or_final_(r, m, nack, attempt)) {
            if (const auto again = weak.lock()) {
              settle_(again, m, nack, attempt + 1);
            }
          }
        };
        auto accepted = ctx_.dog.call(what + " call", ctx_.lim.ack(), [&] {
          return nack ? c->nack_async(m, {}, std::move(done)) : c->ack_async(m, std::move(done));
        });
        if (accepted && !*accepted) {
          ctx_.findings.add(violation::send_not_completed,
                            fmt::format("{} refused: {}", what, accepted->error().message()));
        }
        break;
      }
    }
  }

  [[nodiscard]] bool ensure_consumer_() {
    if (current_()) {
      return true;
    }
    auto client = slot_.get();
    if (!client) {
      return false;
    }
    partition_stopped_.store(false);  // a report of the previous consumer's
    auto built = ctx_.dog.call(fmt::format("consumer.build ({})", config_.name), ctx_.lim.build(), [&] {
      return client->new_consumer<consumer_t>()
          .topic(config_.topic)
          .consumer_name(config_.name)
          .subscription(config_.subscription)
          .subscription_type(config_.type)
          .receive_queue_capacity(config_.queue_capacity)
          .retry_policy(soak_retry{ctx_.lim.retries, ctx_.lim.retry_base, ctx_.lim.retry_cap})
          .build();
    });
    if (!built || !*built) {
      ctx_.findings.count("consumer.build failed");
      return false;
    }
    auto c = std::make_shared<consumer_t>(std::move(**built));
    auto subscribed = ctx_.dog.call(fmt::format("consumer.subscribe ({})", config_.name), ctx_.lim.subscribe(),
                                    [&] { return c->subscribe(); });
    if (!subscribed || !*subscribed) {
      const auto code = subscribed ? subscribed->error().code() : danube::errc::internal;
      ctx_.findings.count(fmt::format("consumer.subscribe failed: {}", danube::to_string(code)));
      close_and_drop(ctx_, c, "consumer");
      if (code == danube::errc::closed) {
        slot_.retire(client);
      }
      return false;
    }
    if (config_.receive == receive_form::listener) {
      std::weak_ptr<consumer_t> weak = c;
      auto listening = ctx_.dog.call(fmt::format("consumer.on_message ({})", config_.name), ctx_.lim.build(), [&] {
        return c->on_message(
            [this, weak](danube::message m) {
              const auto token = ctx_.dog.begin(fmt::format("listener ({})", config_.name), ctx_.lim.callback());
              if (auto self = weak.lock()) {
                handle_(self, std::move(m), true);
                maybe_reenter_(self);
              }
              ctx_.dog.end(token);
            },
            [this](danube::error e) {
              ctx_.findings.count(fmt::format("listener error: {}", danube::to_string(e.code())));
              ctx_.findings.event(fmt::format("consumer {}: listener error {}", config_.name, e.message()));
              if (stops_a_partition(e)) {
                partition_stopped_.store(true);  // this slot's thread re-creates the consumer
              }
            });
      });
      if (!listening || !*listening) {
        ctx_.findings.count("consumer.on_message failed");
        close_and_drop(ctx_, c, "consumer");
        return false;
      }
    }
    ctx_.findings.count("consumers subscribed");
    ctx_.findings.event(
        fmt::format("consumer {}: subscribed to {} ({})", config_.name, config_.topic, config_.subscription));
    const std::lock_guard lock(mu_);
    consumer_ = std::move(c);
    return true;
  }

  // Reentrancy: from inside the listener, close the consumer now and then.
  void maybe_reenter_(const std::shared_ptr<consumer_t>& c) {
    if (ctx_.opts.enabled("reentrant") && chance(listener_rng_, 0.002)) {
      ctx_.findings.count("consumer closed inside its listener");
      (void)ctx_.dog.call(fmt::format("consumer.close ({}, inside its listener)", config_.name), ctx_.lim.close(),
                          [&] { c->close(); });
    }
  }

  void drop_consumer_(std::string_view why) {
    std::shared_ptr<consumer_t> c;
    {
      const std::lock_guard lock(mu_);
      c = std::move(consumer_);
    }
    if (c) {
      ctx_.findings.event(fmt::format("consumer {}: close ({})", config_.name, why));
      close_and_drop(ctx_, c, "consumer");
    }
  }

  context& ctx_;
  client_slot& slot_;
  const consumer_config config_;
  std::mt19937_64 rng_;
  std::minstd_rand listener_rng_{7};  // used on the listener thread, one call at a time
  std::mutex mu_;
  std::shared_ptr<consumer_t> consumer_;
  std::optional<danube::message> held_;         // self-test only
  std::atomic<bool> partition_stopped_{false};  // set by the listener's error callback
  worker thread_;
};

}  // namespace soak
