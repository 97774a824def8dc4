// perf_producer: publish throughput of danube-cpp against bare gRPC, in the same run, against the
// same broker.
//
//   case                 client                                  bare gRPC baseline
//   send                 producer.send() in a loop (ordered)     generated sync stub, SendMessage
//   send_async window=N  send_async(callback), max_in_flight(N)  callback API, N calls in flight
//
// Each case runs the baseline and the client alternately (--repeat times) and reports medians and
// the median of the client/bare ratios. See docs/benchmarks.md.
#include "common/bare.hpp"
#include "common/bench.hpp"
#include "common/histogram.hpp"
#include "common/minimal_server.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace {

using namespace danube_bench;

struct options {
  common_options common;
  std::vector<std::size_t> windows{1, 8, 64};
  std::uint32_t partitions = 0;  // 0: not partitioned
  bool reliable = false;
  bool sync = true;
  std::size_t pending = 1000;
  bool minimal = false;  // --server minimal
};

struct outcome {
  throughput result;
  histogram latencies;  // sync sends only
};

danube::producer make_producer(danube::client& client, const options& o, const std::string& topic, std::size_t window) {
  auto builder = client.new_producer();
  builder.topic(topic)
      .name("bench-producer")
      .dispatch(o.reliable ? danube::dispatch_strategy::reliable : danube::dispatch_strategy::non_reliable)
      .max_in_flight(window)
      .max_pending_messages(o.pending);
  if (o.partitions > 0) {
    builder.partitions(o.partitions);
  }
  auto producer = require(builder.build(), "building the producer");
  require(producer.create(), "creating the producer");
  return producer;
}

std::vector<std::string> partition_topics(const options& o, const std::string& topic) {
  if (o.partitions == 0) {
    return {topic};
  }
  std::vector<std::string> out;
  for (std::uint32_t i = 0; i < o.partitions; ++i) {
    out.push_back(fmt::format("{}-part-{}", topic, i));
  }
  return out;
}

outcome client_sync(danube::client& client, const options& o, const std::string& payload) {
  auto producer = make_producer(client, o, unique_topic("sync"), 1);
  for (std::uint64_t i = 0; i < o.common.warmup; ++i) {
    (void)producer.send(payload);
  }
  outcome out;
  const auto limit = run_limit::from(o.common);
  const auto start = clock::now();
  for (std::uint64_t i = 0; !limit.done(i, start); ++i) {
    const auto t = clock::now();
    if (producer.send(payload)) {
      ++out.result.messages;
    } else {
      ++out.result.errors;
    }
    out.latencies.record(clock::now() - t);
  }
  out.result.seconds = seconds_since(start);
  producer.close();
  return out;
}

outcome client_window(danube::client& client, const options& o, const std::string& payload, std::size_t window) {
  auto producer = make_producer(client, o, unique_topic(fmt::format("w{}", window)), window);
  std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> errors{0};
  const auto done = [&](const danube::result<danube::message_id>& r) {
    (r ? completed : errors).fetch_add(1, std::memory_order_relaxed);
  };
  for (std::uint64_t i = 0; i < o.common.warmup; ++i) {
    producer.send_async(payload, {}, done);
  }
  (void)producer.flush();
  completed = 0;
  errors = 0;
  const auto limit = run_limit::from(o.common);
  const auto start = clock::now();
  for (std::uint64_t i = 0; !limit.done(i, start); ++i) {
    producer.send_async(payload, {}, done);
  }
  (void)producer.flush();
  outcome out;
  out.result = {completed.load(), errors.load(), seconds_since(start)};
  producer.close();
  return out;
}

outcome bare_sync(const std::shared_ptr<grpc::Channel>& channel, const std::string& url, const options& o,
                  const std::string& payload) {
  bare_producer producer(channel, url, partition_topics(o, unique_topic("bare-sync")), "bench-bare", o.reliable);
  outcome out;
  out.result = producer.run_sync(payload, run_limit::from(o.common), o.common.warmup, &out.latencies);
  return out;
}

