// perf_producer: publish throughput of danube-cpp against bare gRPC, in the same run, against the
// same broker.
//
//   case                 client                                  bare gRPC baseline
//   send                 producer.send() in a loop (ordered)     generated sync stub, SendMessage
//   send_async window=N  send_async(callback), max_in_flight(N)  callback API, N calls in flight
//
// How the client is handed its payload (--payloads, each a case of its own; the baseline always
// reuses prebuilt requests):
//   copy  a `const std::string&` (the default; the client copies it once, into the request)
//   view  a std::span<const std::byte> of the same bytes (copied once, the same way)
//   move  a fresh std::string per message, made in the timed loop as an application would make
//         its payload, moved in (the client makes no copy of it)
//
// Each case runs the baseline and the client alternately (--repeat times) and reports medians and
// the median of the client/bare ratios. See docs/benchmarks.md.
#include "common/bare.hpp"
#include "common/bench.hpp"
#include "common/count_allocations.hpp"
#include "common/histogram.hpp"
#include "common/minimal_server.hpp"

#include <atomic>
#include <cstdint>
#include <span>
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
  std::vector<std::string> payloads{"copy"};
  std::size_t connections = 1;  // the client's connections_per_broker, and the baseline's channels
};

// How the client is handed each payload (see the top of this file).
enum class handoff { copy, view, move };

[[nodiscard]] bool parse_handoffs(std::string_view text, std::vector<std::string>& out) {
  std::vector<std::string> values;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto value = text.substr(0, comma);
    if (value != "copy" && value != "view" && value != "move") {
      return false;
    }
    values.emplace_back(value);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  if (values.empty()) {
    return false;
  }
  out = std::move(values);
  return true;
}

[[nodiscard]] handoff handoff_of(std::string_view name) {
  return name == "move" ? handoff::move : name == "view" ? handoff::view : handoff::copy;
}

// Calls `send` with the payload handed over the way `how` says.
template <class Send>
decltype(auto) with_payload(handoff how, const std::string& payload, Send&& send) {
  switch (how) {
    case handoff::view: return send(danube::payload_arg(std::as_bytes(std::span(payload.data(), payload.size()))));
    case handoff::move: return send(danube::payload_arg(std::string(payload.size(), 'x')));
    case handoff::copy: break;
  }
  return send(danube::payload_arg(payload));
}

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

