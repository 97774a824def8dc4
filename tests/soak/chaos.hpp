// The broker side of the soak: one thread that, at random intervals, restarts or stops brokers of
// the embedded cluster, makes them answer CLOSE, moves topics, and injects failures, delays and
// hangs into single RPCs; and undoes the timed ones later. It is the only thread that touches the
// cluster once the run has started (restart() must not race other calls on a broker). Every
// broker restart, stop and topic move is recorded in the ledger as a disruption of the
// partitions it affected: the embedded broker forgets their reliable messages and subscriptions.
#pragma once

#include "soak/context.hpp"
#include <danube/testing/embedded_cluster.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <grpcpp/support/status.h>

namespace soak {

namespace testing = danube::testing;

class chaos {
 public:
  chaos(context& ctx, testing::embedded_cluster& cluster, std::vector<std::string> partitions)
      : ctx_(ctx),
        cluster_(cluster),
        partitions_(std::move(partitions)),
        rng_(ctx.rng_for(1)),
        stopped_(cluster.size(), false) {}

  void start() {
    thread_.start([this] { run_(); });
  }
  void join() { thread_.join(); }

  // After join(): every fault undone, every broker running.
  void calm() {
    for (auto& [when, undo] : pending_) {
      undo();
    }
    pending_.clear();
    for (std::size_t i = 0; i < cluster_.size(); ++i) {
      if (stopped_[i]) {
        restart_stopped_(i);
      }
      cluster_.broker(i).clear_faults();
    }
  }

 private:
  using action = std::function<void()>;

  void run_() {
    struct choice {
      std::string_view name;
      int weight;
      void (chaos::*act)();
    };
    const std::vector<choice> all = {
        {"restart", 2, &chaos::restart_},   {"stop", 1, &chaos::stop_},
        {"close", 2, &chaos::close_storm_}, {"move", 2, &chaos::move_},
        {"fail", 4, &chaos::fail_},         {"delay", 2, &chaos::delay_},
        {"hang", 1, &chaos::hang_},         {"lookup-failed", 1, &chaos::lookup_failed_},
    };
    // Phases of 10 s alternate: "lossy" with every enabled fault, "lossless" without those that
    // make the test broker forget reliable messages (restart, stop, move). Messages sent in a
    // lossless phase are excused from nothing, so at-least-once is checked strictly for them
    // (docs/reliability.md, "Chaos soak").
    const auto loses_state = [](std::string_view name) {
      return name == "restart" || name == "stop" || name == "move";
    };
    std::vector<choice> lossy;
    std::vector<choice> lossless;
    for (const auto& c : all) {
      if (ctx_.opts.enabled(c.name)) {
        lossy.push_back(c);
        if (!loses_state(c.name)) {
          lossless.push_back(c);
        }
      }
    }
    const auto distribution = [](const std::vector<choice>& from) {
      std::vector<int> weights;
      for (const auto& c : from) {
        weights.push_back(c.weight);
      }
      return std::discrete_distribution<std::size_t>(weights.begin(), weights.end());
    };
    auto pick_lossy = distribution(lossy);
    auto pick_lossless = distribution(lossless);
    const auto started = clock::now();
    bool was_lossy = true;
    while (!ctx_.stop_chaos.load()) {
      nap(random_ms(rng_, 100, 700), ctx_.stop_chaos);
      if (ctx_.stop_chaos.load()) {
        break;
      }
      run_due_();
      const bool is_lossy = (clock::now() - started) / phase_length % 2 == 0;
      if (is_lossy != was_lossy) {
        was_lossy = is_lossy;
        ctx_.findings.event(is_lossy ? "chaos: lossy phase (every fault)"
                                     : "chaos: lossless phase (no restart, stop or move)");
        if (!is_lossy) {
          restart_all_stopped_();
        }
      }
      auto& from = is_lossy ? lossy : lossless;
      if (from.empty()) {
        continue;
      }
      const auto& c = from[is_lossy ? pick_lossy(rng_) : pick_lossless(rng_)];
      ctx_.findings.count(fmt::format("fault: {}", c.name));
      (this->*c.act)();
    }
  }

