// perf_latency: end-to-end latency, publish -> receive, of danube-cpp against bare gRPC, in the
// same run, against the same broker.
//
//   1. saturation: each implementation publishes as fast as its window allows while its consumer
//      receives; the end-to-end rate is what reached the consumer per second.
//   2. latency: each publishes at a fixed rate (default: half the lower saturated rate) and the
//      consumer records, per message, receive time - intended send time (the rate limiter's
//      schedule, so a sender that falls behind counts its delay: no coordinated omission).
//
//   client: producer.send_async (max_in_flight = --window) -> consumer.receive()
//   bare:   callback-API SendMessage, --window in flight, queued in order -> sync stream reader
#include "common/bare.hpp"
#include "common/bench.hpp"
#include "common/count_allocations.hpp"
#include "common/histogram.hpp"
#include "common/rate_limiter.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

namespace {

using namespace danube_bench;

struct options {
  common_options common;
  double rate = 0;  // 0: half the saturated rate
  std::size_t window = 1;
  double saturation = 0;  // seconds; 0: the same as --duration
};

// The first bytes of every payload: when it was meant to be sent, and whether it is measured.
struct header {
  std::int64_t intended_ns;
  std::uint8_t measured;
};
constexpr std::size_t header_size = sizeof(std::int64_t) + 1;

void write_header(std::string& payload, clock::time_point intended, bool measured) {
  const std::int64_t ns = intended.time_since_epoch().count();
  std::memcpy(payload.data(), &ns, sizeof ns);
  payload[sizeof ns] = measured ? '\1' : '\0';
}

header read_header(std::string_view payload) {
  header h{};
  if (payload.size() >= header_size) {
    std::memcpy(&h.intended_ns, payload.data(), sizeof h.intended_ns);
    h.measured = static_cast<std::uint8_t>(payload[sizeof h.intended_ns]);
  }
  return h;
}

struct e2e_result {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  double seconds = 0;  // first send to last receive
  histogram latency;
  [[nodiscard]] double rate() const { return seconds > 0 ? static_cast<double>(received) / seconds : 0.0; }
};

// What both implementations' receivers share: counts, the latency histogram, the last receive.
struct receiver_state {
  concurrent_histogram latency;
  std::atomic<std::uint64_t> received{0};
  std::atomic<clock::rep> last_ns{0};

  void on_message(std::string_view payload) {
    const auto now = clock::now();
    const auto h = read_header(payload);
    if (h.measured == 0) {
      return;
    }
    latency.record(std::chrono::nanoseconds(now.time_since_epoch().count() - h.intended_ns));
    received.fetch_add(1, std::memory_order_relaxed);
    last_ns.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  }

  // Waits until `expected` measured messages arrived, or nothing arrived for 2 s.
  void wait_for(std::uint64_t expected) const {
    auto seen = received.load();
    auto progress = clock::now();
    while (seen < expected && clock::now() - progress < 2s) {
      std::this_thread::sleep_for(1ms);
      if (const auto now_seen = received.load(); now_seen != seen) {
        seen = now_seen;
        progress = clock::now();
      }
    }
  }

