// The bound on a producer's unfinished sends (queued plus in flight, across its partitions).
#pragma once

#include <danube/detail/deadline.hpp>
#include <danube/error.hpp>
#include <danube/producer_options.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>

namespace danube::detail {

class pending_limiter {
 public:
  explicit pending_limiter(std::size_t limit) : limit_(limit) {}

  using clock = std::chrono::steady_clock;

  // Takes one slot: waits for room (block, at most until `deadline`) or fails at once (fail).
  [[nodiscard]] result<void> acquire(queue_full_policy policy, clock::time_point deadline) {
    std::unique_lock lock(mu_);
    if (closed_) {
      return unexpected_error(errc::closed, "the producer is closed");
    }
    if (used_ >= limit_) {
      if (policy == queue_full_policy::fail) {
        return unexpected_error(errc::queue_full,
                                "the producer's pending queue is full (" + std::to_string(limit_) + " messages)");
      }
      ++waiting_;
      const bool room = room_.wait_until(lock, deadline, [&] { return closed_ || used_ < limit_; });
      --waiting_;
      if (!room) {
        return unexpected_error(errc::timeout, "no room in the producer's pending queue within the send timeout");
      }
      if (closed_) {
        return unexpected_error(errc::closed, "the producer is closed");
      }
    }
    ++used_;
    return {};
  }
  [[nodiscard]] result<void> acquire(queue_full_policy policy, std::chrono::milliseconds wait) {
    return acquire(policy, deadline_after(wait));
  }

  // A waiting sender is woken as soon as a slot is free: one wake-up per freed slot, and none
  // while nobody waits.
  void release() {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      --used_;
      wake = waiting_ > 0;
    }
    if (wake) {
      room_.notify_one();
    }
  }

  // Wakes and fails every waiting sender; later acquires fail with errc::closed.
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    room_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable room_;
  std::size_t used_ = 0;
  std::size_t waiting_ = 0;  // senders blocked in acquire()
  const std::size_t limit_;
  bool closed_ = false;
};

}  // namespace danube::detail
