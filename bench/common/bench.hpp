// What every bench program shares: command-line flags, the broker under test (an in-process
// embedded broker, or a real one given --service-addr), the human table and --json lines, medians,
// and memory and load readings from /proc. Benchmark support, not part of the library.
#pragma once

#include <danube/danube.hpp>
#include <danube/testing/embedded_broker.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <linux/perf_event.h>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define DANUBE_BENCH_CALLGRIND(request) request
#else
#define DANUBE_BENCH_CALLGRIND(request)
#endif

namespace danube_bench {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

[[noreturn]] inline void fail(std::string_view what) {
  fmt::print(stderr, "error: {}\n", what);
  std::fflush(stderr);
  std::exit(1);
}

template <class T>
T require(danube::result<T> r, std::string_view what) {
  if (!r) {
    fail(fmt::format("{}: {}", what, r.error()));
  }
  if constexpr (!std::is_void_v<T>) {
    return std::move(*r);
  }
}

// ---------------------------------------------------------------------------------------------
// Flags

struct common_options {
  std::string service_addr;  // empty: start an embedded broker in this process
  bool json = false;
  std::size_t size = 256;      // payload bytes
  double duration = 1.0;       // seconds per measured run (throughput cases)
  std::uint64_t messages = 0;  // > 0: a fixed count per run instead of a duration
  unsigned repeat = 1;         // runs per case and implementation; medians are reported
  std::uint64_t warmup = 200;  // untimed messages before each run
  std::string impl = "both";   // both, client or bare: one side alone is for profiling

  [[nodiscard]] bool client() const { return impl != "bare"; }
  [[nodiscard]] bool bare() const { return impl != "client"; }
};

// One program-specific flag. `hint` empty: a switch (no value).
struct flag {
  std::string_view name;
  std::string_view hint;
  std::string_view help;
  std::function<bool(std::string_view)> apply;
};

template <class T>
[[nodiscard]] bool parse_number(std::string_view text, T& out) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    return false;
  }
  out = value;
  return true;
}

[[nodiscard]] inline bool parse_list(std::string_view text, std::vector<std::size_t>& out) {
  std::vector<std::size_t> values;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::size_t value = 0;
    if (!parse_number(text.substr(0, comma), value) || value == 0) {
      return false;
    }
    values.push_back(value);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  if (values.empty()) {
    return false;
  }
  out = std::move(values);
  return true;
}

