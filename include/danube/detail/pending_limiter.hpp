// The bound on a producer's unfinished sends (queued plus in flight, across its partitions).
#pragma once

#include <danube/error.hpp>
#include <danube/producer_options.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>

namespace danube::detail {

class pending_limiter {
 public:
  explicit pending_limiter(std::size_t limit) : limit_(limit) {}

  // Takes one slot: waits for room (block, at most `wait`) or fails at once (fail).
  [[nodiscard]] result<void> acquire(queue_full_policy policy, std::chrono::milliseconds wait) {
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
      const bool room = room_.wait_for(lock, wait, [&] { return closed_ || used_ < limit_; });
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

  // Waiting senders are woken in batches, once a sixteenth of the limit is free again (at every
  // release for limits under 32): a sender blocked on a full queue then queues a burst per
  // wake-up instead of paying a thread wake-up per message. It never waits longer than it takes
  // that many earlier sends (each bounded by its send timeout) to finish.
  void release() {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      --used_;
      wake = waiting_ > 0 && used_ + wake_batch_ <= limit_;
    }
    if (wake) {
      room_.notify_all();
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
  const std::size_t wake_batch_ = std::max<std::size_t>(1, limit_ / 16);
  bool closed_ = false;
};

}  // namespace danube::detail
