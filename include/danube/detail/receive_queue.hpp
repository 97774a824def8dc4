// The one bounded queue between a consumer's streams and its application. When it is full the
// streams stop reading (gRPC flow control then holds the broker back): nothing is ever dropped.
// Failures the application must hear about travel through it too, in order with the messages.
#pragma once

#include <danube/error.hpp>
#include <danube/message.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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
  explicit receive_queue(std::size_t capacity) : capacity_(capacity) {}

  // Adds a message. Returns true when the stream may read on; false when it must pause, in which
  // case `reader->resume()` is called once there is room again. At most capacity + (number of
  // streams) messages are ever held.
  [[nodiscard]] bool push(message m, const std::shared_ptr<paused_reader>& reader) {
    bool more = true;
    std::function<void()> wake;
    {
      std::lock_guard lock(mu_);
      entries_.emplace_back(std::move(m));
      ++messages_;
      if (messages_ >= capacity_) {
        paused_.push_back(reader);
        more = false;
      }
      wake = on_ready_;
    }
    ready_.notify_one();
    if (wake) {
      wake();
    }
    return more;
  }

  // A failure the application must hear about: delivered once, after the messages queued before it.
  void notify(error failure) {
    std::function<void()> wake;
    {
      std::lock_guard lock(mu_);
      if (closed_) {
        return;
      }
      entries_.emplace_back(std::move(failure));
      wake = on_ready_;
    }
    ready_.notify_all();
    if (wake) {
      wake();
    }
  }

  // The next message or failure notice; errc::timeout when none came within `timeout` (at once
  // for std::nullopt), errc::closed after close().
  [[nodiscard]] result<message> pop(std::optional<std::chrono::milliseconds> timeout) {
    std::unique_lock lock(mu_);
    const auto ready = [&] { return closed_ || !entries_.empty(); };
    if (!timeout) {
      if (!ready()) {
        return unexpected_error(errc::timeout, "no message is waiting");
      }
    } else if (!ready_.wait_for(lock, *timeout, ready)) {
      return unexpected_error(errc::timeout, "no message arrived within " + std::to_string(timeout->count()) + " ms");
    }
    if (closed_) {
      return unexpected_error(errc::closed, "the consumer is closed");
    }
    auto entry = std::move(entries_.front());
    entries_.pop_front();
    if (std::holds_alternative<error>(entry)) {
      return std::unexpected(std::get<error>(std::move(entry)));
    }
    --messages_;
    std::vector<std::shared_ptr<paused_reader>> resumed;
    if (messages_ < capacity_) {
      resumed.swap(paused_);
    }
    lock.unlock();
    for (const auto& reader : resumed) {
      reader->resume();
    }
    return std::get<message>(std::move(entry));
  }

  // Called (outside the lock, on the pushing thread) whenever something was queued.
  void on_ready(std::function<void()> wake) {
    bool waiting = false;
    {
      std::lock_guard lock(mu_);
      on_ready_ = wake;
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

  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      paused_.clear();
      on_ready_ = nullptr;
    }
    ready_.notify_all();
  }

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::variant<message, error>> entries_;
  std::size_t messages_ = 0;
  std::vector<std::shared_ptr<paused_reader>> paused_;
  std::function<void()> on_ready_;
  bool closed_ = false;
};

}  // namespace danube::detail
