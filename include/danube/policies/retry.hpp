// Built-in retry policies (namespace danube::retry). Each models danube::retry_policy.
// Every field means what it says: max_retries = 0 is no retry, and the defaults are the member
// initialisers. validate() (called by the producer and consumer builders) refuses a base delay
// below 1 ms, which would make the library's never-ending loops (a consumer re-subscribing) spin.
#pragma once

#include <danube/error.hpp>
#include <danube/policies/concepts.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

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

// The checks both backoffs share: a positive base delay, a cap not below it.
[[nodiscard]] inline result<void> validate_backoff(std::string_view policy, std::chrono::milliseconds base,
                                                   std::chrono::milliseconds cap) {
  if (base < std::chrono::milliseconds(1)) {
    return unexpected_error(errc::invalid_argument, std::string(policy) +
                                                        ": the base delay must be at least 1 ms (it is " +
                                                        std::to_string(base.count()) +
                                                        " ms); to never retry, set max_retries = 0 or use retry::none");
  }
  if (cap < base) {
    return unexpected_error(errc::invalid_argument, std::string(policy) + ": the cap (" + std::to_string(cap.count()) +
                                                        " ms) must not be below the base delay (" +
                                                        std::to_string(base.count()) + " ms)");
  }
  return {};
}
}  // namespace detail

// Never retry: every error goes straight to the caller.
struct none {
  [[nodiscard]] std::optional<std::chrono::milliseconds> next_delay(const error& /*unused*/,
                                                                    unsigned /*unused*/) const {
    return std::nullopt;
  }
};

// Doubling delays with jitter: retry k (from 1) waits uniform [d/2, d], d = min(base * 2^(k-1), cap),
// for k <= max_retries.
struct exponential_backoff {
  unsigned max_retries = 5;
  std::chrono::milliseconds base{200};
  std::chrono::milliseconds cap{5000};

  [[nodiscard]] result<void> validate() const {
    return detail::validate_backoff("retry::exponential_backoff", base, cap);
  }

  [[nodiscard]] std::optional<std::chrono::milliseconds> next_delay(const error& /*unused*/, unsigned attempt) const {
    if (attempt == 0 || attempt > max_retries) {
      return std::nullopt;
    }
    auto d = std::min(base, cap);
    for (unsigned k = 1; k < attempt && d < cap; ++k) {
      d = d > cap / 2 ? cap : d * 2;  // saturates: never overflows
    }
    return detail::jittered(std::max(d, std::chrono::milliseconds::zero()));
  }
};

// The Rust client's schedule: retry k waits uniform [d/2, d], d = min(base * k, cap), for
// k <= max_retries (100-200, 200-400, ... 500-1000 ms by default).
struct linear_backoff {
  unsigned max_retries = 5;
  std::chrono::milliseconds base{200};
  std::chrono::milliseconds cap{5000};

  [[nodiscard]] result<void> validate() const { return detail::validate_backoff("retry::linear_backoff", base, cap); }

  [[nodiscard]] std::optional<std::chrono::milliseconds> next_delay(const error& /*unused*/, unsigned attempt) const {
    if (attempt == 0 || attempt > max_retries) {
      return std::nullopt;
    }
    const bool saturated = base.count() > 0 && base.count() > cap.count() / static_cast<std::int64_t>(attempt);
    const auto d = saturated ? cap : std::min(base * static_cast<std::int64_t>(attempt), cap);
    return detail::jittered(std::max(d, std::chrono::milliseconds::zero()));
  }
};

static_assert(retry_policy<none>);
static_assert(retry_policy<exponential_backoff>);
static_assert(retry_policy<linear_backoff>);

}  // namespace danube::retry
