// The soak's findings: invariant violations by kind (with the first examples of each), a ring
// buffer of recent events (faults, object lifecycles) printed when something goes wrong, and
// counters for the figures printed at the end. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace soak {

using clock = std::chrono::steady_clock;

// Every invariant the soak checks. A self-test run proves each checker fires on a deliberate fault.
enum class violation : std::uint8_t {
  send_not_completed,        // a send whose completion never ran
  send_completed_twice,      // a completion that ran more than once
  completion_out_of_order,   // completions of one partition not in the order the sends were made
  flush_returned_early,      // flush() returned before a send made before it completed
  close_left_sends_pending,  // producer close() returned before every queued send completed
  reliable_message_lost,     // an acknowledged reliable send never reached a subscription
  out_of_order_delivery,     // first arrivals of one producer's messages on one partition out of order
  phantom_message,           // a message nobody sent, or on another partition than acknowledged
  corrupted_message,         // payload, attributes or routing key not as sent
  call_overran_deadline,     // a call (or a completion) took longer than its documented bound
  call_threw,                // an exception escaped a library call
  thread_growth,             // more threads after closing everything than before the run
  fd_growth,                 // more file descriptors after closing everything
  rss_growth,                // resident memory grew beyond the slack after closing everything
};

inline constexpr std::array all_violations{
    violation::send_not_completed,
    violation::send_completed_twice,
    violation::completion_out_of_order,
    violation::flush_returned_early,
    violation::close_left_sends_pending,
    violation::reliable_message_lost,
    violation::out_of_order_delivery,
    violation::phantom_message,
    violation::corrupted_message,
    violation::call_overran_deadline,
    violation::call_threw,
    violation::thread_growth,
    violation::fd_growth,
    violation::rss_growth,
};

[[nodiscard]] constexpr std::string_view to_string(violation v) noexcept {
  switch (v) {
    case violation::send_not_completed: return "send_not_completed";
    case violation::send_completed_twice: return "send_completed_twice";
    case violation::completion_out_of_order: return "completion_out_of_order";
    case violation::flush_returned_early: return "flush_returned_early";
    case violation::close_left_sends_pending: return "close_left_sends_pending";
    case violation::reliable_message_lost: return "reliable_message_lost";
    case violation::out_of_order_delivery: return "out_of_order_delivery";
    case violation::phantom_message: return "phantom_message";
    case violation::corrupted_message: return "corrupted_message";
    case violation::call_overran_deadline: return "call_overran_deadline";
    case violation::call_threw: return "call_threw";
    case violation::thread_growth: return "thread_growth";
    case violation::fd_growth: return "fd_growth";
    case violation::rss_growth: return "rss_growth";
  }
  return "unknown";
}

class report {
 public:
  static constexpr std::size_t examples_per_kind = 12;
  static constexpr std::size_t events_kept = 2000;

  explicit report(clock::time_point start) : start_(start) {}

  [[nodiscard]] double seconds_since_start() const {
    return std::chrono::duration<double>(clock::now() - start_).count();
  }
  [[nodiscard]] std::uint32_t millis_since_start() const {
    return static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start_).count());
  }
  [[nodiscard]] clock::time_point start() const noexcept { return start_; }

  void set_verbose(bool verbose) noexcept { verbose_ = verbose; }

  // A violation: counted, the first few kept verbatim, printed at once (stderr) so a run that is
  // killed still shows what it found.
  void add(violation kind, std::string text) {
    const auto line = fmt::format("t={:.3f} VIOLATION {}: {}", seconds_since_start(), to_string(kind), text);
    {
      const std::lock_guard lock(mu_);
      auto& entry = violations_[kind];
      ++entry.first;
      if (entry.second.size() < examples_per_kind) {
        entry.second.push_back(line);
      }
      remember_locked_(line);
    }
    std::fprintf(stderr, "soak: %s\n", line.c_str());
  }

  // Something that happened (a fault, a close, a re-creation), for the log printed on failure.
  void event(std::string text) {
    const auto line = fmt::format("t={:.3f} {}", seconds_since_start(), text);
    if (verbose_) {
      std::fprintf(stderr, "soak: %s\n", line.c_str());
    }
    const std::lock_guard lock(mu_);
    remember_locked_(line);
  }

  // Named counters for the figures (operations, faults, errors by code).
  void count(std::string_view name, std::uint64_t n = 1) {
    const std::lock_guard lock(mu_);
    counters_[std::string(name)] += n;
  }
  [[nodiscard]] std::map<std::string, std::uint64_t> counters() const {
    const std::lock_guard lock(mu_);
    return counters_;
  }

  [[nodiscard]] std::size_t total_violations() const {
    const std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& [kind, entry] : violations_) {
      n += entry.first;
    }
    return n;
  }
  [[nodiscard]] std::map<violation, std::size_t> violation_counts() const {
    const std::lock_guard lock(mu_);
    std::map<violation, std::size_t> out;
    for (const auto& [kind, entry] : violations_) {
      out[kind] = entry.first;
    }
    return out;
  }

  void print_violations(std::FILE* out) const {
    const std::lock_guard lock(mu_);
    for (const auto& [kind, entry] : violations_) {
      std::fprintf(out, "  %s: %zu\n", std::string(to_string(kind)).c_str(), entry.first);
      for (const auto& line : entry.second) {
        std::fprintf(out, "    %s\n", line.c_str());
      }
      if (entry.first > entry.second.size()) {
        std::fprintf(out, "    ... and %zu more\n", entry.first - entry.second.size());
      }
    }
  }

  void print_recent_events(std::FILE* out, std::size_t n) const {
    const std::lock_guard lock(mu_);
    const auto from = events_.size() > n ? events_.size() - n : 0;
    for (auto i = from; i < events_.size(); ++i) {
      std::fprintf(out, "    %s\n", events_[i].c_str());
    }
  }

 private:
  void remember_locked_(const std::string& line) {
    events_.push_back(line);
    if (events_.size() > events_kept) {
      events_.pop_front();
    }
  }

  const clock::time_point start_;
  std::atomic<bool> verbose_{false};
  mutable std::mutex mu_;
  std::map<violation, std::pair<std::size_t, std::vector<std::string>>> violations_;
  std::deque<std::string> events_;
  std::map<std::string, std::uint64_t> counters_;
};

}  // namespace soak
