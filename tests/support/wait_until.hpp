// Polling for a condition with a bound: what tests wait on instead of sleeping a fixed time.
#pragma once

#include <chrono>
#include <thread>

namespace danube_test {

// Polls `condition` until it holds or `bound` passes; returns its last value.
template <class Condition>
bool wait_until(Condition condition, std::chrono::milliseconds bound = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return condition();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace danube_test