// Parses --name value and --name=value. Returns an exit status when the program should stop
// (0 after --help, 2 on a bad command line), std::nullopt to go on.
[[nodiscard]] inline std::optional<int> parse_flags(int argc, char** argv, std::string_view program,
                                                    std::string_view description, common_options& common,
                                                    std::vector<flag> extra) {
  std::vector<flag> flags = {
      {"--service-addr", "URL", "run against this broker (http://host:port) instead of an in-process embedded one",
       [&](std::string_view v) {
         common.service_addr = std::string(v);
         return !v.empty();
       }},
      {"--json", "", "also print one JSON line per case", [&](std::string_view) { return common.json = true; }},
      {"--size", "BYTES", "payload size (default 256)",
       [&](std::string_view v) { return parse_number(v, common.size); }},
      {"--duration", "SECONDS", "length of each measured run (default 1)",
       [&](std::string_view v) { return parse_number(v, common.duration) && common.duration > 0; }},
      {"--messages", "N", "a fixed number of messages per run instead of --duration",
       [&](std::string_view v) { return parse_number(v, common.messages); }},
      {"--repeat", "N", "runs per case and implementation, alternating; medians are reported (default 1)",
       [&](std::string_view v) { return parse_number(v, common.repeat) && common.repeat > 0; }},
      {"--warmup", "N", "untimed messages before each run (default 200)",
       [&](std::string_view v) { return parse_number(v, common.warmup); }},
      {"--impl", "both|client|bare", "run one side only, e.g. under a profiler (no ratio then) (default both)",
       [&](std::string_view v) {
         common.impl = std::string(v);
         return v == "both" || v == "client" || v == "bare";
       }},
  };
  for (auto& f : extra) {
    flags.push_back(std::move(f));
  }
  const auto usage = [&](std::FILE* out) {
    fmt::print(out, "usage: {} [flags]\n{}\n\nflags:\n", program, description);
    for (const auto& f : flags) {
      const auto head = f.hint.empty() ? std::string(f.name) : fmt::format("{} {}", f.name, f.hint);
      fmt::print(out, "  {:<26} {}\n", head, f.help);
    }
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      usage(stdout);
      return 0;
    }
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    const auto found = std::ranges::find(flags, name, &flag::name);
    if (found == flags.end()) {
      fmt::print(stderr, "{}: unknown flag '{}'\n", program, arg);
      usage(stderr);
      return 2;
    }
    if (!found->hint.empty() && !value) {
      if (i + 1 >= argc) {
        fmt::print(stderr, "{}: {} needs a value ({})\n", program, name, found->hint);
        return 2;
      }
      value = std::string_view(argv[++i]);
    }
    if (!found->apply(value.value_or(std::string_view()))) {
      fmt::print(stderr, "{}: bad value for {}: '{}'\n", program, name, value.value_or(""));
      return 2;
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// The broker under test

class target {
 public:
  // An embedded broker with `options` unless --service-addr was given.
  static target open(const common_options& common, danube::testing::broker_options options = {}) {
    target t;
    if (!common.service_addr.empty()) {
      t.url_ = common.service_addr;
      return t;
    }
    t.broker_ = require(danube::testing::embedded_broker::start(options), "starting the embedded broker");
    t.url_ = t.broker_->url();
    return t;
  }

  // Another server in this process (the minimal server), described as `what`.
  static target at(std::string url, std::string what) {
    target t;
    t.url_ = std::move(url);
    t.what_ = std::move(what);
    return t;
  }

  [[nodiscard]] const std::string& url() const noexcept { return url_; }
  [[nodiscard]] danube::testing::embedded_broker* embedded() noexcept { return broker_ ? &*broker_ : nullptr; }
  [[nodiscard]] std::string describe() const {
    return broker_ ? fmt::format("embedded broker (in process) at {}", url_)
                   : fmt::format("{} at {}", what_.empty() ? "broker" : what_, url_);
  }

  // Waits until `count` consumers of `topic` have their stream open (bounded; on a real broker,
  // which cannot be asked, a fixed pause).
  void wait_streaming(const std::string& topic, std::size_t count = 1) {
    if (!broker_) {
      std::this_thread::sleep_for(300ms);
      return;
    }
    const auto deadline = clock::now() + 10s;
    while (broker_->streaming_consumers(topic) < count) {
      if (clock::now() > deadline) {
        fail("the consumer's stream did not open within 10 s");
      }
      std::this_thread::sleep_for(1ms);
    }
  }

 private:
  std::optional<danube::testing::embedded_broker> broker_;
  std::string url_;
  std::string what_;
};

inline danube::client make_client(const std::string& url) {
  return require(danube::client::builder().service_url(url).build(), "building the client");
}

// /default/bench-<pid>-<stem>-<n>: never reused, also across runs against a long-lived broker.
inline std::string unique_topic(std::string_view stem) {
  static int counter = 0;
  return fmt::format("/default/bench-{}-{}-{}", ::getpid(), stem, counter++);
}

// ---------------------------------------------------------------------------------------------
// Run limits and results

// A run ends after `messages` messages if set, otherwise after `duration`.
struct run_limit {
  std::uint64_t messages = 0;
  clock::duration duration{};

  [[nodiscard]] static run_limit from(const common_options& common) {
    return {common.messages,
            std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(common.duration))};
  }
  [[nodiscard]] bool done(std::uint64_t sent, clock::time_point start) const {
    return messages > 0 ? sent >= messages : clock::now() - start >= duration;
  }
};

[[nodiscard]] inline double median(std::vector<double> values) {
  if (values.empty()) {
    return 0;
  }
  std::ranges::sort(values);
  const auto n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Heap allocations since the program started: global operator new calls, and malloc-family calls
// (gRPC core's own and operator new's included). Defined by count_allocations.hpp, which every
// bench program includes once.
struct allocation_counts {
  std::uint64_t news = 0;
  std::uint64_t mallocs = 0;
};
allocation_counts allocations_so_far() noexcept;

// Futex system calls made by every thread of this process from construction to read() (threads
// started meanwhile included): the thread hand-offs, wake-ups and contended locks a message costs.
// Counted with a perf tracepoint (syscalls:sys_enter_futex), one counter per thread that exists at
// construction, inherited by the threads they start; unavailable (std::nullopt) where perf events
// or tracefs are not (an unprivileged user with perf_event_paranoid > 1, a container without them).
class futex_meter {
 public:
  futex_meter() {
    const auto id = tracepoint_id_();
    if (!id) {
      return;
    }
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
      pid_t tid = 0;
      if (!parse_tid_(task.path().filename().string(), tid)) {
        continue;
      }
      perf_event_attr attr{};
      attr.type = PERF_TYPE_TRACEPOINT;
      attr.size = sizeof attr;
      attr.config = *id;
      attr.inherit = 1;
      const auto fd = static_cast<int>(::syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC));
      if (fd < 0) {
        if (errno == ESRCH) {
          continue;  // the thread has just exited
        }
        close_all_();
        return;
      }
      fds_.push_back(fd);
    }
    ok_ = !fds_.empty();
  }
  futex_meter(const futex_meter&) = delete;
  futex_meter& operator=(const futex_meter&) = delete;
  ~futex_meter() { close_all_(); }

  // Futex calls so far (std::nullopt: not countable here).
  [[nodiscard]] std::optional<double> read() const {
    if (!ok_) {
      return std::nullopt;
    }
    std::uint64_t total = 0;
    for (const int fd : fds_) {
      std::uint64_t value = 0;
      if (::read(fd, &value, sizeof value) == static_cast<ssize_t>(sizeof value)) {
        total += value;
      }
    }
    return static_cast<double>(total);
  }

 private:
  static std::optional<std::uint64_t> tracepoint_id_() {
    for (const char* path : {"/sys/kernel/tracing/events/syscalls/sys_enter_futex/id",
                             "/sys/kernel/debug/tracing/events/syscalls/sys_enter_futex/id"}) {
      std::ifstream in(path);
      std::uint64_t id = 0;
      if (in >> id) {
        return id;
      }
    }
    return std::nullopt;
  }
  static bool parse_tid_(const std::string& name, pid_t& tid) {
    const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), tid);
    return ec == std::errc{} && end == name.data() + name.size();
  }
  void close_all_() {
    for (const int fd : fds_) {
      ::close(fd);
    }
    fds_.clear();
    ok_ = false;
  }

  std::vector<int> fds_;
  bool ok_ = false;
};

