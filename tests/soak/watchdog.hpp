// Deadlines for every call the soak makes, and what the process holds (/proc/self).
//
// Every library call, and every asynchronous completion the soak waits for, is registered here
// with the bound the library documents for it. A scanning thread reports a call still running past
// its deadline as a violation at once; one still running `hang_limit` later is a hang: the
// watchdog prints the seed, the call and how to get the stacks (and dumps them itself with gdb
// when it is installed), then ends the process, so a hang fails CI instead of stalling it.
#pragma once

#include "soak/report.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <type_traits>
#include <unistd.h>
#include <utility>

#include <fmt/format.h>

namespace soak {

// What the process holds right now.
struct proc_sample {
  std::size_t threads = 0;
  std::size_t own_threads = 0;  // named like the process: ours and the library's (gRPC names its own)
  std::size_t fds = 0;
  std::size_t rss_kib = 0;
};

[[nodiscard]] inline proc_sample sample_proc() {
  proc_sample s;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    std::istringstream fields(line);
    std::string key;
    std::size_t value = 0;
    fields >> key >> value;
    if (key == "Threads:") {
      s.threads = value;
    } else if (key == "VmRSS:") {
      s.rss_kib = value;
    }
  }
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) {
    ++s.fds;
  }
  std::string process;
  std::getline(std::ifstream("/proc/self/comm"), process);
  for (std::filesystem::directory_iterator it("/proc/self/task", ec), end; !ec && it != end; it.increment(ec)) {
    std::string name;
    std::getline(std::ifstream(it->path() / "comm"), name);
    s.own_threads += name == process ? 1U : 0U;
  }
  if (s.fds > 0) {
    --s.fds;  // the directory stream's own descriptor
  }
  return s;
}

// The threads of this process by name ("grpc_global_tim 1, event_engine 4, ..."), to tell
// gRPC's pools from a leaked thread of ours.
[[nodiscard]] inline std::string thread_names() {
  std::map<std::string, int> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc/self/task", ec), end; !ec && it != end; it.increment(ec)) {
    std::ifstream comm(it->path() / "comm");
    std::string name;
    std::getline(comm, name);
    ++names[name];
  }
  std::string out;
  for (const auto& [name, n] : names) {
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", name, n);
  }
  return out;
}

class watchdog {
 public:
  struct settings {
    std::chrono::milliseconds hang_limit{60'000};  // past a deadline by this much: a hang
    std::string reproduce;                         // the command line that reproduces the run
    std::uint64_t seed = 0;
  };

  watchdog(report& findings, settings config) : report_(findings), settings_(std::move(config)) {
    thread_ = std::thread([this] { scan_(); });
  }
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;
  ~watchdog() { stop(); }

