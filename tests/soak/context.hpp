// What every part of the soak shares: its options, the deadlines derived from the client
// settings, the report, the watchdog, the ledger, and a random source per thread (seeded from the
// run's seed, so the schedule of faults and actions a seed produces is the same on every run; the
// threads' interleaving is not).
#pragma once

#include "soak/ledger.hpp"
#include "soak/report.hpp"
#include "soak/watchdog.hpp"
#include <danube/danube.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <fmt/format.h>

namespace soak {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// Every fault and action the soak can take; --exclude leaves some out (e.g. while a known bug is
// being fixed), --only keeps just the named ones.
inline constexpr std::string_view all_actions[] = {
    // broker side (chaos thread)
    "restart",
    "stop",
    "close",
    "move",
    "fail",
    "delay",
    "hang",
    "lookup-failed",
    // client side
    "client-churn",
    "outside-close",
    "producer-churn",
    "consumer-churn",
    "flush",
    "ephemeral",
    "close-race",
    "nack",
    "reentrant",
};

struct options {
  std::uint64_t seed = 0;
  double duration_s = 30;  // of chaos; the quiet phase and the drain come after
  std::size_t brokers = 3;
  double rate = 50;              // messages per second per lane
  double settle_s = 8;           // quiet phase: no faults, lanes still sending
  double grace_s = 5;            // of the quiet phase, for recovery; later sends must all arrive
  double drain_s = 45;           // the most to wait for the last reliable messages (> the 30 s ack timeout)
  double hang_s = 60;            // past a deadline by this much: a hang (the process ends)
  double slack = 1;              // multiplies every deadline (sanitizers are slower)
  std::size_t thread_slack = 2;  // threads of ours and the library's (named like the process)
  std::size_t grpc_thread_slack = 8 + 4 * std::max(1U, std::thread::hardware_concurrency());  // gRPC's pools
  std::size_t fd_slack = 8;
  std::size_t rss_slack_mib = 128;
  bool rss_check = true;
  bool verbose = false;
  std::string self_test;  // "", "all" or "hang"
  std::set<std::string, std::less<>> excluded;

  [[nodiscard]] bool enabled(std::string_view action) const { return !excluded.contains(action); }
};

// The client settings of every soak client, and the bounds the library documents for each call
// under them (docs/reliability.md, the builders' comments).
struct limits {
  milliseconds connect{1000};
  milliseconds call{2000};
  milliseconds health{300};
  milliseconds send_timeout{5000};
  unsigned retries = 6;
  milliseconds retry_base{25};
  milliseconds retry_cap{400};
  double slack = 1;

  [[nodiscard]] milliseconds scaled(milliseconds d) const {
    return milliseconds(static_cast<std::int64_t>(static_cast<double>(d.count()) * slack));
  }
  // build(): no I/O.
  [[nodiscard]] milliseconds build() const { return scaled(1000ms); }
  // create(): connect, then per attempt a lookup (maybe redirected) and CreateProducer, retried
  // per the policy.
  [[nodiscard]] milliseconds create() const {
    return scaled((retries + 1) * (connect + 3 * call) + retries * retry_cap + 2000ms);
  }
  // subscribe(): TopicPartitions with retries, then Subscribe per partition with retries.
  [[nodiscard]] milliseconds subscribe() const { return 2 * create(); }
  // A send: its send timeout, retries and recovery included.
  [[nodiscard]] milliseconds send() const { return scaled(send_timeout + 1000ms); }
  // close() of anything: "returns within about a second".
  [[nodiscard]] milliseconds close() const { return scaled(2000ms); }
  // flush(): the sends made before it, each bounded by its send timeout.
  [[nodiscard]] milliseconds flush() const { return scaled(send_timeout + 1000ms); }
  [[nodiscard]] milliseconds receive(milliseconds timeout) const { return scaled(timeout + 1000ms); }
  [[nodiscard]] milliseconds ack() const { return scaled(connect + call + 1000ms); }
  [[nodiscard]] milliseconds lookup() const { return scaled(connect + 2 * call + 1000ms); }
  // A message listener or completion callback: must not block.
  [[nodiscard]] milliseconds callback() const { return scaled(1000ms); }
};

// The retry policy of every soak producer and consumer: short, bounded backoff.
struct soak_retry {
  unsigned max_retries = 6;
  milliseconds base{25};
  milliseconds cap{400};

