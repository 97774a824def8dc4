#include <danube/detail/receive_queue.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
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

  TEST_CASE("a push after close() is dropped and keeps no reader alive") {
    // A stream's last read can land after the consumer closed its queue: the queue must not keep
    // that reader (which keeps the queue) alive, nor hold its message.
    receive_queue queue(1);
    auto reader = std::make_shared<counting_reader>();
    const std::weak_ptr<counting_reader> weak = reader;
    queue.close();
    (void)queue.push(danube::message{}, reader);
    reader.reset();
    CHECK(weak.expired());
    CHECK(queue.size() == 0);
  }

  TEST_CASE("repeated failures of one source coalesce into one undelivered notice") {
    receive_queue queue(4);
    for (int i = 0; i < 10'000; ++i) {
      queue.notify(danube::error(danube::errc::not_found, "attempt " + std::to_string(i)));
    }
    CHECK(queue.size() == 1);
    const auto first = queue.pop(0ms);
    REQUIRE_FALSE(first);
    CHECK(first.error() == danube::errc::not_found);
    CHECK(first.error().message().find("attempt 9999") != std::string::npos);
    // Delivered: the next failure is news again.
    queue.notify(danube::error(danube::errc::not_found, "again"));
    CHECK(queue.size() == 1);
    // Another source (another partition) is another notice; a message in between keeps its place.
    const auto reader = std::make_shared<counting_reader>();
    CHECK(queue.push(danube::message{}, reader));
    queue.notify(danube::error(danube::errc::unavailable, "other partition"), "/default/t-part-1");
    queue.notify(danube::error(danube::errc::not_found, "again, newer"));
    CHECK(queue.size() == 3);
    const auto again = queue.pop(0ms);
    REQUIRE_FALSE(again);
    CHECK(again.error().message() == "again, newer");
    CHECK(queue.pop(0ms).has_value());
    const auto other = queue.pop(0ms);
    REQUIRE_FALSE(other);
    CHECK(other.error() == danube::errc::unavailable);
  }
}