  [[nodiscard]] e2e_result result(std::uint64_t sent, clock::time_point start) const {
    e2e_result out;
    out.sent = sent;
    out.received = received.load();
    out.seconds = std::chrono::duration<double>(clock::time_point(clock::duration(last_ns.load())) - start).count();
    out.latency = latency.snapshot();
    return out;
  }
};

// Publishes warmup messages (not measured), then measured ones at `rate` (0: as fast as possible)
// until the limit; `send(payload)` is the implementation's send.
template <class Send, class Flush>
std::pair<std::uint64_t, clock::time_point> drive(const options& o, double rate, run_limit limit, Send send,
                                                  Flush flush, receiver_state& state) {
  std::string payload(std::max(o.common.size, header_size), 'x');
  for (std::uint64_t i = 0; i < o.common.warmup; ++i) {
    write_header(payload, clock::now(), false);
    send(payload);
  }
  flush();
  std::this_thread::sleep_for(50ms);  // let the warm-up messages arrive
  rate_limiter pace(rate);
  const auto start = clock::now();
  std::uint64_t sent = 0;
  for (; !limit.done(sent, start); ++sent) {
    write_header(payload, pace.acquire(), true);
    send(payload);
  }
  flush();
  state.wait_for(sent);
  return {sent, start};
}

e2e_result run_client(danube::client& client, target& broker, const options& o, double rate, run_limit limit) {
  const auto topic = unique_topic("e2e");
  auto producer = require(client.new_producer().topic(topic).name("bench-producer").max_in_flight(o.window).build(),
                          "building the producer");
  require(producer.create(), "creating the producer");
  auto consumer = require(client.new_consumer()
                              .topic(topic)
                              .consumer_name("bench-consumer")
                              .subscription("bench")
                              .subscription_type(danube::subscription_type::exclusive)
                              .build(),
                          "building the consumer");
  require(consumer.subscribe(), "subscribing");
  broker.wait_streaming(topic);
  receiver_state state;
  std::atomic<bool> stop{false};
  std::thread receiver([&] {
    while (!stop.load()) {
      if (auto m = consumer.receive(50ms)) {
        state.on_message(m->payload_string());
      }
    }
  });
  std::atomic<std::uint64_t> errors{0};
  const auto [sent, start] = drive(
      o, rate, limit,
      [&](const std::string& payload) {
        const auto accepted = producer.send_async(payload, {}, [&](const danube::result<danube::message_id>& r) {
          if (!r) {
            errors.fetch_add(1, std::memory_order_relaxed);
          }
        });
        if (!accepted) {
          errors.fetch_add(1, std::memory_order_relaxed);
        }
      },
      [&] { (void)producer.flush(); }, state);
  stop = true;
  receiver.join();
  if (errors > 0) {
    fmt::print(stderr, "client: {} sends failed\n", errors.load());
  }
  return state.result(sent, start);
}

e2e_result run_bare(target& broker, const std::shared_ptr<grpc::Channel>& channel, const options& o, double rate,
                    run_limit limit) {
  const auto topic = unique_topic("bare-e2e");
  bare_producer producer(channel, broker.url(), {topic}, "bench-bare", false);
  bare_pipeline pipeline(producer, o.window);
  bare_consumer consumer(broker.url(), topic, "bench", "bench-consumer");
  broker.wait_streaming(topic);
  receiver_state state;
  std::thread receiver([&] {
    wire::StreamMessage m;
    while (consumer.read(m)) {
      state.on_message(m.payload());
    }
  });
  const auto [sent, start] = drive(
      o, rate, limit, [&](const std::string& payload) { pipeline.send(payload); }, [&] { pipeline.flush(); }, state);
  consumer.cancel();
  receiver.join();
  if (pipeline.errors() > 0) {
    fmt::print(stderr, "bare: {} sends failed\n", pipeline.errors());
  }
  return state.result(sent, start);
}

std::string percentiles(const histogram& h) {
  return fmt::format("{:>6} {:>6} {:>6} {:>7} {:>7}", micros(h.percentile(0.5)), micros(h.percentile(0.9)),
                     micros(h.percentile(0.99)), micros(h.percentile(0.999)), micros(h.max()));
}

void add_percentiles(json_line& j, std::string_view prefix, const histogram& h) {
  const auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  j.add(fmt::format("{}_p50_us", prefix), us(h.percentile(0.5)))
      .add(fmt::format("{}_p90_us", prefix), us(h.percentile(0.9)))
      .add(fmt::format("{}_p99_us", prefix), us(h.percentile(0.99)))
      .add(fmt::format("{}_p999_us", prefix), us(h.percentile(0.999)))
      .add(fmt::format("{}_max_us", prefix), us(h.max()));
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (const auto stop = parse_flags(
          argc, argv, "perf_latency",
          "End-to-end latency (publish -> receive) of danube-cpp and of bare gRPC (same broker, same run), at a fixed "
          "rate:\nby default half the lower of the two saturated end-to-end rates, measured first.",
          o.common,
          {
              {"--rate", "MSG/S", "publish rate of the latency runs (default: half the saturated rate)",
               [&](std::string_view v) { return parse_number(v, o.rate) && o.rate >= 0; }},
              {"--window", "N", "max_in_flight of the producer (and of the bare baseline) (default 1)",
               [&](std::string_view v) { return parse_number(v, o.window) && o.window > 0; }},
              {"--saturation", "SECONDS", "length of the saturation runs (default: --duration)",
               [&](std::string_view v) { return parse_number(v, o.saturation) && o.saturation > 0; }},
          })) {
    return *stop;
  }
  danube::testing::broker_options broker_options;
  broker_options.consumer_buffer = 100'000;  // the saturation runs must not drop
  auto broker = target::open(o.common, broker_options);
  auto client = make_client(broker.url());
  const auto channel = bare_channel(broker.url());
  const auto limit = run_limit::from(o.common);
  auto saturation_limit = limit;
  if (o.saturation > 0) {
    saturation_limit = {0, std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(o.saturation))};
  }