outcome client_sync(danube::client& client, const options& o, const std::string& payload, handoff how) {
  auto producer = make_producer(client, o, unique_topic("sync"), 1);
  for (std::uint64_t i = 0; i < o.common.warmup; ++i) {
    (void)producer.send(payload);
  }
  outcome out;
  const auto limit = run_limit::from(o.common);
  const auto start = clock::now();
  for (std::uint64_t i = 0; !limit.done(i, start); ++i) {
    const auto t = clock::now();
    if (with_payload(how, payload, [&](danube::payload_arg p) { return producer.send(std::move(p)); })) {
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

outcome client_window(danube::client& client, const options& o, const std::string& payload, std::size_t window,
                      handoff how) {
  auto producer = make_producer(client, o, unique_topic(fmt::format("w{}", window)), window);
  std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> errors{0};
  const auto done = [&](const danube::result<danube::message_id>& r) {
    (r ? completed : errors).fetch_add(1, std::memory_order_relaxed);
  };
  for (std::uint64_t i = 0; i < o.common.warmup; ++i) {
    if (!producer.send_async(payload, {}, done)) {
      errors.fetch_add(1, std::memory_order_relaxed);
    }
  }
  (void)producer.flush();
  completed = 0;
  errors = 0;
  const auto limit = run_limit::from(o.common);
  const auto start = clock::now();
  for (std::uint64_t i = 0; !limit.done(i, start); ++i) {
    with_payload(how, payload, [&](danube::payload_arg p) {
      if (!producer.send_async(std::move(p), {}, done)) {
        errors.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  (void)producer.flush();
  outcome out;
  out.result = {completed.load(), errors.load(), seconds_since(start), {}};
  producer.close();
  return out;
}

using channels = std::vector<std::shared_ptr<grpc::Channel>>;

outcome bare_sync(const channels& channel, const std::string& url, const options& o, const std::string& payload) {
  bare_producer producer(channel, url, partition_topics(o, unique_topic("bare-sync")), "bench-bare", o.reliable);
  outcome out;
  out.result = producer.run_sync(payload, run_limit::from(o.common), o.common.warmup, &out.latencies);
  return out;
}

outcome bare_window(const channels& channel, const std::string& url, const options& o, const std::string& payload,
                    std::size_t window) {
  bare_producer producer(channel, url, partition_topics(o, unique_topic(fmt::format("bare-w{}", window))), "bench-bare",
                         o.reliable);
  outcome out;
  out.result = producer.run_window(payload, window, run_limit::from(o.common), o.common.warmup);
  return out;
}

struct case_spec {
  std::string name;    // "send" or "send_async window=N", then the payload hand-off unless copy
  std::string bare;    // what the baseline is
  std::size_t window;  // 0: sync
  handoff how = handoff::copy;
  std::string payload;  // copy, view or move
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
              {"--connections", "N",
               "connections per broker: the client's connections_per_broker(N), and N channels for the baseline; "
               "partitions take them round robin (default 1)",
               [&](std::string_view v) { return parse_number(v, o.connections) && o.connections > 0; }},
              {"--payloads", "copy,view,move",
               "how the client is handed each payload, a case each: a const std::string& (copy), a byte span "
               "(view), a fresh std::string moved in (move) (default copy)",
               [&](std::string_view v) { return parse_handoffs(v, o.payloads); }},

          })) {
    return *stop;
  }
  std::unique_ptr<minimal_server> minimal;
  if (o.minimal) {
    minimal = minimal_server::start();
  }
  auto broker = minimal ? target::at(minimal->url(), "minimal gRPC server (in process)") : target::open(o.common);
  auto client =
      require(danube::client::builder().service_url(broker.url()).connections_per_broker(o.connections).build(),
              "building the client");
  channels channel;
  for (std::size_t i = 0; i < o.connections; ++i) {
    channel.push_back(bare_channel(broker.url(), static_cast<int>(i)));
  }
  const std::string payload(o.common.size, 'x');

  std::vector<case_spec> cases;
  for (const auto& how : o.payloads) {
    const auto suffix = how == "copy" ? std::string() : " " + how;
    if (o.sync) {
      cases.push_back({"send" + suffix, "sync unary", 0, handoff_of(how), how});
    }
    for (const auto w : o.windows) {
      cases.push_back({fmt::format("send_async window={}{}", w, suffix), fmt::format("callback, {} in flight", w), w,
                       handoff_of(how), how});
    }
  }

  fmt::print(
      "perf_producer: {}; {} B payloads, {}, {} connection(s), {}, {} per run, {} run(s) per case; {}\n",
      broker.describe(), o.common.size, o.partitions > 0 ? fmt::format("{} partitions", o.partitions) : "1 topic",
      o.connections, o.reliable ? "reliable" : "non-reliable",
      o.common.messages > 0 ? fmt::format("{} messages", o.common.messages) : fmt::format("{} s", o.common.duration),
      o.common.repeat, machine_load());
  fmt::print("{:<27} {:>12} {:>12} {:>6}  {:<22} {:>15} {:>13} {:>13} {:>11} {:>11} {:>17} {:>17}\n", "case",
             "client msg/s", "bare msg/s", "ratio", "baseline", "cpu us/msg c/b", "new/msg c/b", "malloc/msg c/b",
             "futex/msg", "csw/msg", "client p50/p99 us", "bare p50/p99 us");
  for (const auto& c : cases) {
    std::vector<double> client_rates;
    std::vector<double> bare_rates;
    std::vector<double> ratios;
    usage_medians usage;
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
        const usage_meter meter;
        b = c.window == 0 ? bare_sync(channel, broker.url(), o, payload)
                          : bare_window(channel, broker.url(), o, payload, c.window);
        b.result.used = meter.stop();
      };
      const auto run_client = [&] {
        if (!o.common.client()) {
          return;
        }
        const usage_meter meter;
        k = c.window == 0 ? client_sync(client, o, payload, c.how) : client_window(client, o, payload, c.window, c.how);
        k.result.used = meter.stop();
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
      usage.add(k.result.per_msg(), b.result.per_msg());
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
    fmt::print("{:<27} {:>12} {:>12} {:>6.2f}  {:<22} {:>15} {:>13} {:>13} {:>11} {:>11} {:>17} {:>17}{}\n", c.name,
               grouped(client_rate), grouped(bare_rate), ratio, c.bare, usage.pair(&per_message::cpu_us, 1),
               usage.pair(&per_message::news, 1), usage.pair(&per_message::mallocs, 1),
               usage.pair(&per_message::futexes, 1), usage.pair(&per_message::switches, 2), lat(client_lat),
               lat(bare_lat), errors > 0 ? fmt::format("  ({} errors)", errors) : "");
    std::fflush(stdout);
    if (o.common.json) {
      json_line j;
      j.add("bench", "perf_producer")
          .add("case", c.name)
          .add("baseline", c.bare)
          .add("window", c.window)
          .add("payload", c.payload)
          .add("size", o.common.size)
          .add("partitions", o.partitions)
          .add("connections", o.connections)
          .add("reliable", o.reliable)
          .add("server", minimal ? "minimal" : (o.common.service_addr.empty() ? "embedded" : "external"))
          .add("runs", o.common.repeat)
          .add("client_msgs_per_s", client_rate)
          .add("bare_msgs_per_s", bare_rate)
          .add("client_mb_per_s", mb_per_s(client_rate, o.common.size))
          .add("ratio", ratio);
      usage.add_json(j);
      j.add("errors", errors).add("load1", load_one_minute());
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
