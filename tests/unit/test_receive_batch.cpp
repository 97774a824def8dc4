// receive_queue::pop_batch: many messages handed over under one lock, in order, bounded by `max`,
// with failure notices kept in their place and paused streams resumed as after single pops.
#include <danube/detail/message_access.hpp>
#include <danube/detail/proto.hpp>
#include <danube/detail/receive_queue.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using danube::detail::paused_reader;
using danube::detail::receive_queue;

namespace {

struct batch_counting_reader final : paused_reader {
  std::atomic<int> resumed{0};
  void resume() override { ++resumed; }
};

danube::message numbered_message(int n) {
  danube::detail::wire::StreamMessage wire;
  wire.set_payload(std::to_string(n));
  return danube::message_access::from_wire(wire, "s");
}

std::vector<std::string> batch_payloads(const std::vector<danube::message>& batch) {
  std::vector<std::string> out;
  for (const auto& m : batch) {
    out.emplace_back(m.payload_string());
  }
  return out;
}

}  // namespace

TEST_SUITE("receive_queue batches") {
  TEST_CASE("pop_batch takes what is queued, up to max, in order, and leaves the rest") {
    receive_queue queue(1000);
    const auto reader = std::make_shared<batch_counting_reader>();
    for (int i = 0; i < 100; ++i) {  // past the ring's first growth, in order
      REQUIRE(queue.push(numbered_message(i), reader));
    }
    std::vector<danube::message> batch;
    REQUIRE(queue.pop_batch(batch, 30, 0ms));
    REQUIRE(batch.size() == 30);
    CHECK(batch.front().payload_string() == "0");
    CHECK(batch.back().payload_string() == "29");
    batch.clear();
    REQUIRE(queue.pop_batch(batch, 1000, 0ms));  // takes the 70 left, does not wait for more
    REQUIRE(batch.size() == 70);
    CHECK(batch.front().payload_string() == "30");
    CHECK(batch.back().payload_string() == "99");
    CHECK(queue.size() == 0);
    const auto empty = queue.pop_batch(batch, 10, 0ms);
    REQUIRE_FALSE(empty);
    CHECK(empty.error() == danube::errc::timeout);
    CHECK(batch.size() == 70);  // untouched
  }

  TEST_CASE("a failure notice ends a batch and is the error of the next call, then messages follow") {
    receive_queue queue(100);
    const auto reader = std::make_shared<batch_counting_reader>();
    REQUIRE(queue.push(numbered_message(1), reader));
    REQUIRE(queue.push(numbered_message(2), reader));
    queue.notify(danube::error(danube::errc::unavailable, "stream lost"));
    REQUIRE(queue.push(numbered_message(3), reader));
    std::vector<danube::message> batch;
    REQUIRE(queue.pop_batch(batch, 10, 0ms));
    CHECK(batch_payloads(batch) == std::vector<std::string>{"1", "2"});
    batch.clear();
    const auto notice = queue.pop_batch(batch, 10, 0ms);
    REQUIRE_FALSE(notice);
    CHECK(notice.error() == danube::errc::unavailable);
    CHECK(batch.empty());
    REQUIRE(queue.pop_batch(batch, 10, 0ms));
    CHECK(batch_payloads(batch) == std::vector<std::string>{"3"});
  }

  TEST_CASE("a batch that drains a full queue to three quarters resumes every paused stream once") {
    receive_queue queue(8);  // resumes at 6
    const auto first = std::make_shared<batch_counting_reader>();
    const auto second = std::make_shared<batch_counting_reader>();
    for (int i = 0; i < 7; ++i) {
      REQUIRE(queue.push(numbered_message(i), first));
    }
    CHECK_FALSE(queue.push(numbered_message(7), first));
    CHECK_FALSE(queue.push(numbered_message(8), second));
    std::vector<danube::message> batch;
    REQUIRE(queue.pop_batch(batch, 2, 0ms));  // 7 left: still above three quarters
    CHECK(first->resumed == 0);
    REQUIRE(queue.pop_batch(batch, 1, 0ms));  // 6 left
    CHECK(first->resumed == 1);
    CHECK(second->resumed == 1);
    REQUIRE(queue.pop_batch(batch, 100, 0ms));
    CHECK(batch.size() == 9);  // nothing dropped
    CHECK(first->resumed == 1);
  }

  TEST_CASE("pop_batch waits for the first message, and close() ends a waiting batch with errc::closed") {
    receive_queue queue(4);
    const auto reader = std::make_shared<batch_counting_reader>();
    std::vector<danube::message> batch;
    std::thread pusher([&] {
      std::this_thread::sleep_for(20ms);
      (void)queue.push(numbered_message(42), reader);
    });
    REQUIRE(queue.pop_batch(batch, 10, 5000ms));
    pusher.join();
    CHECK(batch_payloads(batch) == std::vector<std::string>{"42"});
    std::thread closer([&] {
      std::this_thread::sleep_for(20ms);
      queue.close();
    });
    const auto started = std::chrono::steady_clock::now();
    const auto closed = queue.pop_batch(batch, 10, 10'000ms);
    closer.join();
    REQUIRE_FALSE(closed);
    CHECK(closed.error() == danube::errc::closed);
    CHECK(std::chrono::steady_clock::now() - started < 5s);  // woken by close, not by the timeout
  }
}