outcome bare_window(const std::shared_ptr<grpc::Channel>& channel, const std::string& url, const options& o,
                    const std::string& payload, std::size_t window) {
  bare_producer producer(channel, url, partition_topics(o, unique_topic(fmt::format("bare-w{}", window))), "bench-bare",
                         o.reliable);
  outcome out;
  out.result = producer.run_window(payload, window, run_limit::from(o.common), o.common.warmup);
  return out;
}

struct case_spec {
  std::string name;    // "send" or "send_async window=N"
  std::string bare;    // what the baseline is
  std::size_t window;  // 0: sync
};

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (const auto stop = parse_flags(
          argc, argv, "perf_producer",
          "Publish throughput of danube-cpp and of bare gRPC (same RPCs, same broker, same run); ratio = client/bare.",
          o.common,
          {
              {"--windows", "N,N,...", "send_async cases: max_in_flight per partition (default 1,8,64)",
               [&](std::string_view v) { return parse_list(v, o.windows); }},
              {"--no-sync", "", "skip the send() case", [&](std::string_view) { return !(o.sync = false); }},
              {"--partitions", "N", "a partitioned topic of N partitions (default: not partitioned)",
               [&](std::string_view v) { return parse_number(v, o.partitions) && o.partitions > 0; }},
              {"--reliable", "", "reliable dispatch (the broker stores every message)",
               [&](std::string_view) { return o.reliable = true; }},
              {"--server", "embedded|minimal",
               "the in-process server: the embedded broker (default), or a minimal gRPC server that answers at "
               "once and stores nothing (what the broker itself costs)",
               [&](std::string_view v) {
                 o.minimal = v == "minimal";
                 return v == "embedded" || v == "minimal";
               }},
              {"--pending", "N", "the client's max_pending_messages (default 1000)",
               [&](std::string_view v) { return parse_number(v, o.pending) && o.pending > 0; }},

          })) {
    return *stop;
  }
  std::unique_ptr<minimal_server> minimal;
  if (o.minimal) {
    minimal = minimal_server::start();
  }
  auto broker = minimal ? target::at(minimal->url(), "minimal gRPC server (in process)") : target::open(o.common);
  auto client = make_client(broker.url());
  const auto channel = bare_channel(broker.url());
  const std::string payload(o.common.size, 'x');

  std::vector<case_spec> cases;
  if (o.sync) {
    cases.push_back({"send", "sync unary", 0});
  }
  for (const auto w : o.windows) {
    cases.push_back({fmt::format("send_async window={}", w), fmt::format("callback, {} in flight", w), w});
  }

  fmt::print(
      "perf_producer: {}; {} B payloads, {}, {}, {} per run, {} run(s) per case; {}\n", broker.describe(),
      o.common.size, o.partitions > 0 ? fmt::format("{} partitions", o.partitions) : "1 topic",
      o.reliable ? "reliable" : "non-reliable",
      o.common.messages > 0 ? fmt::format("{} messages", o.common.messages) : fmt::format("{} s", o.common.duration),
      o.common.repeat, machine_load());
  fmt::print("{:<22} {:>12} {:>12} {:>7}  {:<24} {:>17} {:>17} {:>15}\n", "case", "client msg/s", "bare msg/s", "ratio",
             "baseline", "client p50/p99 us", "bare p50/p99 us", "cpu us/msg c/b");
  for (const auto& c : cases) {
    std::vector<double> client_rates;
    std::vector<double> bare_rates;
    std::vector<double> ratios;
    std::vector<double> client_cpu;
    std::vector<double> bare_cpu;
    std::vector<double> client_csw;
    std::vector<double> bare_csw;
    histogram client_lat;
    histogram bare_lat;
    std::uint64_t errors = 0;
    for (unsigned r = 0; r < o.common.repeat; ++r) {
      outcome b;
      outcome k;
      const auto run_bare = [&] {
        if (!o.common.bare()) {
          return;
        }
        const auto cpu = cpu_usage::now();
        b = c.window == 0 ? bare_sync(channel, broker.url(), o, payload)
                          : bare_window(channel, broker.url(), o, payload, c.window);
        const auto used = cpu_usage::now() - cpu;
        b.result.cpu = used.seconds;
        b.result.switches = used.switches;
      };
      const auto run_client = [&] {
        if (!o.common.client()) {
          return;
        }
        const auto cpu = cpu_usage::now();
        k = c.window == 0 ? client_sync(client, o, payload) : client_window(client, o, payload, c.window);
        const auto used = cpu_usage::now() - cpu;
        k.result.cpu = used.seconds;
        k.result.switches = used.switches;
      };
      if (r % 2 == 0) {
        run_bare();
        run_client();
      } else {
        run_client();
        run_bare();
      }
      bare_rates.push_back(b.result.rate());
      client_rates.push_back(k.result.rate());
      bare_cpu.push_back(b.result.cpu_us());
      client_cpu.push_back(k.result.cpu_us());
      bare_csw.push_back(b.result.switches_per_msg());
      client_csw.push_back(k.result.switches_per_msg());
      ratios.push_back(b.result.rate() > 0 ? k.result.rate() / b.result.rate() : 0.0);
      client_lat += k.latencies;
      bare_lat += b.latencies;
      errors += b.result.errors + k.result.errors;
    }
    const double client_rate = median(client_rates);
    const double bare_rate = median(bare_rates);
    const double ratio = median(ratios);
    const auto lat = [](const histogram& h) {
      return h.count() == 0 ? std::string("-")
                            : fmt::format("{}/{}", micros(h.percentile(0.5)), micros(h.percentile(0.99)));
    };
    const double client_cpu_us = median(client_cpu);
    const double bare_cpu_us = median(bare_cpu);
    fmt::print("{:<22} {:>12} {:>12} {:>7.2f}  {:<24} {:>17} {:>17} {:>15}{}\n", c.name, grouped(client_rate),
               grouped(bare_rate), ratio, c.bare, lat(client_lat), lat(bare_lat),
               fmt::format("{:.1f}/{:.1f}", client_cpu_us, bare_cpu_us),
               errors > 0 ? fmt::format("  ({} errors)", errors) : "");
    std::fflush(stdout);
    if (o.common.json) {
      json_line j;
      j.add("bench", "perf_producer")
          .add("case", c.name)
          .add("baseline", c.bare)
          .add("window", c.window)
          .add("size", o.common.size)
          .add("partitions", o.partitions)
          .add("reliable", o.reliable)
          .add("server", minimal ? "minimal" : (o.common.service_addr.empty() ? "embedded" : "external"))
          .add("runs", o.common.repeat)
          .add("client_msgs_per_s", client_rate)
          .add("bare_msgs_per_s", bare_rate)
          .add("client_mb_per_s", mb_per_s(client_rate, o.common.size))
          .add("ratio", ratio)
          .add("client_cpu_us_per_msg", client_cpu_us)
          .add("bare_cpu_us_per_msg", bare_cpu_us)
          .add("client_switches_per_msg", median(client_csw))
          .add("bare_switches_per_msg", median(bare_csw))
          .add("errors", errors)
          .add("load1", load_one_minute());
      if (client_lat.count() > 0) {
        j.add("client_p50_us", static_cast<double>(client_lat.percentile(0.5)) / 1e3)
            .add("client_p99_us", static_cast<double>(client_lat.percentile(0.99)) / 1e3)
            .add("bare_p50_us", static_cast<double>(bare_lat.percentile(0.5)) / 1e3)
            .add("bare_p99_us", static_cast<double>(bare_lat.percentile(0.99)) / 1e3);
      }
      j.print();
    }
  }
  client.close();
  return 0;
}
