#include "support/wait_until.hpp"
#include <danube/detail/pending_limiter.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using danube::queue_full_policy;
using danube::detail::pending_limiter;

namespace {
// Polls `done` for up to `bound`.
template <class Condition>
bool eventually(Condition done, std::chrono::milliseconds bound = 5s) {
  return danube_test::wait_until(done, bound);
}
}  // namespace

TEST_SUITE("pending_limiter") {
  TEST_CASE("fail policy: queue_full at the limit, room again after a release") {
    pending_limiter limiter(2);
    CHECK(limiter.acquire(queue_full_policy::fail, 1s));
    CHECK(limiter.acquire(queue_full_policy::fail, 1s));
    const auto full = limiter.acquire(queue_full_policy::fail, 1s);
    REQUIRE_FALSE(full);
    CHECK(full.error() == danube::errc::queue_full);
    limiter.release();
    CHECK(limiter.acquire(queue_full_policy::fail, 1s));
  }

  TEST_CASE("block policy: a sender of a limit of 1 is woken by the release, timeout without one") {
    pending_limiter limiter(1);
    REQUIRE(limiter.acquire(queue_full_policy::block, 1s));
    const auto late = limiter.acquire(queue_full_policy::block, 20ms);
    REQUIRE_FALSE(late);
    CHECK(late.error() == danube::errc::timeout);
    std::atomic<bool> got{false};
    std::thread sender([&] { got = limiter.acquire(queue_full_policy::block, 10s).has_value(); });
    std::this_thread::sleep_for(20ms);
    limiter.release();
    CHECK(eventually([&] { return got.load(); }));
    sender.join();
  }

  TEST_CASE("close wakes blocked senders with errc::closed") {
    pending_limiter limiter(1);
    REQUIRE(limiter.acquire(queue_full_policy::block, 1s));
    std::atomic<bool> closed{false};
    std::thread sender([&] {
      const auto r = limiter.acquire(queue_full_policy::block, 10s);
      closed = !r && r.error() == danube::errc::closed;
    });
    std::this_thread::sleep_for(20ms);
    limiter.close();
    CHECK(eventually([&] { return closed.load(); }));
    sender.join();
  }
}
