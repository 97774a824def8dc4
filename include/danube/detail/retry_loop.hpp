// Runs an operation under a retry policy: retryable failures are tried again after the policy's
// delay; anything else, or the policy giving up, goes back to the caller.
#pragma once

#include <danube/error.hpp>

#include <chrono>
#include <functional>
#include <optional>

namespace danube::detail {

// A retry policy with its type erased (the policy object itself is shared with its owner).
using retry_schedule = std::function<std::optional<std::chrono::milliseconds>(const error&, unsigned)>;

// `attempt()` -> result<T>; `wait(delay)` -> false when the owner closed during the wait (the loop
// then stops with errc::closed). Every attempt re-runs the whole operation, lookup included.
template <class Attempt, class Wait>
[[nodiscard]] auto with_retries(const retry_schedule& schedule, Attempt attempt, Wait wait) -> decltype(attempt()) {
  for (unsigned retry = 1;; ++retry) {
    auto outcome = attempt();
    if (outcome || !outcome.error().retryable()) {
      return outcome;
    }
    const auto delay = schedule(outcome.error(), retry);
    if (!delay) {
      return outcome;
    }
    if (!wait(*delay)) {
      return unexpected_error(errc::closed, "closed while waiting to retry: " + outcome.error().message());
    }
  }
}

}  // namespace danube::detail
