// The one bounded queue between a consumer's streams and its application. When it is full the
// streams stop reading (gRPC flow control then holds the broker back): nothing is ever dropped.
#pragma once

#include <danube/error.hpp>
#include <danube/message.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
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
  // case `reader->resume()` is called once there is room again.
  [[nodiscard]] bool push(message m, const std::shared_ptr<paused_reader>& reader) {
    bool more = true;
    {
      std::lock_guard lock(mu_);
      messages_.push_back(std::move(m));
      if (messages_.size() >= capacity_) {
        paused_.push_back(reader);
        more = false;
      }
    }
    ready_.notify_one();
    return more;
  }

  // A failure the application must hear about (after the messages already queued).
  void fail(error failure) {
    {
      std::lock_guard lock(mu_);
      if (!failure_) {
        failure_ = std::move(failure);
      }
    }
    ready_.notify_all();
  }

  [[nodiscard]] result<message> pop(std::optional<std::chrono::milliseconds> timeout) {
    std::unique_lock lock(mu_);
    const auto ready = [&] { return closed_ || !messages_.empty() || failure_.has_value(); };
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
    if (messages_.empty()) {
      return std::unexpected(*failure_);
    }
    auto m = std::move(messages_.front());
    messages_.pop_front();
    std::vector<std::shared_ptr<paused_reader>> resumed;
    if (messages_.size() < capacity_) {
      resumed.swap(paused_);
    }
    lock.unlock();
    for (const auto& reader : resumed) {
      reader->resume();
    }
    return m;
  }

  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock(mu_);
    return messages_.size();
  }

  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      paused_.clear();
    }
    ready_.notify_all();
  }

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::deque<message> messages_;
  std::vector<std::shared_ptr<paused_reader>> paused_;
  std::optional<error> failure_;
  bool closed_ = false;
};

}  // namespace danube::detail
