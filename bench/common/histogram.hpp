// A log-bucketed latency histogram (HDR-style): exact below 2^sub_bits, then every power of two
// split into 2^(sub_bits-1) buckets, so any value is known within 1/2^(sub_bits-1) (0.8% here)
// over the whole uint64 range in a fixed 30 KB. Values are nanoseconds by convention.
//
// `histogram` is single-threaded; `concurrent_histogram` records from any thread without a lock
// (relaxed atomic counters) and is read through snapshot(). Merge per-thread histograms with +=.
// Benchmark support, not part of the library.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

namespace danube_bench {

namespace histogram_layout {
inline constexpr unsigned sub_bits = 7;
inline constexpr std::uint64_t sub_count = std::uint64_t{1} << sub_bits;  // exact values below this
inline constexpr std::uint64_t half = sub_count / 2;                      // buckets per power of two above
inline constexpr std::size_t bucket_count = static_cast<std::size_t>(sub_count + (64 - sub_bits) * half);

[[nodiscard]] constexpr std::size_t index_of(std::uint64_t value) noexcept {
  const auto bits = static_cast<unsigned>(std::bit_width(value));
  if (bits <= sub_bits) {
    return static_cast<std::size_t>(value);
  }
  const unsigned shift = bits - sub_bits;
  const std::uint64_t top = value >> shift;  // in [half, sub_count)
  return static_cast<std::size_t>(sub_count + (shift - 1) * half + (top - half));
}

// The largest value that lands in bucket `index`.
[[nodiscard]] constexpr std::uint64_t upper_bound_of(std::size_t index) noexcept {
  if (index < sub_count) {
    return index;
  }
  const std::uint64_t offset = index - sub_count;
  const unsigned shift = static_cast<unsigned>(offset / half) + 1;
  const std::uint64_t top = half + offset % half;
  const std::uint64_t low = top << shift;
  return low + ((std::uint64_t{1} << shift) - 1);
}
}  // namespace histogram_layout

class histogram {
 public:
  histogram() : counts_(histogram_layout::bucket_count, 0) {}

  void record(std::uint64_t value) noexcept {
    ++counts_[histogram_layout::index_of(value)];
    ++count_;
    sum_ += static_cast<double>(value);
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }
  void record(std::chrono::nanoseconds value) noexcept {
    record(static_cast<std::uint64_t>(std::max<std::chrono::nanoseconds::rep>(value.count(), 0)));
  }

  histogram& operator+=(const histogram& other) {
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      counts_[i] += other.counts_[i];
    }
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    return *this;
  }

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return count_ == 0 ? 0 : max_; }
  [[nodiscard]] std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  [[nodiscard]] double mean() const noexcept { return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_); }

  // The value at quantile q in [0, 1] (0.99 for p99): the upper bound of the bucket holding the
  // ceil(q * count)-th smallest value, never above the largest value recorded.
  [[nodiscard]] std::uint64_t percentile(double q) const noexcept {
    if (count_ == 0) {
      return 0;
    }
    const auto rank = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_))));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        return std::min(histogram_layout::upper_bound_of(i), max_);
      }
    }
    return max_;
  }

 private:
  friend class concurrent_histogram;

  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  double sum_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

// Recorded from gRPC callback threads and readers at once: no lock on the hot path.
class concurrent_histogram {
 public:
  concurrent_histogram() : counts_(std::make_unique<std::atomic<std::uint64_t>[]>(histogram_layout::bucket_count)) {}

  void record(std::uint64_t value) noexcept {
    counts_[histogram_layout::index_of(value)].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
    auto seen = max_.load(std::memory_order_relaxed);
    while (value > seen && !max_.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
    seen = min_.load(std::memory_order_relaxed);
    while (value < seen && !min_.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
  }
  void record(std::chrono::nanoseconds value) noexcept {
    record(static_cast<std::uint64_t>(std::max<std::chrono::nanoseconds::rep>(value.count(), 0)));
  }

  // A consistent copy once recording has stopped (an approximate one while it goes on).
  [[nodiscard]] histogram snapshot() const {
    histogram out;
    for (std::size_t i = 0; i < histogram_layout::bucket_count; ++i) {
      out.counts_[i] = counts_[i].load(std::memory_order_relaxed);
      out.count_ += out.counts_[i];
    }
    out.sum_ = static_cast<double>(sum_.load(std::memory_order_relaxed));
    out.min_ = min_.load(std::memory_order_relaxed);
    out.max_ = max_.load(std::memory_order_relaxed);
    return out;
  }

 private:
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<std::uint64_t> sum_{0};
  std::atomic<std::uint64_t> min_{std::numeric_limits<std::uint64_t>::max()};
  std::atomic<std::uint64_t> max_{0};
};

}  // namespace danube_bench
