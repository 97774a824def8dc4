// The one bounded queue between a consumer's streams and its application. When it is full the
// streams stop reading (gRPC flow control then holds the broker back): nothing is ever dropped.
// Failures the application must hear about travel through it too, in order with the messages;
// repeated failures of one source (a partition) coalesce while undelivered, so a partition that
// keeps failing holds one entry, not one per attempt.
#pragma once

#include <danube/detail/deadline.hpp>
#include <danube/error.hpp>
#include <danube/message.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

namespace danube::detail {

// A stream that stopped reading because the queue was full.
class paused_reader {
 public:
  paused_reader() = default;
  paused_reader(const paused_reader&) = delete;
  paused_reader& operator=(const paused_reader&) = delete;
  virtual ~paused_reader() = default;
  virtual void resume() = 0;
};

class receive_queue {
 public:
  explicit receive_queue(std::size_t capacity)
      : capacity_(capacity), resume_at_(capacity - std::max<std::size_t>(1, capacity / 4)) {}

  // Adds a message. Returns true when the stream may read on; false when it must pause, in which
  // case `reader->resume()` is called once the queue has drained to three quarters of its
  // capacity (to capacity - 1 for capacities under 4). At most capacity + (number of streams)
  // messages are ever held. After close() the message is dropped and the stream told to stop; the
  // reader is not kept (it keeps this queue alive: holding it would leak both).
  [[nodiscard]] bool push(message m, const std::shared_ptr<paused_reader>& reader) {
    bool more = true;
    std::shared_ptr<const std::function<void()>> wake;  // a reference count, not a copy of the function
    {
      std::lock_guard lock(mu_);
      if (closed_) {
        return false;
      }
      entries_.push(std::move(m));
      ++messages_;
      queued_.store(entries_.size(), std::memory_order_release);
      last_push_.store(clock::now().time_since_epoch().count(), std::memory_order_relaxed);
      if (messages_ >= capacity_) {
        paused_.push_back(reader);
        more = false;
      }
      wake = on_ready_;
    }
    ready_.notify_one();
    if (wake) {
      (*wake)();
    }
    return more;
  }

  // A failure the application must hear about: delivered once, after the messages queued before
  // it. While a failure of the same `source` is still undelivered, it takes that one's place (the
  // newest reason, at the oldest position) instead of queuing another.
  void notify(error failure, std::string_view source = {}) {
    std::shared_ptr<const std::function<void()>> wake;
    {
      std::lock_guard lock(mu_);
      if (closed_) {
        return;
      }
      if (const auto it = undelivered_.find(source); it != undelivered_.end()) {
        std::get<sourced_error>(entries_.at(static_cast<std::size_t>(it->second - popped_))).failure =
            std::move(failure);
        return;  // already announced: no new wake-up
      }
      undelivered_.emplace(std::string(source), popped_ + entries_.size());
      entries_.push(sourced_error{std::move(failure), std::string(source)});
      queued_.store(entries_.size(), std::memory_order_release);
      wake = on_ready_;
    }
    ready_.notify_all();
    if (wake) {
      (*wake)();
    }
  }

  // The next message or failure notice; errc::timeout when none came within `timeout` (at once
  // for std::nullopt), errc::closed after close().
  [[nodiscard]] result<message> pop(std::optional<std::chrono::milliseconds> timeout) {
    if (timeout && timeout->count() > 0) {
      spin_();
    }
    std::unique_lock lock(mu_);
    if (auto ok = wait_(lock, timeout); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    if (auto failure = take_failure_()) {
      return std::unexpected(std::move(*failure));
    }
    auto out = std::get<message>(std::move(entries_.front()));
    entries_.pop();
    ++popped_;
    taken_(lock, 1);
    return out;
  }

  // Up to `max` messages at once (max >= 1), appended to `out` under one lock: waits like pop()
  // for the first, then takes what is queued, without waiting for more. A failure notice ends the
  // batch; it is returned as the error when it comes first, else on the next call.
  [[nodiscard]] result<void> pop_batch(std::vector<message>& out, std::size_t max,
                                       std::optional<std::chrono::milliseconds> timeout) {
    if (timeout && timeout->count() > 0) {
      spin_();
    }
    std::unique_lock lock(mu_);
    if (auto ok = wait_(lock, timeout); !ok) {
      return ok;
    }
    if (auto failure = take_failure_()) {
      return std::unexpected(std::move(*failure));
    }
    std::size_t taken = 0;
    out.reserve(out.size() + std::min(max, entries_.size()));
    while (taken < max && !entries_.empty()) {
      auto* m = std::get_if<message>(&entries_.front());
      if (m == nullptr) {
        break;  // a failure notice: delivered by the next call, after these messages
      }
      out.push_back(std::move(*m));
      entries_.pop();
      ++popped_;
      ++taken;
    }
    taken_(lock, taken);
    return {};
  }

  // Called (outside the lock, on the pushing thread) whenever something was queued.
  void on_ready(std::function<void()> wake) {
    bool waiting = false;
    {
      std::lock_guard lock(mu_);
      on_ready_ = wake ? std::make_shared<const std::function<void()>>(wake) : nullptr;
      waiting = !entries_.empty();
    }
    if (waiting && wake) {
      wake();
    }
  }

  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
  }

  [[nodiscard]] bool closed() const noexcept { return closed_flag_.load(std::memory_order_acquire); }

