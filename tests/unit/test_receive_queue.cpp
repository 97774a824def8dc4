#include <danube/detail/receive_queue.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using danube::detail::paused_reader;
using danube::detail::receive_queue;

namespace {
struct counting_reader final : paused_reader {
  std::atomic<int> resumed{0};
  void resume() override { ++resumed; }
};
}  // namespace

TEST_SUITE("receive_queue") {
  TEST_CASE("a full queue pauses the stream and resumes it at three quarters, not at the first free slot") {
    receive_queue queue(8);  // resumes at 6
    const auto reader = std::make_shared<counting_reader>();
    for (int i = 0; i < 7; ++i) {
      CHECK(queue.push(danube::message{}, reader));
    }
    CHECK_FALSE(queue.push(danube::message{}, reader));  // the 8th fills it
    REQUIRE(queue.pop(0ms));                             // 7 left
    CHECK(reader->resumed == 0);
    REQUIRE(queue.pop(0ms));  // 6 left
    CHECK(reader->resumed == 1);
    REQUIRE(queue.pop(0ms));
    CHECK(reader->resumed == 1);  // resumed once per pause
  }

  TEST_CASE("a capacity of 1 resumes as soon as the message is taken") {
    receive_queue queue(1);
    const auto reader = std::make_shared<counting_reader>();
    CHECK_FALSE(queue.push(danube::message{}, reader));
    REQUIRE(queue.pop(0ms));
    CHECK(reader->resumed == 1);
  }

  TEST_CASE("every paused stream is resumed, nothing is dropped") {
    receive_queue queue(4);  // resumes at 3
    const auto first = std::make_shared<counting_reader>();
    const auto second = std::make_shared<counting_reader>();
    for (int i = 0; i < 3; ++i) {
      CHECK(queue.push(danube::message{}, first));
    }
    CHECK_FALSE(queue.push(danube::message{}, first));
    CHECK_FALSE(queue.push(danube::message{}, second));  // over capacity by one per stream
    CHECK(queue.size() == 5);
    REQUIRE(queue.pop(0ms));
    CHECK(first->resumed == 0);
    REQUIRE(queue.pop(0ms));  // 3 left
    CHECK(first->resumed == 1);
    CHECK(second->resumed == 1);
    int left = 0;
    while (queue.pop(0ms)) {
      ++left;
    }
    CHECK(left == 3);
  }

  TEST_CASE("pop waits for a message pushed by another thread, times out without one, fails after close") {
    receive_queue queue(4);
    const auto reader = std::make_shared<counting_reader>();
    const auto none = queue.pop(10ms);
    REQUIRE_FALSE(none);
    CHECK(none.error() == danube::errc::timeout);
    std::thread pusher([&] {
      std::this_thread::sleep_for(20ms);
      (void)queue.push(danube::message{}, reader);
    });
    CHECK(queue.pop(5000ms));
    pusher.join();
    queue.close();
    const auto closed = queue.pop(10ms);
    REQUIRE_FALSE(closed);
    CHECK(closed.error() == danube::errc::closed);
  }
}
