#include <danube/policies/retry.hpp>

#include <chrono>

#include <doctest/doctest.h>

using namespace std::chrono_literals;

TEST_SUITE("retry") {
  const danube::error unavailable(danube::errc::unavailable, "down");

  TEST_CASE("exponential backoff: defaults, doubling, jitter within [d/2, d], cap, give up after 5") {
    const danube::retry::exponential_backoff policy;
    const std::chrono::milliseconds expected[] = {200ms, 400ms, 800ms, 1600ms, 3200ms};
    for (unsigned attempt = 1; attempt <= 5; ++attempt) {
      for (int sample = 0; sample < 50; ++sample) {
        const auto d = policy.next_delay(unavailable, attempt);
        REQUIRE(d.has_value());
        CHECK(*d >= expected[attempt - 1] / 2);
        CHECK(*d <= expected[attempt - 1]);
      }
    }
    CHECK_FALSE(policy.next_delay(unavailable, 6).has_value());
    const danube::retry::exponential_backoff capped{.max_retries = 10, .base = 1000ms, .cap = 3000ms};
    CHECK(*capped.next_delay(unavailable, 9) <= 3000ms);
    CHECK(*capped.next_delay(unavailable, 9) >= 1500ms);
  }

  TEST_CASE("linear backoff follows the Rust client's schedule") {
    const danube::retry::linear_backoff policy;
    for (unsigned attempt = 1; attempt <= 5; ++attempt) {
      const auto d = policy.next_delay(unavailable, attempt);
      REQUIRE(d.has_value());
      CHECK(*d >= 100ms * attempt);
      CHECK(*d <= 200ms * attempt);
    }
    CHECK_FALSE(policy.next_delay(unavailable, 6).has_value());
  }

  TEST_CASE("none never retries") { CHECK_FALSE(danube::retry::none{}.next_delay(unavailable, 1).has_value()); }
}
