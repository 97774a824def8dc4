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

// Issue 11/13: the fields say what they mean. Zero retries is zero retries; the defaults are the
// member initialisers, not a sentinel.
TEST_SUITE("retry") {
  const danube::error down(danube::errc::unavailable, "down");

  TEST_CASE("max_retries = 0 means no retry, for both backoffs") {
    CHECK_FALSE(danube::retry::exponential_backoff{.max_retries = 0}.next_delay(down, 1).has_value());
    CHECK_FALSE(danube::retry::linear_backoff{.max_retries = 0}.next_delay(down, 1).has_value());
    const danube::retry::exponential_backoff one{.max_retries = 1};
    CHECK(one.next_delay(down, 1).has_value());
    CHECK_FALSE(one.next_delay(down, 2).has_value());
  }

  TEST_CASE("the defaults are the member initialisers: 5 retries, 200 ms base, 5 s cap") {
    const danube::retry::exponential_backoff exponential;
    CHECK(exponential.max_retries == 5);
    CHECK(exponential.base == 200ms);
    CHECK(exponential.cap == 5000ms);
    const danube::retry::linear_backoff linear;
    CHECK(linear.max_retries == 5);
    CHECK(linear.base == 200ms);
    CHECK(linear.cap == 5000ms);
    // Setting one field keeps the others' defaults.
    const danube::retry::exponential_backoff fast{.base = 10ms};
    CHECK(fast.max_retries == 5);
    CHECK(fast.cap == 5000ms);
    CHECK(*fast.next_delay(down, 1) <= 10ms);
  }

  TEST_CASE("validate(): a base delay below 1 ms or a cap below the base is refused with a message") {
    CHECK(danube::retry::exponential_backoff{}.validate().has_value());
    CHECK(danube::retry::linear_backoff{}.validate().has_value());
    CHECK(danube::retry::exponential_backoff{.max_retries = 0}.validate().has_value());
    for (const auto base : {0ms, -5ms}) {
      const auto refused = danube::retry::exponential_backoff{.base = base}.validate();
      REQUIRE_FALSE(refused);
      CHECK(refused.error() == danube::errc::invalid_argument);
      CHECK_MESSAGE(refused.error().message().find("base delay") != std::string::npos, refused.error().message());
      CHECK_FALSE(danube::retry::linear_backoff{.base = base}.validate());
    }
    const auto capped = danube::retry::exponential_backoff{.base = 100ms, .cap = 50ms}.validate();
    REQUIRE_FALSE(capped);
    CHECK_MESSAGE(capped.error().message().find("cap") != std::string::npos, capped.error().message());
    CHECK_FALSE(danube::retry::linear_backoff{.base = 100ms, .cap = 50ms}.validate());
    // A policy without validate() is always valid.
    CHECK(danube::validate_retry_policy(danube::retry::none{}).has_value());
    CHECK_FALSE(danube::validate_retry_policy(danube::retry::exponential_backoff{.base = 0ms}).has_value());
  }

  TEST_CASE("huge bases and attempt numbers saturate at the cap (no overflow)") {
    const auto huge = std::chrono::milliseconds(std::chrono::milliseconds::max().count() / 3);
    const danube::retry::exponential_backoff exponential{
        .max_retries = 1000, .base = huge, .cap = std::chrono::milliseconds::max()};
    for (const unsigned attempt : {1U, 2U, 3U, 64U, 1000U}) {
      const auto d = exponential.next_delay(down, attempt);
      REQUIRE(d.has_value());
      CHECK(d->count() > 0);
    }
    const danube::retry::linear_backoff linear{
        .max_retries = 4'000'000'000U, .base = huge, .cap = std::chrono::milliseconds::max()};
    for (const unsigned attempt : {1U, 2U, 3U, 3'999'999'999U}) {
      const auto d = linear.next_delay(down, attempt);
      REQUIRE(d.has_value());
      CHECK(d->count() > 0);
    }
  }
}
