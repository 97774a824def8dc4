// The client's one background thread for timers: health checks, backoff waits, nack delays.
// Started on first use, stopped (and joined) by stop(); tasks must be short and never block.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
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
  ~scheduler() {
    stop();
    if (worker_.joinable()) {
      // Destroyed from its own task (the owner was released there): the thread finishes that task
      // and returns; the state it uses is shared, so it outlives this object.
      worker_.detach();
    }
  }

  // Runs `task` after `delay`, then every `period` if one is given. Returns an id for cancel().
  // Returns 0 (and never runs the task) once the scheduler is stopped.
  task_id schedule(std::chrono::milliseconds delay, std::function<void()> task,
                   std::chrono::milliseconds period = std::chrono::milliseconds::zero()) {
    auto& s = *state_;
    std::lock_guard lock(s.mu);
    if (s.stopped) {
      return 0;
    }
    if (!worker_.joinable()) {
      worker_ = std::thread([state = state_] { run(*state); });
    }
    const auto id = ++s.last_id;
    s.tasks.emplace(id, entry{clock::now() + delay, period, std::move(task)});
    s.wake.notify_one();
    return id;
  }

  // After cancel() returns the task will not start again; if it is running on the scheduler
  // thread right now (and cancel is called from elsewhere), cancel waits for it to finish.
  void cancel(task_id id) {
    auto& s = *state_;
    std::unique_lock lock(s.mu);
    s.tasks.erase(id);
    if (s.running == id && std::this_thread::get_id() != worker_.get_id()) {
      s.idle.wait(lock, [&] { return s.running != id; });
    }
  }

  // Drops every task and joins the thread: returns as soon as a running task finishes. From a
  // task itself it only marks the scheduler stopped: the thread ends after that task.
  void stop() {
    {
      std::lock_guard lock(state_->mu);
      state_->stopped = true;
      state_->tasks.clear();
    }
    state_->wake.notify_all();
    if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) {
      worker_.join();
    }
  }

 private:
  struct entry {
    clock::time_point due;
    std::chrono::milliseconds period;
    std::function<void()> task;
  };

  struct shared_state {
    std::mutex mu;
    std::condition_variable wake;
    std::condition_variable idle;
    std::map<task_id, entry> tasks;
    task_id last_id = 0;
    task_id running = 0;
    bool stopped = false;
  };

  static void run(shared_state& s) {
    std::unique_lock lock(s.mu);
    while (!s.stopped) {
      auto next = s.tasks.end();
      for (auto it = s.tasks.begin(); it != s.tasks.end(); ++it) {
        if (next == s.tasks.end() || it->second.due < next->second.due) {
          next = it;
        }
      }
      if (next == s.tasks.end()) {
        s.wake.wait(lock);
        continue;
      }
      if (const auto due = next->second.due; due > clock::now()) {
        s.wake.wait_until(lock, due);  // a copy: the entry may be erased while we wait
        continue;
      }
      const auto id = next->first;
      auto task = next->second.task;
      if (next->second.period > std::chrono::milliseconds::zero()) {
        next->second.due = clock::now() + next->second.period;
      } else {
        s.tasks.erase(next);
      }
      s.running = id;
      lock.unlock();
      task();
      task = nullptr;  // release what the task holds before reporting idle
      lock.lock();
      s.running = 0;
      s.idle.notify_all();
    }
  }

  std::shared_ptr<shared_state> state_ = std::make_shared<shared_state>();
  std::thread worker_;
};

}  // namespace danube::detail