// CPU time (user + system), context switches and heap allocations of the whole process so far:
// broker, client and gRPC threads.
struct cpu_usage {
  double seconds = 0;
  double switches = 0;            // voluntary (a thread blocked) and involuntary (preempted)
  double news = 0;                // global operator new calls
  double mallocs = 0;             // malloc/calloc/realloc calls (operator new's and gRPC core's included)
  std::optional<double> futexes;  // futex system calls, where countable (set by usage_meter)

  [[nodiscard]] static cpu_usage now() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    const auto secs = [](const timeval& t) {
      return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    const auto allocated = allocations_so_far();
    return {secs(usage.ru_utime) + secs(usage.ru_stime), static_cast<double>(usage.ru_nvcsw + usage.ru_nivcsw),
            static_cast<double>(allocated.news), static_cast<double>(allocated.mallocs), std::nullopt};
  }
  cpu_usage operator-(const cpu_usage& earlier) const {
    return {seconds - earlier.seconds, switches - earlier.switches, news - earlier.news, mallocs - earlier.mallocs,
            futexes};
  }
};

[[nodiscard]] inline double cpu_seconds() { return cpu_usage::now().seconds; }

// Under `perf record -D -1 --control fifo:CTL,ACK`, the environment DANUBE_BENCH_PERF_CTL=CTL and
// DANUBE_BENCH_PERF_ACK=ACK make perf sample the measured runs only ("enable" when a usage_meter
// starts, "disable" when it stops; each waits for perf's acknowledgement). Without them: nothing.
inline void perf_control(std::string_view command) {
  static const auto open_fifo = [](const char* variable, int flags) {
    const char* path = std::getenv(variable);
    return path != nullptr ? ::open(path, flags | O_CLOEXEC) : -1;
  };
  static const int control = open_fifo("DANUBE_BENCH_PERF_CTL", O_WRONLY);
  static const int ack = control >= 0 ? open_fifo("DANUBE_BENCH_PERF_ACK", O_RDONLY) : -1;
  if (control < 0) {
    return;
  }
  const std::string line = std::string(command) + "\n";
  if (::write(control, line.data(), line.size()) < 0) {
    return;
  }
  if (ack >= 0) {
    std::array<char, 8> reply{};
    (void)::read(ack, reply.data(), reply.size());
  }
}

