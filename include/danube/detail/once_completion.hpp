// A completion that runs exactly once, by construction: the first call wins, later calls do
// nothing, and when the last copy is dropped without a call (a retry dropped by a stopping
// scheduler, a callback gRPC never ran) it runs with errc::closed. Copies share the one completion,
// so it can be captured by several continuations of which only one will run.
#pragma once

#include <danube/error.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <utility>

namespace danube::detail {

template <class T>
class once_completion {
 public:
  using function = std::function<void(result<T>)>;

  explicit once_completion(function f) : state_(std::make_shared<state>(std::move(f))) {}

  void operator()(result<T> outcome) const { state_->run(std::move(outcome)); }

 private:
  struct state {
    explicit state(function f) : fn(std::move(f)) {}
    state(const state&) = delete;
    state& operator=(const state&) = delete;
    ~state() { run(unexpected_error(errc::closed, "closed before the operation completed")); }

    void run(result<T> outcome) {
      if (ran.exchange(true, std::memory_order_acq_rel)) {
        return;
      }
      // Released before it runs: what it captured goes when it returns, not with the last copy.
      auto f = std::exchange(fn, nullptr);
      if (f) {
        f(std::move(outcome));
      }
    }

    std::atomic<bool> ran{false};
    function fn;
  };

  std::shared_ptr<state> state_;
};

}  // namespace danube::detail
