// Shared helpers for the integration tests: a fresh broker per test, unique topic names, and a
// bounded wait for conditions (never a bare sleep).
#pragma once

#include "support/wait_until.hpp"
#include <danube/danube.hpp>
#include <danube/testing/embedded_broker.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

namespace danube_test {

inline danube::testing::embedded_broker start_broker(danube::testing::broker_options options = {}) {
  auto broker = danube::testing::embedded_broker::start(std::move(options));
  REQUIRE_MESSAGE(broker.has_value(), fmt::format("{}", broker.error()));
  return std::move(*broker);
}

inline danube::client connect(const danube::testing::embedded_broker& broker) {
  auto client = danube::client::builder().service_url(broker.url()).build();
  REQUIRE_MESSAGE(client.has_value(), fmt::format("{}", client.error()));
  return std::move(*client);
}

// A topic name no other test uses: /default/<stem>-<n>.
inline std::string unique_topic(std::string_view stem) {
  static std::atomic<int> counter{0};
  return fmt::format("/default/{}-{}", stem, counter.fetch_add(1));
}

// Collects what a client logs (through basic_client_builder::logger) for tests to wait on.
class log_lines {
 public:
  // A sink for the client builder; it keeps the collection alive.
  [[nodiscard]] static std::pair<std::shared_ptr<log_lines>, danube::log_sink> make() {
    auto lines = std::make_shared<log_lines>();
    return {lines, [lines](danube::log_level level, std::string_view message) { lines->add_(level, message); }};
  }

  [[nodiscard]] bool contains(danube::log_level level, std::string_view fragment) const {
    const std::lock_guard lock(mutex_);
    for (const auto& [at, text] : lines_) {
      if (at == level && text.find(fragment) != std::string::npos) {
        return true;
      }
    }
    return false;
  }

  [[nodiscard]] std::vector<std::string> all() const {
    const std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [at, text] : lines_) {
      out.push_back(fmt::format("{}: {}", danube::to_string(at), text));
    }
    return out;
  }

 private:
  void add_(danube::log_level level, std::string_view message) {
    const std::lock_guard lock(mutex_);
    lines_.emplace_back(level, std::string(message));
  }

  mutable std::mutex mutex_;
  std::vector<std::pair<danube::log_level, std::string>> lines_;
};

// Milliseconds since `start`, for the few tests that assert an upper bound.
[[nodiscard]] inline std::chrono::milliseconds elapsed_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

template <class T>
T require_ok(danube::result<T> r) {
  REQUIRE_MESSAGE(r.has_value(), fmt::format("{}", r.error()));
  return std::move(*r);
}

inline void require_ok(const danube::result<void>& r) { REQUIRE_MESSAGE(r.has_value(), fmt::format("{}", r.error())); }

}  // namespace danube_test
