// The client's listener thread: runs message listeners (user code that may block, unlike the
// scheduler's tasks) one task at a time, in order. Started on first use; stop() joins it.
#pragma once

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
  ~executor() {
    stop();
    if (worker_.joinable()) {
      // Destroyed from its own task (the owner was released there): the thread finishes that task
      // and returns; the state it uses is shared, so it outlives this object.
      worker_.detach();
    }
  }

  // Queues `task`; false once stopped (the task is then dropped).
  bool post(std::function<void()> task) {
    {
      std::lock_guard lock(state_->mu);
      if (state_->stopped) {
        return false;
      }
      if (!worker_.joinable()) {
        worker_ = std::thread([state = state_] { run(*state); });
      }
      state_->tasks.push_back(std::move(task));
    }
    state_->wake.notify_one();
    return true;
  }

  // Drops queued tasks and joins the thread once the running task (if any) returns. From a task
  // itself it only marks the executor stopped: the thread ends after that task.
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
  struct shared_state {
    std::mutex mu;
    std::condition_variable wake;
    std::deque<std::function<void()>> tasks;
    bool stopped = false;
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
      lock.lock();
    }
  }

  std::shared_ptr<shared_state> state_ = std::make_shared<shared_state>();
  std::thread worker_;
};

}  // namespace danube::detail