  // Ends the queue: pop() fails with errc::closed, later pushes are dropped, and the paused
  // readers are let go (released outside the lock).
  void close() {
    std::vector<std::shared_ptr<paused_reader>> paused;
    std::shared_ptr<const std::function<void()>> wake;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      closed_flag_.store(true, std::memory_order_release);
      paused.swap(paused_);
      wake.swap(on_ready_);
    }
    ready_.notify_all();
  }

 private:
  using clock = std::chrono::steady_clock;

  struct sourced_error {
    error failure;
    std::string source;
  };

  // Waits until something is queued or the queue is closed (the caller has spun, see spin_).
  [[nodiscard]] result<void> wait_(std::unique_lock<std::mutex>& lock,
                                   std::optional<std::chrono::milliseconds> timeout) {
    const auto ready = [&] { return closed_ || !entries_.empty(); };
    if (!timeout) {
      if (!ready()) {
        return unexpected_error(errc::timeout, "no message is waiting");
      }
    } else if (!ready_.wait_until(lock, deadline_after(*timeout), ready)) {
      return unexpected_error(errc::timeout, "no message arrived within " + std::to_string(timeout->count()) + " ms");
    }
    if (closed_) {
      return unexpected_error(errc::closed, "the consumer is closed");
    }
    return {};
  }

  // The failure notice at the front, taken (lock held), if that is what the front holds.
  [[nodiscard]] std::optional<error> take_failure_() {
    auto* failure = std::get_if<sourced_error>(&entries_.front());
    if (failure == nullptr) {
      return std::nullopt;
    }
    auto notice = std::move(failure->failure);
    undelivered_.erase(failure->source);
    entries_.pop();
    ++popped_;
    queued_.store(entries_.size(), std::memory_order_release);
    return notice;
  }

  // `count` messages were taken (lock held; released here): paused streams resume once the
  // queue has drained to three quarters. Not at the first free slot: a full queue would then
  // resume its streams for one message at a time, a thread hand-off per message. From three
  // quarters they refill it in a burst.
  void taken_(std::unique_lock<std::mutex>& lock, std::size_t count) {
    messages_ -= count;
    queued_.store(entries_.size(), std::memory_order_release);
    std::vector<std::shared_ptr<paused_reader>> resumed;
    if (messages_ <= resume_at_ && !paused_.empty()) {
      resumed.swap(paused_);
    }
    lock.unlock();
    for (const auto& reader : resumed) {
      reader->resume();
    }
  }

  // A FIFO of entries in a ring that only grows (to the most ever queued at once: the capacity
  // plus one message per stream, plus one failure notice per source): no allocation per message.
  class entry_ring {
   public:
    using entry = std::variant<message, sourced_error>;

    [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
    [[nodiscard]] std::size_t size() const noexcept { return count_; }
    [[nodiscard]] entry& front() noexcept { return slots_[head_]; }
    // The i-th entry from the front (i < size()).
    [[nodiscard]] entry& at(std::size_t i) noexcept { return slots_[(head_ + i) & (slots_.size() - 1)]; }
    void push(entry e) {
      if (count_ == slots_.size()) {
        grow_();
      }
      slots_[(head_ + count_) & (slots_.size() - 1)] = std::move(e);
      ++count_;
    }
    // Leaves a moved-from message (or notice) in the slot: it holds no buffer.
    void pop() noexcept {
      head_ = (head_ + 1) & (slots_.size() - 1);
      --count_;
    }

   private:
    void grow_() {
      std::vector<entry> bigger(std::max<std::size_t>(16, slots_.size() * 2));
      for (std::size_t i = 0; i < count_; ++i) {
        bigger[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
      }
      slots_ = std::move(bigger);
      head_ = 0;
    }

    std::vector<entry> slots_;  // a power of two in size
    std::size_t head_ = 0;
    std::size_t count_ = 0;
  };

  // While messages stream in faster than a thread wake-up costs (the last one came less than 50 us
  // ago), a receiver that finds the queue empty yields the CPU until the next one arrives or the
  // 50 us have passed, instead of sleeping and being woken for every message. Idle and slow
  // streams never spin.
  void spin_() const {
    constexpr auto window = std::chrono::duration_cast<clock::duration>(std::chrono::microseconds(50)).count();
    while (queued_.load(std::memory_order_acquire) == 0 &&
           clock::now().time_since_epoch().count() - last_push_.load(std::memory_order_relaxed) < window) {
      std::this_thread::yield();
    }
  }

  const std::size_t capacity_;
  const std::size_t resume_at_;  // paused streams resume once messages_ is down to this
  mutable std::mutex mu_;
  std::condition_variable ready_;
  entry_ring entries_;
  std::uint64_t popped_ = 0;  // entries taken so far: entries_[i] is number popped_ + i
  std::map<std::string, std::uint64_t, std::less<>> undelivered_;  // source -> number of its queued failure
  std::size_t messages_ = 0;
  std::atomic<std::size_t> queued_{0};    // entries_.size(), readable without the lock
  std::atomic<clock::rep> last_push_{0};  // when the last message was queued
  std::vector<std::shared_ptr<paused_reader>> paused_;
  std::shared_ptr<const std::function<void()>> on_ready_;
  bool closed_ = false;
  std::atomic<bool> closed_flag_{false};  // closed_, readable without the lock
};

}  // namespace danube::detail
