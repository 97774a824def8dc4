// A bound on a piece of test code that might deadlock: the code runs on its own thread and the
// test waits for it at most `bound`. A deadlock then fails the check that called it, with its name,
// instead of hanging the test process until CTest kills it (which names no cell of a matrix).
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <typeinfo>
#include <utility>

namespace danube_test {

// What became of the watched code: returned, threw (the exception's what()), or is still running.
struct watched {
  bool returned = false;
  std::optional<std::string> exception;

  [[nodiscard]] bool ok() const noexcept { return returned && !exception; }
  [[nodiscard]] std::string describe() const {
    if (!returned) {
      return "did not return within its bound (deadlock?)";
    }
    return exception ? "threw " + *exception : "returned";
  }
};

// Runs `body` on a new thread and waits up to `bound` for it to return. A body that does not
// return in time is left running on a detached thread (a deadlocked thread cannot be stopped), so
// it must own what it uses: capture shared_ptrs by value, never locals by reference.
template <class Body>
[[nodiscard]] watched run_bounded(std::chrono::milliseconds bound, Body body) {
  struct state {
    std::mutex mu;
    std::condition_variable done;
    bool returned = false;
    std::optional<std::string> exception;
  };
  auto s = std::make_shared<state>();
  std::thread worker([s, body = std::move(body)]() mutable {
    std::optional<std::string> thrown;
    try {
      body();
    } catch (const std::exception& e) {
      thrown = std::string(typeid(e).name()) + ": " + e.what();
    } catch (...) {
      thrown = "a non-standard exception";
    }
    {
      std::lock_guard lock(s->mu);
      s->returned = true;
      s->exception = std::move(thrown);
    }
    s->done.notify_all();
  });
  std::unique_lock lock(s->mu);
  if (!s->done.wait_for(lock, bound, [&] { return s->returned; })) {
    lock.unlock();
    worker.detach();
    return {};
  }
  lock.unlock();
  worker.join();
  return {true, s->exception};
}

}  // namespace danube_test
