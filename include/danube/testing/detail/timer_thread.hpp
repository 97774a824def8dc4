// The embedded broker's one timer thread: ack timeouts, redelivery backoffs, nack delays, dispatch
// passes that must not run on the caller's thread, and dead-letter republishing all run here as
// timed tasks. Never a thread per message, subscription or stream.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace danube::testing::detail {

class timer_thread {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using task = std::function<void()>;

  timer_thread() = default;
  timer_thread(const timer_thread&) = delete;
  timer_thread& operator=(const timer_thread&) = delete;
  timer_thread(timer_thread&&) = delete;
  timer_thread& operator=(timer_thread&&) = delete;
  ~timer_thread() { stop(); }

  // Runs `work` on the timer thread at `when` (at once when it is past), after the tasks due
  // earlier. The thread starts with the first task. False once stopped (the task is dropped) or when
  // no thread can be started. Safe from any thread, tasks included; never blocks for long.
  bool schedule(time_point when, task work) {
    const std::lock_guard lock(mutex_);
    if (stopping_) {
      return false;
    }
    if (!thread_.joinable()) {
      try {
        thread_ = std::thread([this] { run_(); });
      } catch (...) {
        return false;
      }
    }
    tasks_.emplace(when, std::move(work));
    wake_.notify_one();
    return true;
  }

  // Drops the tasks not yet started, waits for the running one and joins the thread; later
  // schedule() calls are refused. Idempotent. Not from a task (it would wait for itself).
  void stop() noexcept {
    std::thread finished;
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
      tasks_.clear();
      finished = std::move(thread_);
      wake_.notify_one();
    }
    if (finished.joinable() && finished.get_id() != std::this_thread::get_id()) {
      finished.join();
    } else if (finished.joinable()) {
      finished.detach();
    }
  }

 private:
  void run_() noexcept {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (tasks_.empty()) {
        wake_.wait(lock);
        continue;
      }
      const auto due = tasks_.begin()->first;
      if (std::chrono::steady_clock::now() < due) {
        wake_.wait_until(lock, due);
        continue;
      }
      task work = std::move(tasks_.begin()->second);
      tasks_.erase(tasks_.begin());
      lock.unlock();
      try {
        work();
      } catch (...) {  // NOLINT(bugprone-empty-catch): a failing task must not end the timer thread
      }
      work = nullptr;  // destroyed without the lock: it may own references
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::multimap<time_point, task> tasks_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace danube::testing::detail
