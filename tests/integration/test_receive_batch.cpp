// receive_batch(max, timeout) and ack of a batch, through the client against the embedded broker:
// order, bounds, errors, the listener's exclusivity, close while a batch waits, reentrancy.
#include "support/test_support.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using danube_test::require_ok;

namespace {

struct batch_fixture {
  danube::testing::embedded_broker broker = danube_test::start_broker();
  danube::client client = danube_test::connect(broker);
  std::string topic = danube_test::unique_topic("batch");

  danube::producer producer(danube::dispatch_strategy strategy = danube::dispatch_strategy::non_reliable) {
    auto p = require_ok(client.new_producer().topic(topic).name("p").dispatch(strategy).build());
    require_ok(p.create());
    return p;
  }
  danube::consumer consumer(const std::string& subscription = "s") {
    auto c = require_ok(client.new_consumer()
                            .topic(topic)
                            .consumer_name("c-" + subscription)
                            .subscription(subscription)
                            .subscription_type(danube::subscription_type::exclusive)
                            .build());
    require_ok(c.subscribe());
    REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) >= 1; }));
    return c;
  }
};

// Receives batches until `count` messages came (bounded by the timeout of each call).
std::vector<danube::message> receive_all(danube::consumer& consumer, std::size_t count, std::size_t max) {
  std::vector<danube::message> out;
  while (out.size() < count) {
    auto batch = require_ok(consumer.receive_batch(max, 10s));
    REQUIRE(!batch.empty());
    REQUIRE(batch.size() <= max);
    for (auto& m : batch) {
      out.push_back(std::move(m));
    }
  }
  return out;
}

}  // namespace

TEST_SUITE("receive batch") {
  TEST_CASE("receive_batch returns what is queued, at most max, in order, errc::timeout when nothing came") {
    batch_fixture f;
    auto producer = f.producer();
    auto consumer = f.consumer();
    for (int i = 0; i < 200; ++i) {
      require_ok(producer.send(std::to_string(i)));
    }
    const auto all = receive_all(consumer, 200, 32);
    for (int i = 0; i < 200; ++i) {
      CHECK(all[static_cast<std::size_t>(i)].payload_string() == std::to_string(i));
    }
    const auto none = consumer.receive_batch(10, 20ms);
    REQUIRE_FALSE(none);
    CHECK(none.error() == danube::errc::timeout);
  }

  TEST_CASE("receive_batch: max_messages 0 is invalid_argument, before subscribe, failed_precondition") {
    batch_fixture f;
    auto producer = f.producer();
    auto unsubscribed = require_ok(f.client.new_consumer().topic(f.topic).consumer_name("u").subscription("u").build());
    const auto early = unsubscribed.receive_batch(10, 10ms);
    REQUIRE_FALSE(early);
    CHECK(early.error() == danube::errc::failed_precondition);
    auto consumer = f.consumer();
    const auto zero = consumer.receive_batch(0, 10ms);
    REQUIRE_FALSE(zero);
    CHECK(zero.error() == danube::errc::invalid_argument);
  }

  TEST_CASE("close() ends a receive_batch that waits, at once, with errc::closed") {
    batch_fixture f;
    auto producer = f.producer();
    auto consumer = f.consumer();
    auto waiting = std::async(std::launch::async, [&] { return consumer.receive_batch(100, 30s); });
    std::this_thread::sleep_for(50ms);
    consumer.close();
    REQUIRE(waiting.wait_for(5s) == std::future_status::ready);
    const auto outcome = waiting.get();
    REQUIRE_FALSE(outcome);
    CHECK(outcome.error() == danube::errc::closed);
    // Batches received before the close stay valid values of the application.
    const auto after = consumer.receive_batch(1, 10ms);
    REQUIRE_FALSE(after);
    CHECK(after.error() == danube::errc::closed);
  }

  TEST_CASE("reliable topic: ack of each batch lets the broker send the next (it holds back unacked ones)") {
    batch_fixture f;
    auto producer = f.producer(danube::dispatch_strategy::reliable);
    auto consumer = f.consumer();
    for (int i = 0; i < 150; ++i) {
      require_ok(producer.send(std::to_string(i)));
    }
    std::size_t received = 0;
    int expected = 0;
    while (received < 150) {
      auto batch = require_ok(consumer.receive_batch(64, 10s));
      for (const auto& m : batch) {
        REQUIRE(m.payload_string() == std::to_string(expected++));
      }
      received += batch.size();
      require_ok(consumer.ack(batch));
    }
    REQUIRE(danube_test::wait_until([&] { return f.broker.unacked_messages(f.topic, "s") == 0; }));
    const auto none = consumer.receive_batch(10, 50ms);
    REQUIRE_FALSE(none);  // everything acknowledged: nothing redelivered
    CHECK(none.error() == danube::errc::timeout);
  }

  TEST_CASE("ack of a batch: an empty batch succeeds, a foreign message refuses the whole batch") {
    batch_fixture f;
    auto producer = f.producer(danube::dispatch_strategy::reliable);
    auto mine = f.consumer("mine");
    auto other = f.consumer("other");
    REQUIRE(danube_test::wait_until([&] { return f.broker.streaming_consumers(f.topic) == 2; }));
    for (int i = 0; i < 3; ++i) {
      require_ok(producer.send(std::to_string(i)));
    }
    require_ok(mine.ack(std::span<const danube::message>()));
    auto batch = receive_all(mine, 3, 3);
    auto foreign = require_ok(other.receive(10s));
    batch.push_back(foreign);
    const auto refused = mine.ack(batch);
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == danube::errc::invalid_argument);
    CHECK(f.broker.unacked_messages(f.topic, "mine") == 3);  // nothing was acknowledged
    batch.pop_back();
    require_ok(mine.ack(batch));
    CHECK(danube_test::wait_until([&] { return f.broker.unacked_messages(f.topic, "mine") == 0; }));
  }

  TEST_CASE("ack of a batch while the consumer closes completes (acknowledged or closed), never hangs") {
    batch_fixture f;
    auto producer = f.producer(danube::dispatch_strategy::reliable);
    auto consumer = f.consumer();
    for (int i = 0; i < 10; ++i) {
      require_ok(producer.send(std::to_string(i)));
    }
    auto batch = receive_all(consumer, 10, 10);
    // The same ten messages many times over: more acks than the window of 64 in flight.
    std::vector<danube::message> many;
    for (int round = 0; round < 50; ++round) {
      many.insert(many.end(), batch.begin(), batch.end());
    }
    std::promise<danube::result<void>> outcome;
    require_ok(consumer.ack_async(many, [&](danube::result<void> r) { outcome.set_value(std::move(r)); }));
    const auto no_callback = consumer.ack_async(many, {});
    REQUIRE_FALSE(no_callback);
    CHECK(no_callback.error() == danube::errc::invalid_argument);
    consumer.close();
    auto done = outcome.get_future();
    REQUIRE(done.wait_for(10s) == std::future_status::ready);
    (void)done.get();  // acknowledged, closed, or the broker's answer to a repeated ack: but an answer
  }

  TEST_CASE("a listener cannot receive_batch (failed_precondition) but may ack a batch from its callback") {
    batch_fixture f;
    auto producer = f.producer(danube::dispatch_strategy::reliable);
    auto consumer = f.consumer();
    std::promise<std::pair<std::optional<danube::errc>, bool>> seen;
    std::atomic<bool> once{false};
    require_ok(consumer.on_message([&](danube::message m) {
      if (once.exchange(true)) {
        return;
      }
      const auto batch = consumer.receive_batch(10, 10ms);
      const auto acked = consumer.ack(std::span<const danube::message>(&m, 1));
      seen.set_value({batch ? std::nullopt : std::optional(batch.error().code()), acked.has_value()});
    }));
    require_ok(producer.send("x"));
    auto future = seen.get_future();
    REQUIRE(future.wait_for(10s) == std::future_status::ready);
    const auto [batch_error, acked] = future.get();
    CHECK(batch_error == danube::errc::failed_precondition);
    CHECK(acked);
    CHECK(danube_test::wait_until([&] { return f.broker.unacked_messages(f.topic, "s") == 0; }));
  }
}

