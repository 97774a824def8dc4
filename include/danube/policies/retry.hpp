// Built-in retry policies (namespace danube::retry). Each models danube::retry_policy.
// A duration or count of zero means "use the default".
#pragma once

#include <danube/error.hpp>
#include <danube/policies/concepts.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

namespace danube::retry {

namespace detail {
// Uniform in [d/2, d]: spreads retries of many clients without ever waiting longer than d.
[[nodiscard]] inline std::chrono::milliseconds jittered(std::chrono::milliseconds d) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  if (d.count() <= 1) {
    return d;
  }
  std::uniform_int_distribution<std::int64_t> pick(d.count() / 2, d.count());
  return std::chrono::milliseconds(pick(rng));
}
}  // namespace detail

// Never retry: every error goes straight to the caller.
struct none {
  [[nodiscard]] std::optional<std::chrono::milliseconds> next_delay(const error& /*unused*/,
                                                                    unsigned /*unused*/) const {
    return std::nullopt;
  }
};

// Doubling delays with jitter: attempt k waits uniform [d/2, d], d = min(base * 2^(k-1), cap).
// Defaults: 5 retries, 200 ms base, 5 s cap.
struct exponential_backoff {
  unsigned max_retries = 0;
  std::chrono::milliseconds base{0};
  std::chrono::milliseconds cap{0};

  static constexpr unsigned default_max_retries = 5;
  static constexpr std::chrono::milliseconds default_base{200};
  static constexpr std::chrono::milliseconds default_cap{5000};

  [[nodiscard]] std::optional<std::chrono::milliseconds> next_delay(const error& /*unused*/, unsigned attempt) const {
    const unsigned limit = max_retries == 0 ? default_max_retries : max_retries;
    if (attempt == 0 || attempt > limit) {
      return std::nullopt;
    }
    const auto b = base.count() == 0 ? default_base : base;
    const auto c = cap.count() == 0 ? default_cap : cap;
    auto d = b;
    for (unsigned k = 1; k < attempt && d < c; ++k) {
      d *= 2;
    }
    return detail::jittered(std::min(d, c));
  }
};

// The Rust client's schedule: attempt k waits uniform [d/2, d], d = min(base * k, cap).
// Defaults: 5 retries, 200 ms base, 5 s cap (100-200, 200-400, ... 500-1000 ms).
struct linear_backoff {
  unsigned max_retries = 0;
  std::chrono::milliseconds base{0};
  std::chrono::milliseconds cap{0};

  [[nodiscard]] std::optional<std::chrono::milliseconds> next_delay(const error& /*unused*/, unsigned attempt) const {
    const unsigned limit = max_retries == 0 ? exponential_backoff::default_max_retries : max_retries;
    if (attempt == 0 || attempt > limit) {
      return std::nullopt;
    }
    const auto b = base.count() == 0 ? exponential_backoff::default_base : base;
    const auto c = cap.count() == 0 ? exponential_backoff::default_cap : cap;
    return detail::jittered(std::min(b * attempt, c));
  }
};

static_assert(retry_policy<none>);
static_assert(retry_policy<exponential_backoff>);
static_assert(retry_policy<linear_backoff>);

}  // namespace danube::retry
