// The client's one background thread: timers for health checks, backoff waits and nack delays.
// Started on first use, stopped (and joined) by stop(); tasks must be short and never block.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace danube::detail {

class scheduler {
 public:
  using clock = std::chrono::steady_clock;
  using task_id = std::uint64_t;

  scheduler() = default;
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;
  ~scheduler() { stop(); }

  // Runs `task` after `delay`, then every `period` if one is given. Returns an id for cancel().
  // Returns 0 (and never runs the task) once the scheduler is stopped.
  task_id schedule(std::chrono::milliseconds delay, std::function<void()> task,
                   std::chrono::milliseconds period = std::chrono::milliseconds::zero()) {
    std::lock_guard lock(mu_);
    if (stopped_) {
      return 0;
    }
    if (!worker_.joinable()) {
      worker_ = std::thread([this] { run_(); });
    }
    const auto id = ++last_id_;
    tasks_.emplace(id, entry{clock::now() + delay, period, std::move(task)});
    wake_.notify_one();
    return id;
  }

  // After cancel() returns the task will not start again; if it is running on the scheduler
  // thread right now (and cancel is called from elsewhere), cancel waits for it to finish.
  void cancel(task_id id) {
    std::unique_lock lock(mu_);
    tasks_.erase(id);
    if (running_ == id && std::this_thread::get_id() != worker_.get_id()) {
      idle_.wait(lock, [&] { return running_ != id; });
    }
  }

  // Drops every task and joins the thread: returns as soon as a running task finishes.
  void stop() {
    std::thread worker;
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
      tasks_.clear();
      worker = std::move(worker_);
    }
    wake_.notify_all();
    if (worker.joinable() && worker.get_id() != std::this_thread::get_id()) {
      worker.join();
    } else if (worker.joinable()) {
      worker.detach();  // stop() from a task: the thread ends right after this task returns
    }
  }

 private:
  struct entry {
    clock::time_point due;
    std::chrono::milliseconds period;
    std::function<void()> task;
  };

  void run_() {
    std::unique_lock lock(mu_);
    while (!stopped_) {
      auto next = tasks_.end();
      for (auto it = tasks_.begin(); it != tasks_.end(); ++it) {
        if (next == tasks_.end() || it->second.due < next->second.due) {
          next = it;
        }
      }
      if (next == tasks_.end()) {
        wake_.wait(lock);
        continue;
      }
      if (next->second.due > clock::now()) {
        wake_.wait_until(lock, next->second.due);
        continue;
      }
      const auto id = next->first;
      auto task = next->second.task;
      if (next->second.period > std::chrono::milliseconds::zero()) {
        next->second.due = clock::now() + next->second.period;
      } else {
        tasks_.erase(next);
      }
      running_ = id;
      lock.unlock();
      task();
      lock.lock();
      running_ = 0;
      idle_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::map<task_id, entry> tasks_;
  task_id last_id_ = 0;
  task_id running_ = 0;
  bool stopped_ = false;
  std::thread worker_;
};

}  // namespace danube::detail
