// Runs an operation under a retry policy: retryable failures are tried again after the policy's
// delay; anything else, or the policy giving up, goes back to the caller.
#pragma once

#include <danube/detail/scheduler.hpp>
#include <danube/error.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <utility>

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

// The non-blocking counterpart of with_retries, for one failed attempt: a retryable failure the
// policy still allows runs `again()` on `timers` after the policy's delay; anything else (or a
// stopped scheduler: the client is closing) goes to `give_up(error)`.
template <class Again, class GiveUp>
void retry_later(scheduler& timers, const retry_schedule& schedule, error failure, unsigned attempt, bool closed,
                 Again again, GiveUp give_up) {
  const auto delay = failure.retryable() && !closed ? schedule(failure, attempt) : std::nullopt;
  if (!delay) {
    give_up(std::move(failure));
    return;
  }
  if (timers.schedule(*delay, std::move(again)) == 0) {
    give_up(error(errc::closed, "the client is closed"));
  }
}

}  // namespace danube::detail
