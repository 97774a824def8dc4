// Completions of one producer partition run in the order the sends were made, also for a send
// refused before it was queued (invalid, queue full, no room within its send timeout, producer
// closed): the refusal never overtakes an earlier send's completion (issue 13, the soak's
// completion_out_of_order).
#include "support/test_support.hpp"

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using danube::testing::rpc;
using danube_test::require_ok;

// A named namespace: the integration tests are one unity-built translation unit.
namespace completion_order_test {

// What each completion saw, in the order the completions ran.
struct completion_log {
  std::mutex mu;
  std::vector<std::pair<int, std::optional<danube::errc>>> entries;

  [[nodiscard]] auto record(int index) {
    return [this, index](const danube::result<danube::message_id>& outcome) {
      const std::lock_guard lock(mu);
      entries.emplace_back(index, outcome ? std::nullopt : std::optional(outcome.error().code()));
    };
  }
  [[nodiscard]] std::size_t size() {
    const std::lock_guard lock(mu);
    return entries.size();
  }
  [[nodiscard]] std::vector<int> order() {
    const std::lock_guard lock(mu);
    std::vector<int> out;
    for (const auto& [index, code] : entries) {
      out.push_back(index);
    }
    return out;
  }
  // "0 1 2", for the failure message.
  [[nodiscard]] std::string text() {
    std::string out;
    for (const auto index : order()) {
      out += (out.empty() ? "" : " ") + std::to_string(index);
    }
    return out;
  }
  [[nodiscard]] std::optional<danube::errc> code_of(int index) {
    const std::lock_guard lock(mu);
    for (const auto& [i, code] : entries) {
      if (i == index) {
        return code;
      }
    }
    return danube::errc::internal;  // not completed: never equal to what a test expects
  }
};

}  // namespace completion_order_test

TEST_SUITE("completion_order") {
  using completion_order_test::completion_log;

  TEST_CASE("a send refused before it was queued completes after the earlier sends of its partition") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    for (int round = 0; round < 3; ++round) {
      CAPTURE(round);
      auto producer = require_ok(client.new_producer()
                                     .topic(danube_test::unique_topic("refusal-order"))
                                     .name("p")
                                     .max_pending_messages(1, danube::queue_full_policy::fail)
                                     .build());
      require_ok(producer.create());
      broker.never_answer(rpc::send_message);
      completion_log log;
      REQUIRE(producer.send_async("held", {}, log.record(0)).has_value());
      REQUIRE(danube_test::wait_until([&] { return broker.held_calls() == 1; }));
      // Refused without a pending slot: invalid (too large), then the queue is full.
      REQUIRE(producer.send_async(std::string(danube::max_payload_size + 1, 'x'), {}, log.record(1)).has_value());
      REQUIRE(producer.send_async("no room", {}, log.record(2)).has_value());
      // The held send has not completed, so neither may the refusals behind it.
      CHECK(log.size() == 0);
      producer.close();  // fails the held send (closed), then the refusals run, in order
      REQUIRE(log.size() == 3);
      CHECK_MESSAGE((log.order() == std::vector<int>{0, 1, 2}), log.text());
      CHECK(log.code_of(0) == danube::errc::closed);
      CHECK(log.code_of(1) == danube::errc::invalid_argument);
      CHECK(log.code_of(2) == danube::errc::queue_full);
      // A send on the closed producer completes too, after everything before it.
      REQUIRE(producer.send_async("after close", {}, log.record(3)).has_value());
      REQUIRE(danube_test::wait_until([&] { return log.size() == 4; }));
      CHECK_MESSAGE((log.order() == std::vector<int>{0, 1, 2, 3}), log.text());
      CHECK(log.code_of(3) == danube::errc::closed);
      broker.clear_faults();
    }
  }

  TEST_CASE("a send that found no room within its send timeout completes after the earlier sends that timed out") {
    // The soak's case: a full queue with `block`; the send waiting for room reaches its deadline a
    // moment after the send before it, which is failed by the partition (the gRPC deadline or the
    // wake-up timer, a little later). The refusal must not run first.
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    broker.never_answer(rpc::send_message);
    for (int round = 0; round < 5; ++round) {
      CAPTURE(round);
      auto producer = require_ok(client.new_producer()
                                     .topic(danube_test::unique_topic("timeout-order"))
                                     .name("p")
                                     .max_pending_messages(2, danube::queue_full_policy::block)
                                     .max_in_flight(4)
                                     .send_timeout(300ms)
                                     .build());
      require_ok(producer.create());
      completion_log log;
      REQUIRE(producer.send_async("a", {}, log.record(0)).has_value());
      REQUIRE(producer.send_async("b", {}, log.record(1)).has_value());
      // Waits for room until its own deadline, then is refused with errc::timeout.
      REQUIRE(producer.send_async("c", {}, log.record(2)).has_value());
      REQUIRE(danube_test::wait_until([&] { return log.size() == 3; }));
      CHECK_MESSAGE((log.order() == std::vector<int>{0, 1, 2}), log.text());
      CHECK(log.code_of(0) == danube::errc::timeout);
      CHECK(log.code_of(1) == danube::errc::timeout);
      CHECK(log.code_of(2) == danube::errc::timeout);
    }
  }

  TEST_CASE("a send refused inside a completion completes after the sends queued before it") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    auto producer = require_ok(
        client.new_producer().topic(danube_test::unique_topic("refusal-inside")).name("p").max_in_flight(2).build());
    require_ok(producer.create());
    broker.never_answer(rpc::send_message);
    completion_log log;
    auto inner_accepted = std::make_shared<std::promise<bool>>();
    auto inner = inner_accepted->get_future();
    REQUIRE(producer
                .send_async("a", {},
                            [&log, &producer, inner_accepted](const danube::result<danube::message_id>& outcome) {
                              log.record(0)(outcome);
                              // Refused (the producer is closed by now): "b" was sent before it.
                              inner_accepted->set_value(producer.send_async("inner", {}, log.record(2)).has_value());
                            })
                .has_value());
    REQUIRE(producer.send_async("b", {}, log.record(1)).has_value());
    REQUIRE(danube_test::wait_until([&] { return broker.held_calls() == 2; }));
    producer.close();  // cancels "a" and "b": their completions run, then the refusal
    REQUIRE(inner.wait_for(10s) == std::future_status::ready);
    CHECK(inner.get());
    REQUIRE(danube_test::wait_until([&] { return log.size() == 3; }));
    CHECK_MESSAGE((log.order() == std::vector<int>{0, 1, 2}), log.text());
    CHECK(log.code_of(0) == danube::errc::closed);
    CHECK(log.code_of(1) == danube::errc::closed);
    CHECK(log.code_of(2) == danube::errc::closed);
  }
}