  void stop() {
    {
      const std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  using token = std::uint64_t;

  // Starts watching `what`, which must end within `limit`.
  [[nodiscard]] token begin(std::string what, std::chrono::milliseconds limit) {
    const auto now = clock::now();
    const std::lock_guard lock(mu_);
    const auto id = ++next_;
    active_.emplace(id, entry{std::move(what), now, now + limit, limit, false});
    return id;
  }

  // Ends watching; a late end is a violation (unless the scan already reported it).
  void end(token id) {
    std::optional<entry> done;
    {
      const std::lock_guard lock(mu_);
      if (const auto it = active_.find(id); it != active_.end()) {
        done = std::move(it->second);
        active_.erase(it);
      }
    }
    if (!done) {
      return;
    }
    const auto now = clock::now();
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(now - done->started);
    note_duration_(done->what, took, done->limit);
    if (now > done->deadline && !done->reported) {
      report_.add(violation::call_overran_deadline,
                  fmt::format("{} returned after {} ms (bound {} ms)", done->what, took.count(), done->limit.count()));
    }
  }

  // Runs `fn` under a deadline. Exceptions are violations; the result is std::nullopt then (for a
  // void `fn`: true when it returned normally).
  template <class Fn>
  auto call(std::string what, std::chrono::milliseconds limit, Fn&& fn) {
    using R = std::invoke_result_t<Fn>;
    const auto id = begin(what, limit);
    if constexpr (std::is_void_v<R>) {
      bool ok = true;
      try {
        std::forward<Fn>(fn)();
      } catch (const std::exception& e) {
        report_.add(violation::call_threw, fmt::format("{} threw {}", what, e.what()));
        ok = false;
      } catch (...) {
        report_.add(violation::call_threw, fmt::format("{} threw a non-standard exception", what));
        ok = false;
      }
      end(id);
      return ok;
    } else {
      std::optional<R> out;
      try {
        out.emplace(std::forward<Fn>(fn)());
      } catch (const std::exception& e) {
        report_.add(violation::call_threw, fmt::format("{} threw {}", what, e.what()));
      } catch (...) {
        report_.add(violation::call_threw, fmt::format("{} threw a non-standard exception", what));
      }
      end(id);
      return out;
    }
  }

  [[nodiscard]] std::size_t active() const {
    const std::lock_guard lock(mu_);
    return active_.size();
  }
  [[nodiscard]] std::uint64_t calls() const {
    const std::lock_guard lock(mu_);
    return next_;
  }

  // The longest observed duration of each kind of call (the text before the first '('), with
  // its bound: the figures show how close the library came to its promises.
  [[nodiscard]] std::map<std::string, std::pair<std::chrono::milliseconds, std::chrono::milliseconds>> longest() const {
    const std::lock_guard lock(mu_);
    return longest_;
  }

  // The hang path, also used for a run that exceeds its overall deadline: report, dump the
  // stacks if gdb is available, exit(3). Never returns.
  [[noreturn]] void hang(const std::string& what) {
    std::fprintf(stderr, "soak: HANG: %s\n", what.c_str());
    std::fprintf(stderr, "soak: HANG: seed %llu; reproduce with: %s\n", static_cast<unsigned long long>(settings_.seed),
                 settings_.reproduce.c_str());
    std::fprintf(stderr,
                 "soak: HANG: stacks of every thread: gdb -p %d -batch -ex 'thread apply all bt' "
                 "(or run the reproduction under gdb and interrupt it)\n",
                 static_cast<int>(::getpid()));
    std::fprintf(stderr, "soak: HANG: recent events:\n");
    report_.print_recent_events(stderr, 60);
    std::fprintf(stderr, "soak: HANG: violations so far:\n");
    report_.print_violations(stderr);
    std::fflush(stderr);
    dump_stacks_();
    std::fprintf(stderr, "soak: FAIL (hang), seed %llu\n", static_cast<unsigned long long>(settings_.seed));
    std::fflush(stderr);
    std::fflush(stdout);
    std::_Exit(3);
  }

 private:
  struct entry {
    std::string what;
    clock::time_point started;
    clock::time_point deadline;
    std::chrono::milliseconds limit;
    bool reported;
  };

  void note_duration_(const std::string& what, std::chrono::milliseconds took, std::chrono::milliseconds limit) {
    auto kind = what.substr(0, what.find(" ("));
    const std::lock_guard lock(mu_);
    auto& slot = longest_[std::move(kind)];
    if (took >= slot.first) {
      slot = {took, limit};
    }
  }

  void scan_() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      wake_.wait_for(lock, std::chrono::milliseconds(100));
      const auto now = clock::now();
      std::vector<std::string> overdue;
      std::optional<std::string> hung;
      for (auto& [id, e] : active_) {
        if (now <= e.deadline) {
          continue;
        }
        const auto running = std::chrono::duration_cast<std::chrono::milliseconds>(now - e.started);
        if (!e.reported) {
          e.reported = true;
          overdue.push_back(
              fmt::format("{} still running after {} ms (bound {} ms)", e.what, running.count(), e.limit.count()));
        }
        if (now > e.deadline + settings_.hang_limit && !hung) {
          hung = fmt::format("{} has not returned after {} ms (bound {} ms, hang limit {} ms past it)", e.what,
                             running.count(), e.limit.count(), settings_.hang_limit.count());
        }
      }
      lock.unlock();
      for (auto& text : overdue) {
        report_.add(violation::call_overran_deadline, std::move(text));
      }
      if (hung) {
        hang(*hung);
      }
      lock.lock();
    }
  }

  // gdb attaches to this process (allowed by PR_SET_PTRACER) and prints every thread's stack.
  void dump_stacks_() const {
    const char* gdb = nullptr;
    for (const char* candidate : {"/usr/bin/gdb", "/usr/local/bin/gdb"}) {
      if (::access(candidate, X_OK) == 0) {
        gdb = candidate;
        break;
      }
    }
    if (gdb == nullptr || std::getenv("DANUBE_SOAK_NO_GDB") != nullptr) {
      std::fprintf(stderr, "soak: HANG: gdb is not installed here: no automatic stack dump\n");
      return;
    }
    ::prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
    const auto pid = std::to_string(::getpid());
    std::fprintf(stderr, "soak: HANG: stacks (gdb -p %s):\n", pid.c_str());
    std::fflush(stderr);
    const pid_t child = ::fork();
    if (child == 0) {
      ::dup2(STDERR_FILENO, STDOUT_FILENO);
      ::execl(gdb, gdb, "-p", pid.c_str(), "-batch", "-nx", "-ex", "set pagination off", "-ex", "thread apply all bt",
              static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    if (child < 0) {
      return;
    }
    // Bounded: a gdb that cannot attach must not turn the hang report into a hang.
    for (int i = 0; i < 600; ++i) {
      int status = 0;
      if (::waitpid(child, &status, WNOHANG) == child) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
  }

  report& report_;
  const settings settings_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::map<token, entry> active_;
  std::map<std::string, std::pair<std::chrono::milliseconds, std::chrono::milliseconds>> longest_;
  token next_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace soak
