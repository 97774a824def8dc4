// What a producer or a consumer has done since it was created: counters, gauges and send latency.
//
//   auto s = producer->stats();                      // danube::producer_stats, summed over partitions
//   fmt::print("{}\n", s);                           // one line; "{:p}" adds a line per partition
//   for (const auto& p : s.partitions) { ... }       // the same fields, per partition topic
//
//   auto client = danube::client::builder().service_url(url)
//                     .stats_interval(std::chrono::seconds(10), [](const danube::client_stats& all) {
//                       fmt::print("{}\n", all);     // every producer and consumer of the client
//                     })
//                     .build();
//
// Counters are kept with relaxed atomics on the send and receive paths. A producer partition's
// sent, acked, failed, pending and in-flight figures are read together and add up in every
// snapshot; the other fields are read one by one and may be off by the messages in motion.
// docs/producer.md and docs/consumer.md describe each field.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace danube {

// Send latency since creation: from send() to the broker's acknowledgement, successful sends only.
// Percentiles come from a fixed log-bucket histogram: at most 12.5 % above the true value (never
// above max); max is exact. All zero until the first acknowledgement.
struct latency_stats {
  std::uint64_t count = 0;  // acknowledged sends measured
  std::chrono::microseconds p50{0};
  std::chrono::microseconds p99{0};
  std::chrono::microseconds max{0};

  friend bool operator==(const latency_stats&, const latency_stats&) = default;
};

// A producer's counters, summed over its partitions, with the same fields per partition topic in
// `partitions` (one entry for a non-partitioned topic; the entries' own `partitions` are empty).
struct producer_stats {
  std::string name;   // the producer's name (a partition's: "<name>-<i>")
  std::string topic;  // the topic (a partition's: "<topic>-part-<i>")

  // Each message send() accepted is counted once in sent (when it reaches its partition's queue),
  // then once in acked or failed when it completes: sent == acked + failed + pending. Every attempt
  // on the wire after its first counts in retried. Bytes are payload bytes.
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t messages_acked = 0;
  std::uint64_t bytes_acked = 0;
  // Completed with an error after reaching the producer's queue: send timeout, closed while
  // queued or in flight, a non-retryable broker answer, a recovery that failed for good.
  std::uint64_t messages_failed = 0;
  std::uint64_t bytes_failed = 0;
  std::uint64_t messages_retried = 0;
  std::uint64_t bytes_retried = 0;
  // Refused by send() before reaching a partition (invalid message, queue full, not created,
  // closed): the producer's total only, 0 per partition.
  std::uint64_t messages_refused = 0;
  // Times the producer registered again after the broker lost it (CLOSE, NOT_FOUND, a topic move).
  std::uint64_t reconnections = 0;

  // Gauges, now: accepted and not completed (queued or in flight), and of those on the wire.
  std::uint64_t pending = 0;
  std::uint64_t in_flight = 0;

  latency_stats send_latency;

  std::vector<producer_stats> partitions;

  friend bool operator==(const producer_stats&, const producer_stats&) = default;
};

// A consumer's counters, summed over its partitions, with the same fields per partition topic in
// `partitions` (one entry for a non-partitioned topic; the entries' own `partitions` are empty).
struct consumer_stats {
  std::string name;          // the consumer's name
  std::string subscription;  // the subscription's name
  std::string topic;         // the topic (a partition's: "<topic>-part-<i>")

  // Messages read from the broker's streams (into the receive queue), and their payload bytes.
  std::uint64_t messages_received = 0;
  std::uint64_t bytes_received = 0;
  // Acks and nacks the broker confirmed, and those that failed (errors returned to the caller).
  std::uint64_t messages_acked = 0;
  std::uint64_t messages_nacked = 0;
  std::uint64_t ack_failures = 0;
  // Received messages this consumer had received before on that partition and not acknowledged:
  // the broker's redeliveries after a nack, an ack timeout or a reconnection (docs/consumer.md).
  std::uint64_t messages_redelivered = 0;
  // Subscribe calls after the first one that succeeded (after a broker CLOSE, a stream end, a
  // topic move), and delivery streams the broker or the network ended (each one reconnects).
  std::uint64_t resubscriptions = 0;
  std::uint64_t reconnections = 0;

  // Gauge, now: messages waiting in the receive queue (the consumer's total only: its partitions
  // share one queue; 0 per partition).
  std::uint64_t queue_depth = 0;

  std::vector<consumer_stats> partitions;

  friend bool operator==(const consumer_stats&, const consumer_stats&) = default;
};

