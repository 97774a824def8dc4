// Runs an operation under a retry policy: retryable failures are tried again after the policy's
// delay; anything else, or the policy giving up, goes back to the caller.
#pragma once

#include <danube/detail/scheduler.hpp>
#include <danube/error.hpp>

#include <algorithm>
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
// policy still allows runs `again()` on `timers` after the policy's delay; anything else goes to
// `give_up(error)`, with errc::closed when the owner (`closed`) or the scheduler (the client) is.
template <class Again, class GiveUp>
void retry_later(scheduler& timers, const retry_schedule& schedule, error failure, unsigned attempt, bool closed,
                 Again again, GiveUp give_up) {
  if (closed) {
    give_up(error(errc::closed, "closed while retrying (" + failure.message() + ")"));
    return;
  }
  const auto delay = failure.retryable() ? schedule(failure, attempt) : std::nullopt;
  if (!delay) {
    give_up(std::move(failure));
    return;
  }
  if (timers.schedule(*delay, std::move(again)) == 0) {
    give_up(error(errc::closed, "the client is closed"));
  }
}

// Consecutive failures of work that is retried for as long as its owner lives (a consumer
// repairing its stream): the n-th failure waits the policy's delay for attempt n; once the policy
// gives up, the longest delay it gave (1 s if it never gave one) from then on. The policy itself is
// asked by the caller, outside its locks (it is user code): next_attempt(), then delay(asked).
class persistent_backoff {
 public:
  [[nodiscard]] unsigned next_attempt() noexcept {
    if (failures_ < max_counted) {
      ++failures_;
    }
    return failures_;
  }

  [[nodiscard]] std::chrono::milliseconds delay(std::optional<std::chrono::milliseconds> asked) noexcept {
    if (asked) {
      longest_ = std::max(longest_, *asked);
      return *asked;
    }
    return longest_ > std::chrono::milliseconds::zero() ? longest_ : std::chrono::milliseconds(1000);
  }

  // The work succeeded: the next failure starts the schedule over.
  void reset() noexcept { failures_ = 0; }

 private:
  static constexpr unsigned max_counted = 1'000'000;
  unsigned failures_ = 0;
  std::chrono::milliseconds longest_{0};
};

}  // namespace danube::detail