  [[nodiscard]] std::optional<milliseconds> next_delay(const danube::error& /*unused*/, unsigned attempt) const {
    if (attempt == 0 || attempt > max_retries) {
      return std::nullopt;
    }
    auto d = base;
    for (unsigned k = 1; k < attempt && d < cap; ++k) {
      d *= 2;
    }
    return std::min(d, cap);
  }
};
static_assert(danube::retry_policy<soak_retry>);

using client_t = danube::client;
using producer_t = danube::basic_producer<soak_retry>;
using consumer_t = danube::basic_consumer<soak_retry>;

// Deliberate faults in the soak's own bookkeeping, to prove each checker fires (--self-test).
struct sabotage {
  bool on = false;
  std::atomic<bool> dropped_completion{false};
  std::atomic<bool> doubled_completion{false};
  std::atomic<bool> swapped_completion{false};
  std::atomic<bool> delayed_flush{false};
  std::atomic<bool> delayed_close{false};
  std::atomic<bool> dropped_arrival{false};
  std::atomic<bool> reordered_arrival{false};
  std::atomic<bool> phantom_arrival{false};
  std::atomic<bool> corrupted_arrival{false};
};

struct context {
  const options& opts;
  const limits lim;
  report& findings;
  watchdog& dog;
  ledger& book;
  sabotage& saboteur;
  std::atomic<bool> stop_chaos{false};
  std::atomic<bool> stop_churn{false};
  std::atomic<bool> stop_lanes{false};
  std::atomic<bool> stop_consumers{false};

  // A random source for one thread of the soak, from the seed and the thread's role.
  [[nodiscard]] std::mt19937_64 rng_for(std::uint64_t role) const {
    std::seed_seq seq{opts.seed, role, std::uint64_t{0x5eed5eed}};
    return std::mt19937_64(seq);
  }
};

// A thread of the soak: started once, joined once.
class worker {
 public:
  worker() = default;
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;
  ~worker() { join(); }

  template <class Fn>
  void start(Fn&& fn) {
    thread_ = std::thread(std::forward<Fn>(fn));
  }
  void join() {
    if (thread_.joinable()) {
      thread_.join();
    }
  }

 private:
  std::thread thread_;
};

// Closes `object` from another thread than the one using it (the churner), under the close bound.
template <class T>
void close_from_another_thread(context& ctx, const std::shared_ptr<T>& object, const std::string& what) {
  if (object) {
    ctx.findings.event(fmt::format("churn: close {} from another thread", what));
    ctx.findings.count("closed from another thread");
    (void)ctx.dog.call(fmt::format("{}.close (from another thread)", what), ctx.lim.close(), [&] { object->close(); });
  }
}

// Sleeps `d`, in slices, returning early when `stop` is set.
inline void nap(milliseconds d, const std::atomic<bool>& stop) {
  const auto until = clock::now() + d;
  while (!stop.load() && clock::now() < until) {
    std::this_thread::sleep_for(std::min<clock::duration>(20ms, until - clock::now()));
  }
}

template <class Rng>
[[nodiscard]] milliseconds random_ms(Rng& rng, std::int64_t lo, std::int64_t hi) {
  return milliseconds(std::uniform_int_distribution<std::int64_t>(lo, hi)(rng));
}
template <class Rng>
[[nodiscard]] bool chance(Rng& rng, double p) {
  return std::uniform_real_distribution<double>(0, 1)(rng) < p;
}

}  // namespace soak
