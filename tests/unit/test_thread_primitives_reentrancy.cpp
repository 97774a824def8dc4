// The library's own threads (scheduler, listener executor) and the pending-send bound, called back
// into from the code they run or drop: nothing may deadlock or wait longer than it must.
#include "support/wait_until.hpp"
#include "support/watchdog.hpp"
#include <danube/detail/executor.hpp>
#include <danube/detail/pending_limiter.hpp>
#include <danube/detail/scheduler.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <utility>

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using danube::detail::executor;
using danube::detail::scheduler;

namespace {
// Runs `on_destroy` when the last copy of the task holding it goes away.
struct destructor_hook {
  explicit destructor_hook(std::function<void()> f) : on_destroy(std::move(f)) {}
  destructor_hook(const destructor_hook&) = delete;
  destructor_hook& operator=(const destructor_hook&) = delete;
  ~destructor_hook() {
    if (on_destroy) {
      on_destroy();
    }
  }
  std::function<void()> on_destroy;
};

}  // namespace

TEST_SUITE("thread primitives reentrancy") {
  TEST_CASE("scheduler - a task dropped by cancel() or stop() is destroyed outside the scheduler's lock") {
    auto timers = std::make_shared<scheduler>();
    const auto watched = danube_test::run_bounded(5s, [timers] {
      const std::weak_ptr<scheduler> weak = timers;
      // Its destructor calls back into the scheduler, as a dropped retry does when it completes
      // its caller with errc::closed.
      const auto first = timers->schedule(1h, [hook = std::make_shared<destructor_hook>([weak] {
                                                 if (const auto t = weak.lock()) {
                                                   (void)t->schedule(1h, [] {});
                                                 }
                                               })] {});
      timers->cancel(first);
      (void)timers->schedule(1h, [hook = std::make_shared<destructor_hook>([weak] {
                                    if (const auto t = weak.lock()) {
                                      t->cancel(12345);
                                    }
                                  })] {});
      timers->stop();
    });
    CHECK_MESSAGE(watched.ok(), watched.describe());
  }

  TEST_CASE("scheduler - a task that releases the last reference to its scheduler finishes") {
    auto destroyed = std::make_shared<std::promise<void>>();
    auto done = destroyed->get_future();
    {
      auto timers = std::make_shared<scheduler>();
      auto* raw = timers.get();
      (void)raw->schedule(0ms,
                          [keep = std::make_shared<destructor_hook>([timers = std::move(timers), destroyed]() mutable {
                             timers.reset();
                             destroyed->set_value();
                           })] {});
    }
    CHECK(done.wait_for(5s) == std::future_status::ready);
  }

  TEST_CASE("executor - a task that releases the last reference to its executor does not deadlock it") {
    // What a message listener does when it drops the last reference to its client.
    auto destroyed = std::make_shared<std::promise<void>>();
    auto done = destroyed->get_future();
    {
      auto listeners = std::make_shared<executor>();
      auto* raw = listeners.get();
      REQUIRE(
          raw->post([keep = std::make_shared<destructor_hook>([listeners = std::move(listeners), destroyed]() mutable {
                       listeners.reset();
                       destroyed->set_value();
                     })] {}));
    }
    CHECK(done.wait_for(5s) == std::future_status::ready);
  }

  TEST_CASE("executor - queued tasks dropped by stop() are destroyed outside its lock") {
    auto listeners = std::make_shared<executor>();
    const auto watched = danube_test::run_bounded(5s, [listeners] {
      auto release = std::make_shared<std::promise<void>>();
      auto started = std::make_shared<std::promise<void>>();
      REQUIRE(listeners->post([gate = release->get_future().share(), started] {
        started->set_value();
        gate.wait();
      }));
      started->get_future().wait();
      const std::weak_ptr<executor> weak = listeners;
      REQUIRE(listeners->post([hook = std::make_shared<destructor_hook>([weak] {
                                 if (const auto l = weak.lock()) {
                                   (void)l->post([] {});
                                 }
                               })] {}));
      std::thread releaser([release] {
        std::this_thread::sleep_for(50ms);
        release->set_value();
      });
      listeners->stop();
      releaser.join();
    });
    CHECK_MESSAGE(watched.ok(), watched.describe());
  }

  TEST_CASE("pending_limiter - a blocked sender wakes as soon as one slot is free") {
    danube::detail::pending_limiter limiter(64);
    for (int i = 0; i < 64; ++i) {
      REQUIRE(limiter.acquire(danube::queue_full_policy::block, 1s));
    }
    std::atomic<bool> got{false};
    std::thread sender([&] { got = limiter.acquire(danube::queue_full_policy::block, 30s).has_value(); });
    std::this_thread::sleep_for(20ms);
    limiter.release();
    CHECK(danube_test::wait_until([&] { return got.load(); }, 5s));
    limiter.close();  // frees the sender if the check failed
    sender.join();
  }

  TEST_CASE("scheduler - a delay of milliseconds::max() is in the far future, not an overflow into the past") {
    scheduler timers;
    std::atomic<bool> ran{false};
    (void)timers.schedule(std::chrono::milliseconds::max(), [&] { ran = true; });
    (void)timers.schedule(std::chrono::hours::max(), [&] { ran = true; });
    std::this_thread::sleep_for(200ms);
    CHECK_FALSE(ran.load());
    timers.stop();
  }

  TEST_CASE("pending_limiter - a wait of milliseconds::max() waits, it does not time out at once") {
    danube::detail::pending_limiter limiter(1);
    REQUIRE(limiter.acquire(danube::queue_full_policy::block, 1s));
    std::atomic<bool> returned{false};
    std::thread sender([&] {
      (void)limiter.acquire(danube::queue_full_policy::block, std::chrono::milliseconds::max());
      returned = true;
    });
    std::this_thread::sleep_for(200ms);
    CHECK_FALSE(returned.load());
    limiter.release();
    CHECK(danube_test::wait_until([&] { return returned.load(); }, 5s));
    sender.join();
  }
}
