// Paces a loop at a fixed rate. acquire() returns the *intended* time of each permit, and that is
// where latency is measured from: a send that starts late because the sender fell behind counts
// its wait, so the results do not suffer from coordinated omission.
// Benchmark support, not part of the library.
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>

namespace danube_bench {

class rate_limiter {
 public:
  using clock = std::chrono::steady_clock;

  // `per_second` <= 0: unlimited (acquire() never waits and returns now()).
  explicit rate_limiter(double per_second, clock::time_point start = clock::now())
      : start_(start), interval_ns_(per_second > 0 ? 1e9 / per_second : 0.0) {}

  // Waits until the next permit is due and returns when it was due.
  clock::time_point acquire() {
    if (interval_ns_ <= 0) {
      return clock::now();
    }
    const auto due =
        start_ + std::chrono::nanoseconds(static_cast<std::int64_t>(interval_ns_ * static_cast<double>(issued_)));
    ++issued_;
    if (clock::now() < due) {
      std::this_thread::sleep_until(due);
    }
    return due;
  }

  [[nodiscard]] std::uint64_t issued() const noexcept { return issued_; }

 private:
  clock::time_point start_;
  double interval_ns_;
  std::uint64_t issued_ = 0;
};

}  // namespace danube_bench
