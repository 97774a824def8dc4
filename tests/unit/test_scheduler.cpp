#include <danube/detail/scheduler.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include <doctest/doctest.h>

using namespace std::chrono_literals;

TEST_SUITE("scheduler") {
  TEST_CASE("one-shot and periodic tasks run, cancel is immediate, stop joins promptly") {
    danube::detail::scheduler timers;
    std::atomic<int> once{0};
    std::atomic<int> periodic{0};
    timers.schedule(1ms, [&] { ++once; });
    const auto id = timers.schedule(
        0ms, [&] { ++periodic; }, 5ms);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while ((once == 0 || periodic < 3) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    CHECK(once == 1);
    CHECK(periodic >= 3);
    timers.cancel(id);
    const int after_cancel = periodic;
    std::this_thread::sleep_for(30ms);
    CHECK(periodic == after_cancel);

    timers.schedule(1h, [] {});
    const auto before = std::chrono::steady_clock::now();
    timers.stop();
    CHECK(std::chrono::steady_clock::now() - before < 1s);
    CHECK(timers.schedule(0ms, [] {}) == 0);
  }

  TEST_CASE("cancel waits for a running task to finish") {
    danube::detail::scheduler timers;
    std::atomic<bool> started{false};
    std::atomic<bool> finished{false};
    const auto id = timers.schedule(0ms, [&] {
      started = true;
      std::this_thread::sleep_for(50ms);
      finished = true;
    });
    while (!started) {
      std::this_thread::sleep_for(1ms);
    }
    timers.cancel(id);
    CHECK(finished);
  }
}
