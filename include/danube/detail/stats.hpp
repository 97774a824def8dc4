// The counters behind danube/stats.hpp: relaxed atomics bumped on the send and receive paths, a
// fixed log-bucket latency histogram (no allocation per message), and the bounded record of recently
// received messages that recognises redeliveries. Producers and consumers each own one set per
// partition and hook into it with one call per event.
#pragma once

#include <danube/message.hpp>
#include <danube/stats.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace danube::detail {

// Counts of one histogram, copied out of the atomics: percentiles, and sums over partitions.
// Microseconds; values below 16 have a bucket each, every power of two above is split into 8
// buckets (so a bucket's upper bound is at most 12.5 % above any value in it), values from 2^36 us
// (19 hours) on share the last bucket.
class latency_counts {
 public:
  static constexpr unsigned sub_bits = 3;
  static constexpr std::uint64_t sub_buckets = std::uint64_t{1} << sub_bits;
  static constexpr unsigned top_exponent = 36;
  // 16 exact buckets, 8 per power of two from 2^4 to 2^35, and one for everything above.
  static constexpr std::size_t bucket_count = 2 * sub_buckets + (top_exponent - sub_bits - 1) * sub_buckets + 1;

  [[nodiscard]] static constexpr std::size_t bucket_of(std::uint64_t micros) noexcept {
    if (micros < 2 * sub_buckets) {
      return static_cast<std::size_t>(micros);
    }
    const auto exponent = static_cast<unsigned>(std::bit_width(micros)) - 1;
    if (exponent >= top_exponent) {
      return bucket_count - 1;
    }
    const unsigned shift = exponent - sub_bits;
    const auto sub = (micros >> shift) - sub_buckets;
    return static_cast<std::size_t>(2 * sub_buckets + (exponent - sub_bits - 1) * sub_buckets + sub);
  }

  // The largest value that falls into `bucket`.
  [[nodiscard]] static constexpr std::uint64_t upper_bound(std::size_t bucket) noexcept {
    if (bucket < 2 * sub_buckets) {
      return bucket;
    }
    if (bucket >= bucket_count - 1) {
      return UINT64_MAX;
    }
    const auto index = bucket - 2 * sub_buckets;
    const auto exponent = static_cast<unsigned>(index / sub_buckets) + sub_bits + 1;
    const auto sub = index % sub_buckets;
    const unsigned shift = exponent - sub_bits;
    return ((sub_buckets + sub + 1) << shift) - 1;
  }

  std::array<std::uint64_t, bucket_count> buckets{};
  std::uint64_t count = 0;
  std::uint64_t max = 0;

  void add(const latency_counts& other) noexcept {
    for (std::size_t i = 0; i < bucket_count; ++i) {
      buckets[i] += other.buckets[i];
    }
    count += other.count;
    max = std::max(max, other.max);
  }

  // The value at quantile q (0 < q <= 1): the upper bound of the bucket holding the ceil(q * count)-th
  // smallest value, never above max. 0 when empty.
  [[nodiscard]] std::uint64_t quantile(double q) const noexcept {
    std::uint64_t total = 0;
    for (const auto n : buckets) {
      total += n;
    }
    if (total == 0) {
      return 0;
    }
    const auto wanted =
        std::clamp<std::uint64_t>(static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total))), 1, total);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += buckets[i];
      if (seen >= wanted) {
        return std::min(upper_bound(i), max);
      }
    }
    return max;
  }

  [[nodiscard]] latency_stats summary() const noexcept {
    return latency_stats{count, std::chrono::microseconds(quantile(0.5)), std::chrono::microseconds(quantile(0.99)),
                         std::chrono::microseconds(max)};
  }
};

