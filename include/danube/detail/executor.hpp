// The client's listener thread: runs message listeners (user code that may block, unlike the
// scheduler's tasks) one task at a time, in order. Started on first use; stop() joins it.
//
// A task is destroyed outside the executor's lock, after it ran or when stop() drops it: a
// listener that released the last reference to its client destroys the executor from its own task.
#pragma once

#include <danube/detail/callback_scope.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace danube::detail {

class executor {
 public:
  executor() = default;
  executor(const executor&) = delete;
  executor& operator=(const executor&) = delete;
  ~executor() { stop(); }

  // Queues `task`; false once stopped (the task is then dropped).
  bool post(std::function<void()> task) {
    {
      std::lock_guard lock(state_->mu);
      if (state_->stopped) {
        return false;
      }
      if (!state_->worker.joinable()) {
        state_->worker = std::thread([state = state_] { run(*state); });
      }
      state_->tasks.push_back(std::move(task));
    }
    state_->wake.notify_one();
    return true;
  }

  // Drops queued tasks and joins the thread once the running task (if any) returns. From a task
  // itself, or from inside any library callback, it does not wait: the thread ends after its
  // current task (which may be blocked on what the caller is doing: docs/reliability.md).
  void stop() {
    std::deque<std::function<void()>> dropped;
    std::thread worker;
    {
      std::lock_guard lock(state_->mu);
      state_->stopped = true;
      dropped.swap(state_->tasks);
      worker = std::move(state_->worker);
    }
    state_->wake.notify_all();
    dropped.clear();
    join_or_let_go(std::move(worker));
  }

 private:
  struct shared_state {
    std::mutex mu;
    std::condition_variable wake;
    std::deque<std::function<void()>> tasks;
    bool stopped = false;
    std::thread worker;
  };

  static void run(shared_state& state) {
    std::unique_lock lock(state.mu);
    for (;;) {
      state.wake.wait(lock, [&] { return state.stopped || !state.tasks.empty(); });
      if (state.stopped) {
        return;
      }
      auto task = std::move(state.tasks.front());
      state.tasks.pop_front();
      lock.unlock();
      task();
      task = nullptr;  // may destroy this executor's owner, and the executor with it
      lock.lock();
    }
  }

  std::shared_ptr<shared_state> state_ = std::make_shared<shared_state>();
};

}  // namespace danube::detail
