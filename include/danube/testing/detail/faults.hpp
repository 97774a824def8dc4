// The fault-injection settings of one broker and its per-method call counters. Thread-safe: tests
// change them while gRPC threads read them.
#pragma once

#include <danube/testing/rpc.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include <grpcpp/support/status.h>

namespace danube::testing::detail {

class fault_table {
 public:
  // Counts a call of `method` (every call that reaches the broker, refused or not).
  void count(rpc method) noexcept { calls_[index_(method)].fetch_add(1, std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t calls(rpc method) const noexcept {
    return calls_[index_(method)].load(std::memory_order_relaxed);
  }

  // The next `count` calls of `method` fail with `status`. Queued after earlier requests.
  void fail_next(rpc method, std::size_t count, grpc::Status status) {
    if (count == 0) {
      return;
    }
    const std::lock_guard lock(mutex_);
    failures_[index_(method)].emplace_back(count, std::move(status));
  }

  // The status the current call of `method` must fail with, if one is due.
  [[nodiscard]] std::optional<grpc::Status> take_failure(rpc method) {
    const std::lock_guard lock(mutex_);
    auto& queue = failures_[index_(method)];
    if (queue.empty()) {
      return std::nullopt;
    }
    auto& [remaining, status] = queue.front();
    std::optional<grpc::Status> due(status);
    if (--remaining == 0) {
      queue.pop_front();
    }
    return due;
  }

  void set_delay(rpc method, std::chrono::milliseconds delay) {
    const std::lock_guard lock(mutex_);
    delays_[index_(method)] = delay;
  }
  [[nodiscard]] std::chrono::milliseconds delay(rpc method) const {
    const std::lock_guard lock(mutex_);
    return delays_[index_(method)];
  }

  void set_never_answer(rpc method, bool never) {
    const std::lock_guard lock(mutex_);
    never_[index_(method)] = never;
  }
  [[nodiscard]] bool never_answer(rpc method) const {
    const std::lock_guard lock(mutex_);
    return never_[index_(method)];
  }

  // The next `count` TopicLookup calls answer LookupType Failed.
  void answer_lookup_failed(std::size_t count) {
    const std::lock_guard lock(mutex_);
    lookup_failures_ += count;
  }
  [[nodiscard]] bool take_lookup_failed() {
    const std::lock_guard lock(mutex_);
    if (lookup_failures_ == 0) {
      return false;
    }
    --lookup_failures_;
    return true;
  }

  // HealthCheck answers CLOSE for `id` (a producer or consumer id) while set.
  void answer_close(std::uint64_t id, bool close) {
    const std::lock_guard lock(mutex_);
    if (close) {
      closed_ids_.insert(id);
    } else {
      closed_ids_.erase(id);
    }
  }
  void answer_close_for_all(bool close) {
    const std::lock_guard lock(mutex_);
    close_all_ = close;
  }
  [[nodiscard]] bool forced_close(std::uint64_t id) const {
    const std::lock_guard lock(mutex_);
    return close_all_ || closed_ids_.contains(id);
  }

  // Forgets every injected fault (the counters stay).
  void clear() {
    const std::lock_guard lock(mutex_);
    for (auto& queue : failures_) {
      queue.clear();
    }
    delays_.fill(std::chrono::milliseconds::zero());
    never_.fill(false);
    lookup_failures_ = 0;
    closed_ids_.clear();
    close_all_ = false;
  }

 private:
  [[nodiscard]] static constexpr std::size_t index_(rpc method) noexcept {
    const auto i = static_cast<std::size_t>(method);
    return i < rpc_count ? i : rpc_count - 1;
  }

  std::array<std::atomic<std::uint64_t>, rpc_count> calls_{};
  mutable std::mutex mutex_;
  std::array<std::deque<std::pair<std::size_t, grpc::Status>>, rpc_count> failures_;
  std::array<std::chrono::milliseconds, rpc_count> delays_{};
  std::array<bool, rpc_count> never_{};
  std::size_t lookup_failures_ = 0;
  std::set<std::uint64_t> closed_ids_;
  bool close_all_ = false;
};

}  // namespace danube::testing::detail