// A relaxed load followed by a relaxed store: an increment for a value with one writer at a time
// (its callers hold a lock), which any thread may read meanwhile. It costs a plain add, where a
// fetch_add costs a locked instruction (about 40 ns each on the 2-core CI machine).
inline void add_serialized(std::atomic<std::uint64_t>& value, std::uint64_t n) noexcept {
  value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// The live histogram. record() has one caller at a time (see add_serialized); counts() may run on
// any thread at any time.
class latency_histogram {
 public:
  void record(std::chrono::steady_clock::duration elapsed) noexcept {
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
    const auto value = micros > 0 ? static_cast<std::uint64_t>(micros) : std::uint64_t{0};
    add_serialized(buckets_[latency_counts::bucket_of(value)], 1);
    add_serialized(count_, 1);
    if (value > max_.load(std::memory_order_relaxed)) {
      max_.store(value, std::memory_order_relaxed);
    }
  }

  [[nodiscard]] latency_counts counts() const noexcept {
    latency_counts out;
    for (std::size_t i = 0; i < latency_counts::bucket_count; ++i) {
      out.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
    }
    out.count = count_.load(std::memory_order_relaxed);
    out.max = max_.load(std::memory_order_relaxed);
    return out;
  }

 private:
  std::array<std::atomic<std::uint64_t>, latency_counts::bucket_count> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> max_{0};
};

// A relaxed event counter: add() from any thread, add_serialized() from one writer at a time.
class counter {
 public:
  void add(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void add_serialized(std::uint64_t n = 1) noexcept { detail::add_serialized(value_, n); }
  [[nodiscard]] std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// One partition of a producer. on_queued, on_retried and on_done are called with the partition's
// lock held (one writer at a time: plain increments, no locked instruction); on_reconnected from
// anywhere; snapshot(), counts() and latency() from any thread at any time.
class producer_counters {
 public:
  // A message reached the partition's queue ("sent"): counted once, whatever becomes of it.
  void on_queued(std::size_t bytes) noexcept {
    sent_.add_serialized();
    sent_bytes_.add_serialized(bytes);
  }
  // A message goes on the wire again, after a retryable failure or a recovery.
  void on_retried(std::size_t bytes) noexcept {
    retried_.add_serialized();
    retried_bytes_.add_serialized(bytes);
  }
  // A message that reached the queue completed: acknowledged (with its latency) or failed.
  void on_done(bool acked, std::size_t bytes, std::chrono::steady_clock::duration latency) noexcept {
    if (acked) {
      acked_.add_serialized();
      acked_bytes_.add_serialized(bytes);
      latency_.record(latency);
    } else {
      failed_.add_serialized();
      failed_bytes_.add_serialized(bytes);
    }
  }
  void on_reconnected() noexcept { reconnections_.add(); }

  // The counters and the latency summary; the caller fills in the names and the gauges.
  [[nodiscard]] producer_stats snapshot() const {
    auto s = counts();
    s.send_latency = latency_.counts().summary();
    return s;
  }
  // The counters without the latency (a few loads: cheap enough under the partition's lock, where
  // they agree with each other: sent == acked + failed + what is still pending).
  [[nodiscard]] producer_stats counts() const noexcept {
    producer_stats s;
    s.messages_sent = sent_.get();
    s.bytes_sent = sent_bytes_.get();
    s.messages_acked = acked_.get();
    s.bytes_acked = acked_bytes_.get();
    s.messages_failed = failed_.get();
    s.bytes_failed = failed_bytes_.get();
    s.messages_retried = retried_.get();
    s.bytes_retried = retried_bytes_.get();
    s.reconnections = reconnections_.get();
    return s;
  }
  [[nodiscard]] latency_counts latency() const noexcept { return latency_.counts(); }

 private:
  counter sent_, sent_bytes_, acked_, acked_bytes_, failed_, failed_bytes_, retried_, retried_bytes_, reconnections_;
  latency_histogram latency_;
};

// The keys of the messages a consumer partition received recently and has not acknowledged, to
// recognise the broker's redeliveries. Bounded: the oldest `capacity` keys are kept (an open
// addressing table and a ring in insertion order, allocated at the first insert); nothing is
// allocated per message.
class recent_keys {
 public:
  explicit recent_keys(std::size_t capacity) : capacity_(std::bit_ceil(std::max<std::size_t>(capacity, 1))) {}

  // Records `key`; true if it was recorded already (and is kept where it was).
  bool insert(std::uint64_t key) {
    if (table_.empty()) {
      table_.assign(2 * capacity_, 0);
      ring_.assign(capacity_, 0);
    }
    const auto stored = key == 0 ? zero_key : key;
    if (find_(stored) != npos) {
      return true;
    }
    if (ring_size_ == capacity_) {
      erase_stored_(ring_[ring_head_]);
      ring_head_ = (ring_head_ + 1) & (capacity_ - 1);
      --ring_size_;
    }
    ring_[(ring_head_ + ring_size_) & (capacity_ - 1)] = stored;
    ++ring_size_;
    auto slot = home_(stored);
    while (table_[slot] != 0) {
      slot = (slot + 1) & mask_();
    }
    table_[slot] = stored;
    return false;
  }

  // Forgets `key` (its ring entry stays until it falls out; erasing it again then is a no-op).
  void erase(std::uint64_t key) {
    if (!table_.empty()) {
      erase_stored_(key == 0 ? zero_key : key);
    }
  }

  [[nodiscard]] bool contains(std::uint64_t key) const {
    return !table_.empty() && find_(key == 0 ? zero_key : key) != npos;
  }

 private:
  static constexpr std::uint64_t zero_key = 0x9e3779b97f4a7c15ULL;  // stands in for 0, the empty slot
  static constexpr std::size_t npos = SIZE_MAX;

  [[nodiscard]] std::size_t mask_() const noexcept { return table_.size() - 1; }
  [[nodiscard]] std::size_t home_(std::uint64_t stored) const noexcept {
    return static_cast<std::size_t>((stored * 0x9e3779b97f4a7c15ULL) >> 17) & mask_();
  }

  [[nodiscard]] std::size_t find_(std::uint64_t stored) const noexcept {
    for (auto slot = home_(stored); table_[slot] != 0; slot = (slot + 1) & mask_()) {
      if (table_[slot] == stored) {
        return slot;
      }
    }
    return npos;
  }

  // Linear probing with backward-shift deletion: no tombstones, so lookups stay short.
  void erase_stored_(std::uint64_t stored) noexcept {
    auto hole = find_(stored);
    if (hole == npos) {
      return;
    }
    table_[hole] = 0;
    for (auto next = (hole + 1) & mask_(); table_[next] != 0; next = (next + 1) & mask_()) {
      const auto home = home_(table_[next]);
      // Move the entry back into the hole unless its home lies cyclically in (hole, next].
      const bool stays = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
      if (!stays) {
        table_[hole] = table_[next];
        table_[next] = 0;
        hole = next;
      }
    }
  }

  const std::size_t capacity_;
  std::vector<std::uint64_t> table_;  // 2 * capacity_ slots, 0 = empty
  std::vector<std::uint64_t> ring_;   // insertion order
  std::size_t ring_head_ = 0;
  std::size_t ring_size_ = 0;
};

// One partition of a consumer. Thread-safe: on_received and on_ack_done(true) take a mutex (for the redelivery
// record; held for a table operation, never across a call out), the other hooks are relaxed atomic
// increments; snapshot() from any thread at any time.
class consumer_counters {
 public:
  // How many received, unacknowledged messages per partition are remembered for redelivery.
  static constexpr std::size_t remembered_messages = 1024;

  // A message was read from the broker's stream.
  void on_received(const message& m, std::uint64_t request_id) {
    const auto key = key_(m.id().producer_id, m.id().offset, request_id);
    std::lock_guard lock(mu_);
    received_.add_serialized();
    received_bytes_.add_serialized(m.payload().size());
    if (recent_.insert(key)) {
      redelivered_.add_serialized();
    }
  }
  // How an ack names the message it acknowledges: its id's producer id and offset, its request id.
  [[nodiscard]] static std::uint64_t ack_key(std::uint64_t producer_id, std::uint64_t offset,
                                             std::uint64_t request_id) noexcept {
    return key_(producer_id, offset, request_id);
  }
  // The broker answered the ack of the message `key` names. Acknowledged: the broker will not send
  // it again, so it is forgotten. Failed: the broker may send it again, a redelivery.
  void on_ack_done(bool ok, std::uint64_t key) {
    if (!ok) {
      ack_failures_.add();
      return;
    }
    {
      std::lock_guard lock(mu_);
      recent_.erase(key);
    }
    acked_.add();
  }
  void on_nack_done(bool ok) noexcept { (ok ? nacked_ : ack_failures_).add(); }
  void on_resubscribed() noexcept { resubscriptions_.add(); }
  void on_stream_end() noexcept { reconnections_.add(); }

  // The counters; the caller fills in the names (and the queue depth, for the total).
  [[nodiscard]] consumer_stats snapshot() const {
    consumer_stats s;
    s.messages_received = received_.get();
    s.bytes_received = received_bytes_.get();
    s.messages_acked = acked_.get();
    s.messages_nacked = nacked_.get();
    s.ack_failures = ack_failures_.get();
    s.messages_redelivered = redelivered_.get();
    s.resubscriptions = resubscriptions_.get();
    s.reconnections = reconnections_.get();
    return s;
  }

 private:
  // The broker redelivers a message with its id and request id unchanged; on non-reliable topics
  // (offset 0 for every message) the request id still tells messages apart.
  [[nodiscard]] static std::uint64_t key_(std::uint64_t producer_id, std::uint64_t offset,
                                          std::uint64_t request_id) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const std::uint64_t part : {producer_id, offset, request_id}) {
      h = (h ^ part) * 0x100000001b3ULL;
      h ^= h >> 29;
    }
    return h;
  }

  counter received_, received_bytes_, acked_, nacked_, ack_failures_, redelivered_, resubscriptions_, reconnections_;
  std::mutex mu_;
  recent_keys recent_{remembered_messages};
};

// Sums per-partition stats into a total (names and gauges the caller sets), merging latencies.
inline void add_to_total(producer_stats& total, const producer_stats& part) {
  total.messages_sent += part.messages_sent;
  total.bytes_sent += part.bytes_sent;
  total.messages_acked += part.messages_acked;
  total.bytes_acked += part.bytes_acked;
  total.messages_failed += part.messages_failed;
  total.bytes_failed += part.bytes_failed;
  total.messages_retried += part.messages_retried;
  total.bytes_retried += part.bytes_retried;
  total.messages_refused += part.messages_refused;
  total.reconnections += part.reconnections;
  total.pending += part.pending;
  total.in_flight += part.in_flight;
}

inline void add_to_total(consumer_stats& total, const consumer_stats& part) {
  total.messages_received += part.messages_received;
  total.bytes_received += part.bytes_received;
  total.messages_acked += part.messages_acked;
  total.messages_nacked += part.messages_nacked;
  total.ack_failures += part.ack_failures;
  total.messages_redelivered += part.messages_redelivered;
  total.resubscriptions += part.resubscriptions;
  total.reconnections += part.reconnections;
  total.queue_depth += part.queue_depth;
}

}  // namespace danube::detail
