// Which kind of library callback the current thread is running, if any. The reentrancy rules of
// docs/reliability.md are decided here: a call that would wait for the library's own threads
// refuses to run inside a callback that must not block (the thread it would wait for may be this
// one), and close() never waits inside any callback (what is left completes after it returns).
#pragma once

#include <danube/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace danube::detail {

enum class callback_kind : std::uint8_t {
  none,
  listener,    // message and error listeners, on the client's listener thread: may block
  completion,  // send and ack completions, the token supplier, the logger: must not block
};

[[nodiscard]] inline callback_kind& current_callback_kind() noexcept {
  thread_local callback_kind kind = callback_kind::none;
  return kind;
}

// Marks the current thread as running a callback of `kind` while it lives (they nest).
class callback_scope {
 public:
  explicit callback_scope(callback_kind kind) noexcept : previous_(std::exchange(current_callback_kind(), kind)) {}
  callback_scope(const callback_scope&) = delete;
  callback_scope& operator=(const callback_scope&) = delete;
  ~callback_scope() { current_callback_kind() = previous_; }

 private:
  callback_kind previous_;
};

[[nodiscard]] inline bool inside_callback() noexcept { return current_callback_kind() != callback_kind::none; }

// The refusal itself, out of line: it is the cold path of every blocking call.
[[nodiscard, gnu::noinline, gnu::cold]] inline std::unexpected<error> refuse_to_wait(std::string_view call) {
  std::string message(call);
  message.append(
      " would wait inside a callback that must not block (a send or ack completion, the token supplier or the "
      "logger): use the asynchronous form, or call it elsewhere");
  return std::unexpected(error(errc::failed_precondition, std::move(message)));
}

// errc::failed_precondition inside a callback that must not block; `call` names what was refused.
[[nodiscard]] inline result<void> check_may_wait(std::string_view call) {
  if (current_callback_kind() == callback_kind::completion) {
    return refuse_to_wait(call);
  }
  return {};
}

// Lets go of a library thread (the scheduler's, the listener executor's) that was told to stop: joins
// it, except from that thread itself or from inside a library callback, which never waits for
// another thread (it may be what that thread waits for): it is then detached and ends after its
// current task, on state it shares.
inline void join_or_let_go(std::thread worker) {
  if (!worker.joinable()) {
    return;
  }
  if (worker.get_id() == std::this_thread::get_id() || inside_callback()) {
    worker.detach();
  } else {
    worker.join();
  }
}

// `f` wrapped so that it runs marked as a callback of `kind`.
template <class F>
[[nodiscard]] auto in_callback_scope(callback_kind kind, F f) {
  return [kind, f = std::move(f)](auto&&... args) mutable -> decltype(auto) {
    const callback_scope scope(kind);
    return f(std::forward<decltype(args)>(args)...);
  };
}

}  // namespace danube::detail
