// The client's one background thread for timers: health checks, backoff waits, nack delays.
// Started on first use, stopped (and joined) by stop(); tasks must be short and never block.
//
// Tasks are kept in due order, so a tick costs O(log n) however many timers are pending. A task
// that is dropped (cancelled, or never run because the scheduler stopped) is destroyed outside the
// scheduler's lock: its destructor may complete a caller (detail/once_completion.hpp), which may
// call back into the scheduler.
#pragma once

#include <danube/detail/callback_scope.hpp>
#include <danube/detail/deadline.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
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
  // Returns 0 (and never runs the task) once the scheduler is stopped. Any duration type: a huge
  // delay (hours::max()) saturates here instead of overflowing in a conversion to milliseconds.
  template <class Rep, class Period>
  task_id schedule(std::chrono::duration<Rep, Period> delay, std::function<void()> task,
                   std::chrono::milliseconds period = std::chrono::milliseconds::zero()) {
    auto& s = *state_;
    std::lock_guard lock(s.mu);
    if (s.stopped) {
      return 0;
    }
    if (!s.worker.joinable()) {
      s.worker = std::thread([state = state_] { run(*state); });
      s.worker_id = s.worker.get_id();
    }
    const auto id = ++s.last_id;
    const auto due = deadline_after(delay);
    s.tasks.emplace(id, entry{due, period, std::make_shared<std::function<void()>>(std::move(task))});
    s.queue.emplace(due, id);
    s.wake.notify_one();
    return id;
  }

  // After cancel() returns the task will not start again; if it is running on the scheduler
  // thread right now, cancel waits for it to finish, unless called from that thread or from inside
  // a library callback (which never waits for another thread: docs/reliability.md).
  void cancel(task_id id) { remove_(id, !inside_callback()); }

  // The task will not start again; never waits for it (for tasks whose extra run is harmless).
  void discard(task_id id) { remove_(id, false); }

  // Drops every task and joins the thread: returns as soon as a running task finishes. From a
  // task itself, or from inside a library callback, it does not wait: the thread ends after its
  // current task.
  void stop() {
    auto& s = *state_;
    std::map<task_id, entry> dropped;
    std::thread worker;
    {
      std::lock_guard lock(s.mu);
      s.stopped = true;
      dropped.swap(s.tasks);
      s.queue.clear();
      worker = std::move(s.worker);
    }
    s.wake.notify_all();
    dropped.clear();
    join_or_let_go(std::move(worker));
  }

  // How many tasks are waiting to run (periodic ones count once).
  [[nodiscard]] std::size_t pending() const {
    std::lock_guard lock(state_->mu);
    return state_->tasks.size();
  }

 private:
  using task_ptr = std::shared_ptr<std::function<void()>>;

  struct entry {
    clock::time_point due;
    std::chrono::milliseconds period;
    task_ptr task;
  };

  struct shared_state {
    mutable std::mutex mu;
    std::condition_variable wake;
    std::condition_variable idle;
    std::map<task_id, entry> tasks;
    std::set<std::pair<clock::time_point, task_id>> queue;  // tasks by due time
    task_id last_id = 0;
    task_id running = 0;
    bool stopped = false;
    std::thread worker;
    std::thread::id worker_id;
  };

  void remove_(task_id id, bool wait_if_running) {
    auto& s = *state_;
    task_ptr dropped;  // destroyed after the lock is released (declared first)
    std::unique_lock lock(s.mu);
    if (const auto it = s.tasks.find(id); it != s.tasks.end()) {
      s.queue.erase({it->second.due, id});
      dropped = std::move(it->second.task);
      s.tasks.erase(it);
    }
    if (wait_if_running && s.running == id && std::this_thread::get_id() != s.worker_id) {
      s.idle.wait(lock, [&] { return s.running != id; });
    }
  }

  static void run(shared_state& s) {
    std::unique_lock lock(s.mu);
    while (!s.stopped) {
      if (s.queue.empty()) {
        s.wake.wait(lock);
        continue;
      }
      const auto [due, id] = *s.queue.begin();
      if (due > clock::now()) {
        s.wake.wait_until(lock, due);
        continue;
      }
      s.queue.erase(s.queue.begin());
      const auto it = s.tasks.find(id);
      auto task = it->second.task;
      if (it->second.period > std::chrono::milliseconds::zero()) {
        it->second.due = deadline_after(it->second.period);
        s.queue.emplace(it->second.due, id);
      } else {
        s.tasks.erase(it);
      }
      s.running = id;
      lock.unlock();
      (*task)();
      task.reset();  // release what the task holds before reporting idle, outside the lock
      lock.lock();
      s.running = 0;
      s.idle.notify_all();
    }
  }

  std::shared_ptr<shared_state> state_ = std::make_shared<shared_state>();
};

}  // namespace danube::detail