// What one measured run cost the process: construct before the run, stop() after it. Under
// `valgrind --tool=callgrind --instr-atstart=no` only the measured runs are instrumented, so the
// instruction counts are those of the runs alone (docs/benchmarks.md); the same under perf record
// with perf_control's fifos.
class usage_meter {
 public:
  usage_meter() {
    DANUBE_BENCH_CALLGRIND(CALLGRIND_START_INSTRUMENTATION);
    perf_control("enable");
  }
  usage_meter(const usage_meter&) = delete;
  usage_meter& operator=(const usage_meter&) = delete;
  ~usage_meter() = default;

  [[nodiscard]] cpu_usage stop() const {
    perf_control("disable");
    DANUBE_BENCH_CALLGRIND(CALLGRIND_STOP_INSTRUMENTATION);
    auto used = cpu_usage::now() - start_;
    used.futexes = futexes_.read();
    return used;
  }

 private:
  futex_meter futexes_;  // opened first: its own system calls are not counted as the run's
  cpu_usage start_ = cpu_usage::now();
};

// Per-message figures of a run (0 for an empty run; futexes -1 where they cannot be counted).
struct per_message {
  double cpu_us = 0;
  double switches = 0;
  double news = 0;
  double mallocs = 0;
  double futexes = -1;

  [[nodiscard]] static per_message of(const cpu_usage& used, std::uint64_t messages) {
    if (messages == 0) {
      return {};
    }
    const auto n = static_cast<double>(messages);
    return {used.seconds * 1e6 / n, used.switches / n, used.news / n, used.mallocs / n,
            used.futexes ? *used.futexes / n : -1.0};
  }
};

// Medians over the runs of a case, client and bare side by side, for the table and the JSON line.
struct usage_medians {
  std::vector<per_message> client;
  std::vector<per_message> bare;

  void add(const per_message& c, const per_message& b) {
    client.push_back(c);
    bare.push_back(b);
  }
  [[nodiscard]] static double of(const std::vector<per_message>& runs, double per_message::*field) {
    std::vector<double> values;
    for (const auto& r : runs) {
      values.push_back(r.*field);
    }
    return median(std::move(values));
  }
  // "c/b" with `digits` decimals, "-" for a field that could not be measured.
  [[nodiscard]] std::string pair(double per_message::*field, int digits) const {
    const auto one = [&](double v) { return v < 0 ? std::string("-") : fmt::format("{:.{}f}", v, digits); };
    return fmt::format("{}/{}", one(of(client, field)), one(of(bare, field)));
  }
  // The JSON fields client_<name>_per_msg and bare_<name>_per_msg.
  template <class Json>
  void add_json(Json& j) const {
    const auto both = [&](std::string_view name, double per_message::*field) {
      j.add(fmt::format("client_{}", name), of(client, field)).add(fmt::format("bare_{}", name), of(bare, field));
    };
    both("cpu_us_per_msg", &per_message::cpu_us);
    both("switches_per_msg", &per_message::switches);
    both("news_per_msg", &per_message::news);
    both("mallocs_per_msg", &per_message::mallocs);
    both("futexes_per_msg", &per_message::futexes);
  }
};

