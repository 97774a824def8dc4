// danube-embedded-broker: the embedded test broker as a standalone program, for trying clients
// (ours or another language's) against it without a real Danube deployment.
//
//   danube-embedded-broker [--listen HOST:PORT] [--consumer-buffer N]
//
// Prints "listening on http://HOST:PORT" once ready and runs until SIGINT or SIGTERM.
#include <danube/testing/embedded_broker.hpp>

#include <charconv>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

namespace {

constexpr std::string_view usage_text =
    "usage: danube-embedded-broker [--listen HOST:PORT] [--consumer-buffer N]\n"
    "  --listen HOST:PORT     address to listen on (default 127.0.0.1:6650; port 0 picks a free port)\n"
    "  --consumer-buffer N    messages buffered per non-reliable consumer before dropping (default 1000;\n"
    "                         the real broker drops beyond 8)\n";

struct arguments {
  danube::testing::broker_options options;
  bool help = false;
};

std::optional<std::size_t> parse_count(std::string_view text) {
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// Accepts "--name value" and "--name=value".
std::optional<arguments> parse_arguments(int argc, char** argv) {
  arguments parsed;
  parsed.options.listen_address = "127.0.0.1:6650";
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      parsed.help = true;
      continue;
    }
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (name != "--listen" && name != "--consumer-buffer") {
      fmt::print(stderr, "danube-embedded-broker: unknown argument '{}'\n", arg);
      return std::nullopt;
    }
    if (!value) {
      if (i + 1 >= argc) {
        fmt::print(stderr, "danube-embedded-broker: {} needs a value\n", name);
        return std::nullopt;
      }
      value = argv[++i];
    }
    if (name == "--listen") {
      parsed.options.listen_address = std::string(*value);
    } else {
      const auto count = parse_count(*value);
      if (!count || *count == 0) {
        fmt::print(stderr, "danube-embedded-broker: --consumer-buffer needs a positive number, not '{}'\n", *value);
        return std::nullopt;
      }
      parsed.options.consumer_buffer = *count;
    }
  }
  return parsed;
}

}  // namespace

int main(int argc, char** argv) {
  const auto parsed = parse_arguments(argc, argv);
  if (!parsed) {
    fmt::print(stderr, "{}", usage_text);
    return 2;
  }
  if (parsed->help) {
    fmt::print("{}", usage_text);
    return 0;
  }

  // Blocked before any thread exists, so every gRPC thread inherits the mask and the signals are
  // only ever taken by sigwait below: nothing runs in a signal handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (const int rc = pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); rc != 0) {
    fmt::print(stderr, "error: internal: cannot block signals: {}\n", std::generic_category().message(rc));
    return 1;
  }

  auto broker = danube::testing::embedded_broker::start(parsed->options);
  if (!broker) {
    fmt::print(stderr, "error: {}\n", broker.error());
    return 1;
  }
  fmt::print("listening on {}\n", broker->url());
  std::fflush(stdout);

  int received = 0;
  const int rc = sigwait(&stop_signals, &received);
  broker->stop();
  if (rc != 0) {
    fmt::print(stderr, "error: internal: cannot wait for signals: {}\n", std::generic_category().message(rc));
    return 1;
  }
  return 0;
}
