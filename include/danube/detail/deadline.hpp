// Deadlines from durations that come from users (a send timeout, a flush or receive timeout, a
// retry policy's delay): `now + d` overflows the clock's count for a huge `d` (milliseconds::max()
// as "wait for ever"), which is undefined behaviour and in practice a deadline in the past. These
// saturate at the clock's end instead.
#pragma once

#include <chrono>

namespace danube::detail {

// `now + d`, or the clock's last time point if that is later; `now` for d <= 0.
template <class Clock = std::chrono::steady_clock, class Rep, class Period>
[[nodiscard]] typename Clock::time_point deadline_after(std::chrono::duration<Rep, Period> d,
                                                        typename Clock::time_point now = Clock::now()) {
  if (d <= d.zero()) {
    return now;
  }
  const auto room = Clock::time_point::max() - now;  // in the clock's own unit: no overflow
  if (std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(room) <= d) {
    return Clock::time_point::max();
  }
  return now + std::chrono::duration_cast<typename Clock::duration>(d);
}

// The deadline of one RPC attempt for the time left until `deadline`: at most a day (gRPC adds it
// to the system clock, which a saturated deadline would overflow; a longer send retries).
[[nodiscard]] inline std::chrono::milliseconds attempt_timeout(std::chrono::steady_clock::time_point deadline,
                                                               std::chrono::steady_clock::time_point now) {
  constexpr std::chrono::milliseconds longest = std::chrono::hours(24);
  if (deadline <= now) {
    return std::chrono::milliseconds(1);
  }
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
  return left < longest ? left : longest;
}

}  // namespace danube::detail