struct throughput {
  std::uint64_t messages = 0;
  std::uint64_t errors = 0;
  double seconds = 0;
  cpu_usage used;  // what the process spent during the run (set by the caller)
  [[nodiscard]] double rate() const { return seconds > 0 ? static_cast<double>(messages) / seconds : 0.0; }
  [[nodiscard]] per_message per_msg() const { return per_message::of(used, messages); }
};

[[nodiscard]] inline double seconds_since(clock::time_point start) {
  return std::chrono::duration<double>(clock::now() - start).count();
}

[[nodiscard]] inline double mb_per_s(double messages_per_s, std::size_t size) {
  return messages_per_s * static_cast<double>(size) / 1e6;
}

// ---------------------------------------------------------------------------------------------
// Output

// One JSON object on one line; keys in insertion order.
class json_line {
 public:
  json_line& add(std::string_view key, std::string_view value) {
    std::string escaped;
    for (const char c : value) {
      if (c == '"' || c == '\\') {
        escaped += '\\';
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        escaped += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        continue;
      }
      escaped += c;
    }
    return raw_(key, fmt::format("\"{}\"", escaped));
  }
  json_line& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  json_line& add(std::string_view key, const std::string& value) { return add(key, std::string_view(value)); }
  json_line& add(std::string_view key, bool value) { return raw_(key, value ? "true" : "false"); }
  json_line& add(std::string_view key, double value) { return raw_(key, fmt::format("{:.6g}", value)); }
  template <std::integral T>
  json_line& add(std::string_view key, T value) {
    return raw_(key, fmt::format("{}", value));
  }

  [[nodiscard]] std::string str() const { return "{" + body_ + "}"; }
  void print() const {
    fmt::print("{}\n", str());
    std::fflush(stdout);
  }

 private:
  json_line& raw_(std::string_view key, std::string_view value) {
    if (!body_.empty()) {
      body_ += ',';
    }
    body_ += fmt::format("\"{}\":{}", key, value);
    return *this;
  }
  std::string body_;
};

// /proc/loadavg's first three fields and the core count: how busy the machine was.
[[nodiscard]] inline std::string machine_load() {
  std::ifstream in("/proc/loadavg");
  double one = 0;
  double five = 0;
  double fifteen = 0;
  in >> one >> five >> fifteen;
  return fmt::format("load {:.2f} {:.2f} {:.2f} on {} cores", one, five, fifteen, std::thread::hardware_concurrency());
}

[[nodiscard]] inline double load_one_minute() {
  std::ifstream in("/proc/loadavg");
  double one = 0;
  in >> one;
  return one;
}

// VmRSS and VmHWM (peak) of this process, in KiB.
struct memory_status {
  std::uint64_t rss_kib = 0;
  std::uint64_t peak_kib = 0;
};

[[nodiscard]] inline memory_status read_memory() {
  memory_status out;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    std::uint64_t value = 0;
    fields >> key >> value;
    if (key == "VmRSS:") {
      out.rss_kib = value;
    } else if (key == "VmHWM:") {
      out.peak_kib = value;
    }
  }
  return out;
}

// Thousands separators for the human table.
[[nodiscard]] inline std::string grouped(double value) {
  auto digits = fmt::format("{:.0f}", value);
  std::string out;
  const auto n = digits.size();
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[i];
    if (const auto left = n - 1 - i; left > 0 && left % 3 == 0 && digits[i] != '-') {
      out += ',';
    }
  }
  return out;
}

[[nodiscard]] inline std::string micros(std::uint64_t nanos) {
  return fmt::format("{:.0f}", static_cast<double>(nanos) / 1e3);
}

}  // namespace danube_bench
