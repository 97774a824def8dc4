// perf_stats: what the statistics cost per message (danube/stats.hpp, docs/producer.md "Statistics").
// The counters are always on; this measures the exact calls the send and receive paths make per
// message, in a loop, without a broker, so the figure is the counters' own cost and nothing else:
//
//   producer   on_queued + on_done (with its latency) under the partition's mutex, as topic_producer
//              makes them (the send is stamped with steady_clock when it is accepted)
//   consumer   on_received + on_ack_done, as stream_reader and topic_consumer make them
//              (the redelivery record: a hash-table insert and erase under the partition's mutex)
//   snapshot   producer.stats() / consumer.stats() of one partition (what a poll or a report costs)
//
// The same loop without the stats calls (the same mutex acquisitions and clock reads, which the send
// path makes anyway) is printed as the baseline; the difference is the counters' cost.
// Compare the per-message figures with perf_producer's and perf_consumer's CPU per message.
//
//   perf_stats [--messages N] [--threads T] [--json]
#include <danube/detail/stats.hpp>
#include <danube/message.hpp>
#include <danube/stats.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  std::uint64_t messages = 2'000'000;
  unsigned threads = 1;  // threads sharing one partition's counters (the gRPC threads of one stream)
  unsigned repeat = 5;   // runs of each loop, alternating with its baseline; medians are printed
  bool json = false;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&] {
      if (i + 1 >= argc) {
        fmt::print(stderr, "error: {} needs a value\n", arg);
        std::exit(2);
      }
      return std::strtoull(argv[++i], nullptr, 10);
    };
    if (arg == "--messages") {
      o.messages = value();
    } else if (arg == "--repeat") {
      o.repeat = static_cast<unsigned>(value());
    } else if (arg == "--threads") {
      o.threads = static_cast<unsigned>(value());
    } else if (arg == "--json") {
      o.json = true;
    } else {
      fmt::print(stderr, "usage: perf_stats [--messages N] [--threads T] [--repeat R] [--json]\n");
      std::exit(arg == "--help" ? 0 : 2);
    }
  }
  if (o.messages == 0 || o.threads == 0 || o.repeat == 0) {
    fmt::print(stderr, "error: --messages, --threads and --repeat must be positive\n");
    std::exit(2);
  }
  return o;
}

// Runs body(thread, i) for messages / threads iterations on each of `threads` threads; ns per call.
template <class Body>
double ns_per_message(const options& o, Body body) {
  const auto per_thread = o.messages / o.threads;
  const auto start = clock_type::now();
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < o.threads; ++t) {
    workers.emplace_back([&, t] {
      for (std::uint64_t i = 0; i < per_thread; ++i) {
        body(t, i);
      }
    });
  }
  for (auto& w : workers) {
    w.join();
  }
  const auto elapsed = std::chrono::duration<double, std::nano>(clock_type::now() - start).count();
  return elapsed / static_cast<double>(per_thread * o.threads);
}

// Runs the baseline and the loop with stats `repeat` times each, alternating (a machine that gets
// busier affects both); the medians.
template <class Baseline, class WithStats>
std::pair<double, double> measure(const options& o, Baseline baseline, WithStats with_stats) {
  std::vector<double> base;
  std::vector<double> with;
  for (unsigned r = 0; r < o.repeat; ++r) {
    base.push_back(ns_per_message(o, baseline));
    with.push_back(ns_per_message(o, with_stats));
  }
  const auto median = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  return {median(base), median(with)};
}

void report(const options& o, std::string_view name, double baseline, double with_stats) {
  if (o.json) {
    fmt::print(
        "{{\"bench\":\"perf_stats\",\"case\":\"{}\",\"threads\":{},\"baseline_ns\":{:.1f},\"with_stats_ns\":{:.1f},"
        "\"stats_ns\":{:.1f}}}\n",
        name, o.threads, baseline, with_stats, with_stats - baseline);
  } else {
    fmt::print("{:<10} {:>12.1f} {:>14.1f} {:>12.1f}\n", name, baseline, with_stats, with_stats - baseline);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto o = parse(argc, argv);
  if (!o.json) {
    fmt::print("perf_stats: {} messages, {} thread(s); ns per message (per call for snapshot)\n", o.messages,
               o.threads);
    fmt::print("{:<10} {:>12} {:>14} {:>12}\n", "case", "baseline", "with stats", "stats cost");
  }

  // Producer: what topic_producer does per message with its mutex held.
  {
    std::mutex mu;
    std::chrono::nanoseconds sink{0};
    danube::detail::producer_counters counters;
    const auto [baseline, with_stats] = measure(
        o,
        [&](unsigned, std::uint64_t) {
          const auto created = clock_type::now();
          { std::lock_guard lock(mu); }
          std::lock_guard lock(mu);
          sink += clock_type::now() - created;
        },
        [&](unsigned, std::uint64_t) {
          const auto created = clock_type::now();
          {
            std::lock_guard lock(mu);
            counters.on_queued(256);
          }
          std::lock_guard lock(mu);
          counters.on_done(true, 256, clock_type::now() - created);
        });
    if (sink.count() < 0) {
      return 1;
    }
    report(o, "producer", baseline, with_stats);
  }

  // Consumer: on_received when the stream delivers and on_ack_done when the broker confirms an ack;
  // the last acknowledgement lags 64 messages behind.
  {
    const danube::message m;
    danube::detail::consumer_counters counters;
    std::atomic<std::uint64_t> round{0};  // each run receives new messages (a repeat is not a redelivery)
    const auto [baseline, with_stats] = measure(
        o, [&](unsigned, std::uint64_t) {},
        [&](unsigned t, std::uint64_t i) {
          const auto id = (std::uint64_t{t} << 48) | (round.load(std::memory_order_relaxed) << 32) | i;
          counters.on_received(m, id);
          if (i >= 64) {
            counters.on_ack_done(
                true, danube::detail::consumer_counters::ack_key(m.id().producer_id, m.id().offset, id - 64));
          }
          if (i + 1 == o.messages / o.threads && t == 0) {
            round.fetch_add(1, std::memory_order_relaxed);
          }
        });
    report(o, "consumer", baseline, with_stats);
  }

  // Snapshots: one partition's stats (the histogram's 273 buckets are read and summarised).
  {
    options fewer = o;
    fewer.messages = std::max<std::uint64_t>(o.messages / 100, fewer.threads);
    danube::detail::producer_counters producer;
    danube::detail::consumer_counters consumer;
    for (int i = 0; i < 1000; ++i) {
      producer.on_done(true, 1, std::chrono::microseconds(i * 37));
    }
    const auto p = ns_per_message(fewer, [&](unsigned, std::uint64_t) { static_cast<void>(producer.snapshot()); });
    const auto c = ns_per_message(fewer, [&](unsigned, std::uint64_t) { static_cast<void>(consumer.snapshot()); });
    report(fewer, "snapshot-p", 0, p);
    report(fewer, "snapshot-c", 0, c);
  }
  return 0;
}