  fmt::print(
      "perf_latency: {}; {} B payloads, non-reliable, window {}, {} per run, {} run(s); {}\n", broker.describe(),
      std::max(o.common.size, header_size), o.window,
      o.common.messages > 0 ? fmt::format("{} messages", o.common.messages) : fmt::format("{} s", o.common.duration),
      o.common.repeat, machine_load());

  double rate = o.rate;
  if (rate <= 0) {
    std::vector<double> client_rates;
    std::vector<double> bare_rates;
    std::vector<double> ratios;
    for (unsigned r = 0; r < o.common.repeat; ++r) {
      const auto b = o.common.bare() ? run_bare(broker, channel, o, 0, saturation_limit) : e2e_result{};
      const auto k = o.common.client() ? run_client(client, broker, o, 0, saturation_limit) : e2e_result{};
      bare_rates.push_back(b.rate());
      client_rates.push_back(k.rate());
      ratios.push_back(b.rate() > 0 ? k.rate() / b.rate() : 0.0);
    }
    const double client_rate = median(client_rates);
    const double bare_rate = median(bare_rates);
    rate = (o.common.client() && o.common.bare() ? std::min(client_rate, bare_rate) : client_rate + bare_rate) / 2;
    fmt::print("{:<20} {:>12} {:>12} {:>7}\n", "case", "client msg/s", "bare msg/s", "ratio");
    fmt::print("{:<20} {:>12} {:>12} {:>7.2f}\n", "saturated e2e", grouped(client_rate), grouped(bare_rate),
               median(ratios));
    if (o.common.json) {
      json_line()
          .add("bench", "perf_latency")
          .add("case", "saturated")
          .add("window", o.window)
          .add("size", o.common.size)
          .add("runs", o.common.repeat)
          .add("client_msgs_per_s", client_rate)
          .add("bare_msgs_per_s", bare_rate)
          .add("ratio", median(ratios))
          .add("load1", load_one_minute())
          .print();
    }
  }

  histogram client_lat;
  histogram bare_lat;
  std::uint64_t client_lost = 0;
  std::uint64_t bare_lost = 0;
  for (unsigned r = 0; r < o.common.repeat; ++r) {
    const auto b = o.common.bare() ? run_bare(broker, channel, o, rate, limit) : e2e_result{};
    const auto k = o.common.client() ? run_client(client, broker, o, rate, limit) : e2e_result{};
    bare_lat += b.latency;
    client_lat += k.latency;
    bare_lost += b.sent - std::min(b.sent, b.received);
    client_lost += k.sent - std::min(k.sent, k.received);
  }
  const double p99_ratio = bare_lat.percentile(0.99) > 0 ? static_cast<double>(client_lat.percentile(0.99)) /
                                                               static_cast<double>(bare_lat.percentile(0.99))
                                                         : 0.0;
  fmt::print("latency at {} msg/s (us):  {:>6} {:>6} {:>6} {:>7} {:>7}   p99 ratio client/bare\n", grouped(rate), "p50",
             "p90", "p99", "p99.9", "max");
  fmt::print("  {:<24} {}   {:.2f}{}\n", "client", percentiles(client_lat), p99_ratio,
             client_lost > 0 ? fmt::format("  ({} lost)", client_lost) : "");
  fmt::print("  {:<24} {}{}\n", "bare gRPC", percentiles(bare_lat),
             bare_lost > 0 ? fmt::format("  ({} lost)", bare_lost) : "");
  if (o.common.json) {
    json_line j;
    j.add("bench", "perf_latency")
        .add("case", "latency")
        .add("rate", rate)
        .add("window", o.window)
        .add("size", o.common.size)
        .add("runs", o.common.repeat)
        .add("client_messages", client_lat.count())
        .add("bare_messages", bare_lat.count());
    add_percentiles(j, "client", client_lat);
    add_percentiles(j, "bare", bare_lat);
    j.add("p99_ratio", p99_ratio).add("client_lost", client_lost).add("bare_lost", bare_lost);
    j.add("load1", load_one_minute()).print();
  }
  client.close();
  return 0;
}