TEST_SUITE("receive batch") {
  TEST_CASE("a listener that closes its consumer mid-batch gets no further message") {
    batch_fixture f;
    auto producer = f.producer();
    auto consumer = f.consumer();
    for (int i = 0; i < 50; ++i) {
      require_ok(producer.send("m" + std::to_string(i)));
    }
    // Most of the 50 are queued by now: the listener's first batch holds many of them.
    std::atomic<int> calls{0};
    std::atomic<bool> after_close{false};
    std::atomic<bool> closed{false};
    require_ok(consumer.on_message([&](const danube::message&) {
      if (closed.load()) {
        after_close = true;
      }
      if (calls.fetch_add(1) + 1 == 3) {
        consumer.close();
        closed = true;
      }
    }));
    REQUIRE(danube_test::wait_until([&] { return closed.load(); }));
    std::this_thread::sleep_for(100ms);  // room for a wrong delivery to show; nothing is timed
    CHECK(calls.load() == 3);
    CHECK_FALSE(after_close.load());
  }

  TEST_CASE("inside a send completion receive_batch may not wait (failed_precondition) but may take what is there") {
    batch_fixture f;
    auto producer = f.producer();
    auto consumer = f.consumer();
    std::promise<std::pair<std::optional<danube::errc>, std::optional<danube::errc>>> seen;
    require_ok(producer.send_async("x", {}, [&](const danube::result<danube::message_id>&) {
      const auto waiting = consumer.receive_batch(10, 1s);
      const auto now = consumer.receive_batch(10, 0ms);
      seen.set_value({waiting ? std::nullopt : std::optional(waiting.error().code()),
                      now ? std::nullopt : std::optional(now.error().code())});
    }));
    auto future = seen.get_future();
    REQUIRE(future.wait_for(10s) == std::future_status::ready);
    const auto [waiting_error, now_error] = future.get();
    CHECK(waiting_error == danube::errc::failed_precondition);
    CHECK((!now_error || *now_error == danube::errc::timeout));
  }
}