  static constexpr auto phase_length = std::chrono::seconds(10);

  void restart_all_stopped_() {
    for (std::size_t i = 0; i < cluster_.size(); ++i) {
      restart_stopped_(i);
    }
  }

  // Timed undo actions whose time has come (restarting stopped brokers, clearing delays, ...).
  void run_due_() {
    const auto now = clock::now();
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->first <= now) {
        auto undo = std::move(it->second);
        it = pending_.erase(it);
        undo();
      } else {
        ++it;
      }
    }
  }
  void later(milliseconds d, action undo) { pending_.emplace_back(clock::now() + d, std::move(undo)); }

  [[nodiscard]] std::optional<std::size_t> running_broker_() {
    std::vector<std::size_t> running;
    for (std::size_t i = 0; i < cluster_.size(); ++i) {
      if (!stopped_[i]) {
        running.push_back(i);
      }
    }
    if (running.empty()) {
      return std::nullopt;
    }
    return running[std::uniform_int_distribution<std::size_t>(0, running.size() - 1)(rng_)];
  }

  [[nodiscard]] std::vector<std::string> owned_by_(std::size_t broker) const {
    std::vector<std::string> out;
    for (const auto& p : partitions_) {
      if (cluster_.owner(p) == broker) {
        out.push_back(p);
      }
    }
    return out;
  }

  void disrupted_(const std::vector<std::string>& topics, millis begin) {
    const auto end = ctx_.findings.millis_since_start();
    for (const auto& t : topics) {
      ctx_.book.disruption(t, begin, end);
    }
  }

  // Restarts until it binds its port again (another process may hold it for a moment).
  bool start_again_(std::size_t i) {
    for (int attempt = 0; attempt < 50; ++attempt) {
      if (auto ok = cluster_.restart_broker(i); ok) {
        return true;
      } else if (attempt == 49) {
        ctx_.findings.event(fmt::format("broker {} could not restart: {}", i, ok.error().message()));
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  void restart_() {
    const auto i = running_broker_();
    if (!i) {
      return;
    }
    const auto owned = owned_by_(*i);
    const auto begin = ctx_.findings.millis_since_start();
    ctx_.findings.event(fmt::format("fault: restart broker {} ({} partitions)", *i, owned.size()));
    start_again_(*i);
    disrupted_(owned, begin);
  }

  void stop_() {
    std::size_t stopped = 0;
    for (const bool s : stopped_) {
      stopped += s ? 1 : 0;
    }
    if (stopped + 1 >= cluster_.size()) {
      return;  // at least one broker keeps running
    }
    const auto i = running_broker_();
    if (!i) {
      return;
    }
    const auto owned = owned_by_(*i);
    const auto begin = ctx_.findings.millis_since_start();
    const auto down = random_ms(rng_, 100, 1500);
    ctx_.findings.event(fmt::format("fault: stop broker {} for {} ms ({} partitions)", *i, down.count(), owned.size()));
    cluster_.stop_broker(*i);
    stopped_[*i] = true;
    stop_began_[*i] = {begin, owned};
    later(down, [this, i = *i] { restart_stopped_(i); });
  }

  void restart_stopped_(std::size_t i) {
    if (!stopped_[i]) {
      return;
    }
    ctx_.findings.event(fmt::format("broker {} starts again", i));
    start_again_(i);
    stopped_[i] = false;
    const auto& [begin, owned] = stop_began_[i];
    disrupted_(owned, begin);
  }

  void close_storm_() {
    const auto i = running_broker_();
    if (!i) {
      return;
    }
    const auto d = random_ms(rng_, 100, 1000);
    ctx_.findings.event(fmt::format("fault: broker {} answers CLOSE to every health check for {} ms", *i, d.count()));
    cluster_.broker(*i).answer_close_for_all(true);
    later(d, [this, i = *i] { cluster_.broker(i).answer_close_for_all(false); });
  }

  void move_() {
    if (partitions_.empty()) {
      return;
    }
    const auto& topic = partitions_[std::uniform_int_distribution<std::size_t>(0, partitions_.size() - 1)(rng_)];
    const auto from = cluster_.owner(topic);
    const auto to = running_broker_();
    if (!from || !to || *from == *to || stopped_[*from]) {
      return;
    }
    const auto begin = ctx_.findings.millis_since_start();
    ctx_.findings.event(fmt::format("fault: move {} from broker {} to {}", topic, *from, *to));
    if (auto moved = cluster_.move_topic(topic, *to); !moved) {
      ctx_.findings.event(fmt::format("move failed: {}", moved.error().message()));
      return;
    }
    disrupted_({topic}, begin);
  }

  [[nodiscard]] testing::rpc random_method_() {
    static constexpr testing::rpc methods[] = {
        testing::rpc::create_producer,
        testing::rpc::send_message,
        testing::rpc::subscribe,
        testing::rpc::receive_messages,
        testing::rpc::ack,
        testing::rpc::nack,
        testing::rpc::topic_lookup,
        testing::rpc::topic_partitions,
        testing::rpc::health_check,
    };
    return methods[std::uniform_int_distribution<std::size_t>(0, std::size(methods) - 1)(rng_)];
  }

  void fail_() {
    const auto i = running_broker_();
    if (!i) {
      return;
    }
    const auto method = random_method_();
    const auto n = std::uniform_int_distribution<std::size_t>(1, 5)(rng_);
    // Mostly transient; sometimes a code the client must not retry (the sends fail, once).
    static constexpr grpc::StatusCode codes[] = {grpc::StatusCode::UNAVAILABLE,
                                                 grpc::StatusCode::UNAVAILABLE,
                                                 grpc::StatusCode::UNAVAILABLE,
                                                 grpc::StatusCode::DEADLINE_EXCEEDED,
                                                 grpc::StatusCode::RESOURCE_EXHAUSTED,
                                                 grpc::StatusCode::INTERNAL,
                                                 grpc::StatusCode::ABORTED};
    const auto code = codes[std::uniform_int_distribution<std::size_t>(0, std::size(codes) - 1)(rng_)];
    ctx_.findings.event(fmt::format("fault: broker {} fails the next {} {} with status {}", *i, n,
                                    testing::to_string(method), static_cast<int>(code)));
    cluster_.broker(*i).fail_next(method, n, code, "injected by the soak");
  }

  void delay_() {
    const auto i = running_broker_();
    if (!i) {
      return;
    }
    const auto method = random_method_();
    const auto d = random_ms(rng_, 20, 1500);
    const auto for_how_long = random_ms(rng_, 200, 3000);
    ctx_.findings.event(fmt::format("fault: broker {} delays answers of {} by {} ms for {} ms", *i,
                                    testing::to_string(method), d.count(), for_how_long.count()));
    cluster_.broker(*i).delay(method, d);
    later(for_how_long, [this, i = *i, method] { cluster_.broker(i).delay(method, 0ms); });
  }

  void hang_() {
    const auto i = running_broker_();
    if (!i) {
      return;
    }
    const auto method = random_method_();
    const auto for_how_long = random_ms(rng_, 200, 3000);
    ctx_.findings.event(fmt::format("fault: broker {} never answers {} for {} ms", *i, testing::to_string(method),
                                    for_how_long.count()));
    cluster_.broker(*i).never_answer(method, true);
    later(for_how_long, [this, i = *i, method] { cluster_.broker(i).never_answer(method, false); });
  }

  void lookup_failed_() {
    const auto i = running_broker_();
    if (!i) {
      return;
    }
    const auto n = std::uniform_int_distribution<std::size_t>(1, 3)(rng_);
    ctx_.findings.event(fmt::format("fault: broker {} answers the next {} lookups Failed", *i, n));
    cluster_.broker(*i).answer_lookup_failed(n);
  }

  context& ctx_;
  testing::embedded_cluster& cluster_;
  const std::vector<std::string> partitions_;
  std::mt19937_64 rng_;
  std::vector<bool> stopped_;
  std::map<std::size_t, std::pair<millis, std::vector<std::string>>> stop_began_;
  std::vector<std::pair<clock::time_point, action>> pending_;
  worker thread_;  // last: joined before the members it uses go
};

}  // namespace soak
