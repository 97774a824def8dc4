// perf_consumer: receive throughput of danube-cpp against a bare ReceiveMessages stream reader, in
// the same run, against the same broker; and (--mode memory) a long run with a slow consumer that
// shows the client's memory stays bounded.
//
//   case             what is timed
//   prefilled        receiving N messages that were published (and buffered by the broker and
//                    the stream) before the clock started: the consumer's own cost
//   prefilled batch  the same with consumer.receive_batch(--batch, ...) instead of receive()
//   live             receiving N messages while a producer publishes them (bare gRPC, 64 in flight)
//
//   client: consumer.receive() in a loop     bare: Subscribe + generated sync stream reader
//
// Messages are non-reliable, so nothing is acknowledged: the reliable path is bounded by one Ack
// call per message (default max_unacked 10), which perf_producer's unary numbers already cover.
#include "common/bare.hpp"
#include "common/bench.hpp"
#include "common/count_allocations.hpp"
#include "common/rate_limiter.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

namespace {

using namespace danube_bench;

struct options {
  common_options common;
  std::string mode = "throughput";
  std::size_t queue = 1000;  // the client's receive_queue_capacity
  std::vector<std::string> cases{"prefilled", "prefilled batch", "live"};
  std::size_t batch = 256;  // receive_batch's max_messages in the batch case
  // --mode memory
  double consume_rate = 2000;
  std::size_t window = 64;
  std::size_t consumer_buffer = 1000;
  double sample_interval = 1.0;
};

struct received {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  double seconds = 0;
  cpu_usage used;  // what the process spent while receiving
  [[nodiscard]] double rate() const { return seconds > 0 ? static_cast<double>(messages) / seconds : 0.0; }
  [[nodiscard]] per_message per_msg() const { return per_message::of(used, messages); }
};

// The publisher both implementations share: bare gRPC, 64 calls in flight.
void publish(const std::shared_ptr<grpc::Channel>& channel, const std::string& url, const std::string& topic,
             const std::string& payload, std::uint64_t count) {
  if (count == 0) {
    return;
  }
  bare_producer producer(channel, url, {topic}, "bench-publisher", false);
  const auto sent = producer.run_window(payload, 64, {count, {}}, 0);
  if (sent.errors > 0) {
    fail(fmt::format("the publisher saw {} errors", sent.errors));
  }
}

// Creates the topic (consumers never do) with a publisher registration.
void create_topic(const std::shared_ptr<grpc::Channel>& channel, const std::string& url, const std::string& topic) {
  bare_producer producer(channel, url, {topic}, "bench-publisher", false);
}

danube::consumer make_consumer(danube::client& client, const std::string& topic, std::size_t queue) {
  auto consumer = require(client.new_consumer()
                              .topic(topic)
                              .consumer_name("bench-consumer")
                              .subscription("bench")
                              .subscription_type(danube::subscription_type::exclusive)
                              .receive_queue_capacity(queue)
                              .build(),
                          "building the consumer");
  require(consumer.subscribe(), "subscribing");
  return consumer;
}

// Receives up to `count` messages; stops early once `idle` passes without one.
received client_receive(danube::consumer& consumer, std::uint64_t count, clock::time_point start,
                        std::chrono::milliseconds idle, std::size_t batch = 0) {
  received out;
  auto last = start;
  while (batch > 0 && out.messages < count) {
    auto ms = consumer.receive_batch(std::min<std::uint64_t>(batch, count - out.messages), idle);
    if (!ms) {
      break;
    }
    last = clock::now();
    out.messages += ms->size();
    for (const auto& m : *ms) {
      out.bytes += m.payload().size();
    }
  }
  while (out.messages < count) {
    auto m = consumer.receive(idle);
    if (!m) {
      break;
    }
    last = clock::now();
    ++out.messages;
    out.bytes += m->payload().size();
  }
  out.seconds = std::chrono::duration<double>(last - start).count();
  return out;
}

received bare_receive(bare_consumer& consumer, std::uint64_t count, clock::time_point start,
                      std::chrono::milliseconds idle) {
  received out;
  auto last = start;
  wire::StreamMessage m;
  std::atomic<bool> finished{false};
  std::atomic<std::uint64_t> seen{0};
  // The sync reader has no timeout: a watchdog cancels the stream when nothing comes for `idle`.
  std::thread watchdog([&] {
    std::uint64_t before = 0;
    auto progress = clock::now();
    while (!finished.load()) {
      std::this_thread::sleep_for(10ms);
      if (const auto now_seen = seen.load(); now_seen != before) {
        before = now_seen;
        progress = clock::now();
      } else if (clock::now() - progress > idle) {
        consumer.cancel();
        return;
      }
    }
  });
  while (out.messages < count && consumer.read(m)) {
    last = clock::now();
    ++out.messages;
    out.bytes += m.payload().size();
    seen.store(out.messages, std::memory_order_relaxed);
  }
  finished = true;
  watchdog.join();
  out.seconds = std::chrono::duration<double>(last - start).count();
  return out;
}

received run_client(danube::client& client, target& broker, const std::shared_ptr<grpc::Channel>& channel,
                    const options& o, const std::string& payload, bool live, std::uint64_t count, std::size_t batch) {
  const auto topic = unique_topic(live ? "live" : "prefilled");
  create_topic(channel, broker.url(), topic);
  auto consumer = make_consumer(client, topic, o.queue);
  broker.wait_streaming(topic);
  publish(channel, broker.url(), topic, payload, o.common.warmup);
  (void)client_receive(consumer, o.common.warmup, clock::now(), 5s);
  received out;
  if (live) {
    const usage_meter meter;
    const auto start = clock::now();
    std::thread publisher([&] { publish(channel, broker.url(), topic, payload, count); });
    out = client_receive(consumer, count, start, 2s);
    publisher.join();
    out.used = meter.stop();
  } else {
    publish(channel, broker.url(), topic, payload, count);
    const usage_meter meter;
    out = client_receive(consumer, count, clock::now(), 2s, batch);
    out.used = meter.stop();
  }
  consumer.close();
  return out;
}

received run_bare(target& broker, const std::shared_ptr<grpc::Channel>& channel, const options& o,
                  const std::string& payload, bool live, std::uint64_t count) {
  const auto topic = unique_topic(live ? "bare-live" : "bare-prefilled");
  create_topic(channel, broker.url(), topic);
  bare_consumer consumer(broker.url(), topic, "bench", "bench-consumer");
  broker.wait_streaming(topic);
  publish(channel, broker.url(), topic, payload, o.common.warmup);
  (void)bare_receive(consumer, o.common.warmup, clock::now(), 5s);
  received out;
  if (live) {
    const usage_meter meter;
    const auto start = clock::now();
    std::thread publisher([&] { publish(channel, broker.url(), topic, payload, count); });
    out = bare_receive(consumer, count, start, 2s);
    publisher.join();
    out.used = meter.stop();
  } else {
    publish(channel, broker.url(), topic, payload, count);
    const usage_meter meter;
    out = bare_receive(consumer, count, clock::now(), 2s);
    out.used = meter.stop();
  }
  return out;
}

int throughput_mode(const options& o) {
  const std::uint64_t count = o.common.messages > 0 ? o.common.messages : 20'000;
  danube::testing::broker_options broker_options;
  // Room for everything published before the clock starts: nothing is dropped.
  broker_options.consumer_buffer = static_cast<std::size_t>(count + o.common.warmup + 1000);
  auto broker = target::open(o.common, broker_options);
  auto client = make_client(broker.url());
  const auto channel = bare_channel(broker.url());
  const std::string payload(o.common.size, 'x');

  fmt::print(
      "perf_consumer: {}; {} B payloads, non-reliable, {} messages per run, receive queue {}, {} run(s) per "
      "case; {}\n",
      broker.describe(), o.common.size, count, o.queue, o.common.repeat, machine_load());
  fmt::print("{:<16} {:>12} {:>12} {:>6}  {:<30} {:>9} {:>15} {:>13} {:>15} {:>11} {:>11}\n", "case", "client msg/s",
             "bare msg/s", "ratio", "baseline", "messages", "cpu us/msg c/b", "new/msg c/b", "malloc/msg c/b",
             "futex/msg", "csw/msg");
  for (const auto& name : o.cases) {
    const bool live = name == "live";
    const std::size_t batch = name == "prefilled batch" ? o.batch : 0;
    std::vector<double> client_rates;
    std::vector<double> bare_rates;
    std::vector<double> ratios;
    usage_medians usage;
    std::uint64_t short_runs = 0;
    for (unsigned r = 0; r < o.common.repeat; ++r) {
      received b;
      received k;
      const auto run_b = [&] {
        if (o.common.bare()) {
          b = run_bare(broker, channel, o, payload, live, count);
        }
      };
      const auto run_k = [&] {
        if (o.common.client()) {
          k = run_client(client, broker, channel, o, payload, live, count, batch);
        }
      };
      if (r % 2 == 0) {
        run_b();
        run_k();
      } else {
        run_k();
        run_b();
      }
      short_runs +=
          (o.common.bare() && b.messages < count ? 1U : 0U) + (o.common.client() && k.messages < count ? 1U : 0U);
      bare_rates.push_back(b.rate());
      client_rates.push_back(k.rate());
      ratios.push_back(b.rate() > 0 ? k.rate() / b.rate() : 0.0);
      usage.add(k.per_msg(), b.per_msg());
    }
    const auto baseline = live ? "sync stream reader, live" : "sync stream reader, prefilled";
    const double client_rate = median(client_rates);
    const double bare_rate = median(bare_rates);
    const double ratio = median(ratios);
    fmt::print("{:<16} {:>12} {:>12} {:>6.2f}  {:<30} {:>9} {:>15} {:>13} {:>15} {:>11} {:>11}{}\n", name,
               grouped(client_rate), grouped(bare_rate), ratio, baseline, count, usage.pair(&per_message::cpu_us, 1),
               usage.pair(&per_message::news, 1), usage.pair(&per_message::mallocs, 1),
               usage.pair(&per_message::futexes, 2), usage.pair(&per_message::switches, 2),
               short_runs > 0 ? fmt::format("  ({} run(s) ended early: messages missing)", short_runs) : "");
    std::fflush(stdout);
    if (o.common.json) {
      json_line j;
      j.add("bench", "perf_consumer")
          .add("case", name)
          .add("baseline", baseline)
          .add("size", o.common.size)
          .add("messages", count)
          .add("queue", o.queue)
          .add("runs", o.common.repeat)
          .add("client_msgs_per_s", client_rate)
          .add("bare_msgs_per_s", bare_rate)
          .add("client_mb_per_s", mb_per_s(client_rate, o.common.size))
          .add("ratio", ratio);
      usage.add_json(j);
      j.add("short_runs", short_runs).add("load1", load_one_minute()).print();
    }
  }
  client.close();
  return 0;
}

// A producer publishes `messages` (default 1,000,000) as fast as its window allows while a slow
// consumer takes --consume-rate messages per second. Non-reliable dispatch: what the consumer
// cannot take is dropped by the broker (beyond --consumer-buffer per consumer, as the real broker
// drops beyond 8); the client holds at most its receive queue and its producer's pending window.
int memory_mode(const options& o) {
  const std::uint64_t count = o.common.messages > 0 ? o.common.messages : 1'000'000;
  danube::testing::broker_options broker_options;
  broker_options.consumer_buffer = o.consumer_buffer;
  const auto before = read_memory();
  auto broker = target::open(o.common, broker_options);
  auto client = make_client(broker.url());
  const std::string payload(o.common.size, 'x');
  const auto topic = unique_topic("memory");
  auto producer = require(client.new_producer().topic(topic).name("bench-producer").max_in_flight(o.window).build(),
                          "building the producer");
  require(producer.create(), "creating the producer");
  auto consumer = make_consumer(client, topic, o.queue);
  broker.wait_streaming(topic);

  const auto start_memory = read_memory();
  fmt::print(
      "perf_consumer --mode memory: {}; {} messages of {} B, producer window {}, consumer at {} msg/s, "
      "receive queue {}, broker consumer buffer {}; {}\n",
      broker.describe(), count, o.common.size, o.window, o.consume_rate, o.queue, o.consumer_buffer, machine_load());
  fmt::print("RSS before the broker and client: {} MiB; at start: {} MiB\n", before.rss_kib / 1024,
             start_memory.rss_kib / 1024);
  fmt::print("{:>8} {:>10} {:>10} {:>10} {:>10}\n", "t (s)", "sent", "received", "RSS MiB", "peak MiB");

  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> got{0};
  std::atomic<bool> producing{true};
  std::atomic<bool> stop{false};
  const auto start = clock::now();
  std::thread slow_consumer([&] {
    rate_limiter pace(o.consume_rate);
    while (!stop.load()) {
      (void)pace.acquire();
      auto m = consumer.receive(200ms);
      if (m) {
        got.fetch_add(1, std::memory_order_relaxed);
      } else if (!producing.load()) {
        break;  // the producer is done and nothing more is coming
      }
    }
  });
  std::thread sampler([&] {
    const auto period = std::chrono::duration<double>(o.sample_interval);
    auto next = start;
    while (!stop.load()) {
      next += std::chrono::duration_cast<clock::duration>(period);
      while (clock::now() < next && !stop.load()) {
        std::this_thread::sleep_for(20ms);
      }
      const auto m = read_memory();
      fmt::print("{:>8.1f} {:>10} {:>10} {:>10.1f} {:>10.1f}\n", seconds_since(start), sent.load(), got.load(),
                 static_cast<double>(m.rss_kib) / 1024, static_cast<double>(m.peak_kib) / 1024);
      std::fflush(stdout);
    }
  });
  for (std::uint64_t i = 0; i < count; ++i) {
    const auto accepted = producer.send_async(payload, {}, [&](const danube::result<danube::message_id>& r) {
      (r ? sent : failed).fetch_add(1, std::memory_order_relaxed);
    });
    if (!accepted) {
      failed.fetch_add(1, std::memory_order_relaxed);
    }
  }
  (void)producer.flush();
  const double produce_seconds = seconds_since(start);
  producing = false;
  // Let the slow consumer drain what the client and broker still hold, then stop.
  const auto drain_until = clock::now() + 30s;
  auto last_got = got.load();
  while (clock::now() < drain_until) {
    std::this_thread::sleep_for(1s);
    const auto now_got = got.load();
    if (now_got == last_got) {
      break;
    }
    last_got = now_got;
  }
  stop = true;
  slow_consumer.join();
  sampler.join();
  const auto peak_memory = read_memory();
  producer.close();
  consumer.close();
  client.close();
  const auto end_memory = read_memory();
  const auto mib = [](std::uint64_t kib) { return static_cast<double>(kib) / 1024; };
  fmt::print("sent {} ({} failed) in {:.1f} s ({} msg/s); received {}; dropped by the broker {}\n", sent.load(),
             failed.load(), produce_seconds, grouped(static_cast<double>(sent.load()) / produce_seconds), got.load(),
             sent.load() - std::min(sent.load(), got.load()));
  fmt::print("RSS: start {:.1f} MiB, peak {:.1f} MiB, end {:.1f} MiB (payload volume {:.0f} MiB)\n",
             mib(start_memory.rss_kib), mib(peak_memory.peak_kib), mib(end_memory.rss_kib),
             static_cast<double>(count * o.common.size) / (1024.0 * 1024.0));
  if (o.common.json) {
    json_line()
        .add("bench", "perf_consumer")
        .add("case", "memory")
        .add("messages", count)
        .add("size", o.common.size)
        .add("window", o.window)
        .add("consume_rate", o.consume_rate)
        .add("queue", o.queue)
        .add("consumer_buffer", o.consumer_buffer)
        .add("sent", sent.load())
        .add("failed", failed.load())
        .add("received", got.load())
        .add("produce_seconds", produce_seconds)
        .add("rss_start_kib", start_memory.rss_kib)
        .add("rss_peak_kib", peak_memory.peak_kib)
        .add("rss_end_kib", end_memory.rss_kib)
        .add("load1", load_one_minute())
        .print();
  }
  return failed.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (const auto stop = parse_flags(
          argc, argv, "perf_consumer",
          "Receive throughput of danube-cpp and of a bare gRPC stream reader (same broker, same run); "
          "ratio = client/bare.\n--mode memory: a long run with a slow consumer, reporting RSS (start/peak/end).",
          o.common,
          {
              {"--mode", "throughput|memory", "what to run (default throughput)",
               [&](std::string_view v) {
                 o.mode = std::string(v);
                 return v == "throughput" || v == "memory";
               }},
              {"--cases", "CASE,...",
               "throughput mode: the cases to run, in order: prefilled, prefilled batch, live (default all three)",
               [&](std::string_view v) {
                 std::vector<std::string> cases;
                 while (!v.empty()) {
                   const auto comma = v.find(',');
                   const auto one = v.substr(0, comma);
                   if (one != "prefilled" && one != "prefilled batch" && one != "live") {
                     return false;
                   }
                   cases.emplace_back(one);
                   v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
                 }
                 o.cases = std::move(cases);
                 return !o.cases.empty();
               }},
              {"--batch", "N", "the prefilled batch case: receive_batch's max_messages (default 256)",
               [&](std::string_view v) { return parse_number(v, o.batch) && o.batch > 0; }},
              {"--queue", "N", "the client's receive_queue_capacity (default 1000)",
               [&](std::string_view v) { return parse_number(v, o.queue) && o.queue > 0; }},
              {"--consume-rate", "MSG/S", "memory mode: how fast the slow consumer takes messages (default 2000)",
               [&](std::string_view v) { return parse_number(v, o.consume_rate) && o.consume_rate > 0; }},
              {"--window", "N", "memory mode: the producer's max_in_flight (default 64)",
               [&](std::string_view v) { return parse_number(v, o.window) && o.window > 0; }},
              {"--consumer-buffer", "N", "memory mode: the embedded broker's per-consumer buffer (default 1000)",
               [&](std::string_view v) { return parse_number(v, o.consumer_buffer) && o.consumer_buffer > 0; }},
              {"--sample-interval", "SECONDS", "memory mode: RSS sampling period (default 1)",
               [&](std::string_view v) { return parse_number(v, o.sample_interval) && o.sample_interval > 0; }},
          })) {
    return *stop;
  }
  return o.mode == "memory" ? memory_mode(o) : throughput_mode(o);
}