// Every producer and consumer of a client, as reported by client::builder().stats_interval().
struct client_stats {
  std::vector<producer_stats> producers;
  std::vector<consumer_stats> consumers;

  friend bool operator==(const client_stats&, const client_stats&) = default;
};

}  // namespace danube

// fmt: "{}" one line per producer or consumer (its totals); "{:p}" adds an indented line per
// partition. client_stats prints one line per producer and consumer.
template <>
struct fmt::formatter<danube::latency_stats> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <class FormatContext>
  auto format(const danube::latency_stats& s, FormatContext& ctx) const {
    return fmt::format_to(ctx.out(), "latency p50 {} us, p99 {} us, max {} us ({} acked)", s.p50.count(), s.p99.count(),
                          s.max.count(), s.count);
  }
};

namespace danube::detail {

// Parses an optional 'p' (per partition) and nothing else.
template <class ParseContext>
constexpr auto parse_partitions_flag(ParseContext& ctx, bool& partitions) {
  auto it = ctx.begin();
  if (it != ctx.end() && *it == 'p') {
    partitions = true;
    ++it;
  }
  if (it != ctx.end() && *it != '}') {
    throw fmt::format_error("danube stats: the only format option is 'p' (one line per partition)");
  }
  return it;
}

template <class Out>
Out format_producer_line(Out out, const producer_stats& s) {
  return fmt::format_to(out,
                        "producer {} on {}: sent {} ({} B), acked {} ({} B), failed {} ({} B), retried {} ({} B), "
                        "refused {}, reconnections {}, pending {}, in flight {}, {}",
                        s.name, s.topic, s.messages_sent, s.bytes_sent, s.messages_acked, s.bytes_acked,
                        s.messages_failed, s.bytes_failed, s.messages_retried, s.bytes_retried, s.messages_refused,
                        s.reconnections, s.pending, s.in_flight, s.send_latency);
}

template <class Out>
Out format_consumer_line(Out out, const consumer_stats& s) {
  return fmt::format_to(out,
                        "consumer {} ({}) on {}: received {} ({} B), acked {}, nacked {}, ack failures {}, "
                        "redelivered {}, resubscriptions {}, reconnections {}, queue depth {}",
                        s.name, s.subscription, s.topic, s.messages_received, s.bytes_received, s.messages_acked,
                        s.messages_nacked, s.ack_failures, s.messages_redelivered, s.resubscriptions, s.reconnections,
                        s.queue_depth);
}

}  // namespace danube::detail

template <>
struct fmt::formatter<danube::producer_stats> {
  bool partitions = false;
  constexpr auto parse(fmt::format_parse_context& ctx) {
    return danube::detail::parse_partitions_flag(ctx, partitions);
  }
  template <class FormatContext>
  auto format(const danube::producer_stats& s, FormatContext& ctx) const {
    auto out = danube::detail::format_producer_line(ctx.out(), s);
    if (partitions) {
      for (const auto& p : s.partitions) {
        out = danube::detail::format_producer_line(fmt::format_to(out, "\n  "), p);
      }
    }
    return out;
  }
};

template <>
struct fmt::formatter<danube::consumer_stats> {
  bool partitions = false;
  constexpr auto parse(fmt::format_parse_context& ctx) {
    return danube::detail::parse_partitions_flag(ctx, partitions);
  }
  template <class FormatContext>
  auto format(const danube::consumer_stats& s, FormatContext& ctx) const {
    auto out = danube::detail::format_consumer_line(ctx.out(), s);
    if (partitions) {
      for (const auto& p : s.partitions) {
        out = danube::detail::format_consumer_line(fmt::format_to(out, "\n  "), p);
      }
    }
    return out;
  }
};

template <>
struct fmt::formatter<danube::client_stats> {
  bool partitions = false;
  constexpr auto parse(fmt::format_parse_context& ctx) {
    return danube::detail::parse_partitions_flag(ctx, partitions);
  }
  template <class FormatContext>
  auto format(const danube::client_stats& s, FormatContext& ctx) const {
    auto out = ctx.out();
    const char* separator = "";
    for (const auto& p : s.producers) {
      out = partitions ? fmt::format_to(out, "{}{:p}", separator, p) : fmt::format_to(out, "{}{}", separator, p);
      separator = "\n";
    }
    for (const auto& c : s.consumers) {
      out = partitions ? fmt::format_to(out, "{}{:p}", separator, c) : fmt::format_to(out, "{}{}", separator, c);
      separator = "\n";
    }
    if (s.producers.empty() && s.consumers.empty()) {
      out = fmt::format_to(out, "no producers or consumers");
    }
    return out;
  }
};
