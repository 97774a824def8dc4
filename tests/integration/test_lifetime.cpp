// Lifetime races: closing a client while its producers and consumers are being created, concurrent
// create()/subscribe() on one object, moved-from and move-assigned handles.
#include "support/test_support.hpp"
#include "support/watchdog.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace lifetime_test {

using namespace std::chrono_literals;
using danube_test::require_ok;
namespace testing = danube::testing;

// Retries that wait long enough for the test to close the client in between.
danube::retry::exponential_backoff slow_retries() {
  danube::retry::exponential_backoff policy;
  policy.max_retries = 50;
  policy.base = 400ms;
  policy.cap = 400ms;
  return policy;
}

std::shared_ptr<danube::client> shared_client(const testing::embedded_broker& broker,
                                              std::chrono::milliseconds health = 5s) {
  return std::make_shared<danube::client>(require_ok(
      danube::client::builder().service_url(broker.url()).call_timeout(2s).health_check_interval(health).build()));
}

// How many health checks reach the broker within `window`.
std::uint64_t health_checks_during(const testing::embedded_broker& broker, std::chrono::milliseconds window) {
  const auto before = broker.calls(testing::rpc::health_check);
  std::this_thread::sleep_for(window);
  return broker.calls(testing::rpc::health_check) - before;
}

}  // namespace lifetime_test

TEST_SUITE("lifetime") {
  using namespace lifetime_test;

  TEST_CASE("client.close() while create() waits between retries: create() returns errc::closed, never throws") {
    auto broker = danube_test::start_broker();
    auto client = shared_client(broker);
    broker.fail_next(testing::rpc::create_producer, 1000, grpc::StatusCode::UNAVAILABLE);
    auto producer = std::make_shared<danube::producer>(require_ok(client->new_producer()
                                                                      .topic(danube_test::unique_topic("close-create"))
                                                                      .name("p")
                                                                      .retry_policy(slow_retries())
                                                                      .build()));
    auto outcome = std::make_shared<std::promise<std::string>>();
    auto got = outcome->get_future();
    std::thread creator([producer, outcome] {
      try {
        const auto created = producer->create();
        outcome->set_value(created ? "ok" : std::string(danube::to_string(created.error().code())));
      } catch (const std::exception& e) {
        outcome->set_value(std::string("threw ") + e.what());
      }
    });
    REQUIRE(danube_test::wait_until([&broker] { return broker.calls(testing::rpc::create_producer) >= 1; }));
    std::this_thread::sleep_for(50ms);  // inside the 400 ms wait before the next attempt
    client->close();
    REQUIRE(got.wait_for(5s) == std::future_status::ready);
    CHECK(got.get() == "closed");
    creator.join();
  }

  TEST_CASE("client.close() while subscribe() waits between retries: subscribe() returns errc::closed, never throws") {
    auto broker = danube_test::start_broker();
    auto client = shared_client(broker);
    const auto topic = danube_test::unique_topic("close-subscribe");
    REQUIRE(broker.create_topic(topic));
    broker.fail_next(testing::rpc::subscribe, 1000, grpc::StatusCode::UNAVAILABLE);
    auto consumer = std::make_shared<danube::consumer>(require_ok(
        client->new_consumer().topic(topic).consumer_name("c").subscription("s").retry_policy(slow_retries()).build()));
    auto outcome = std::make_shared<std::promise<std::string>>();
    auto got = outcome->get_future();
    std::thread subscriber([consumer, outcome] {
      try {
        const auto subscribed = consumer->subscribe();
        outcome->set_value(subscribed ? "ok" : std::string(danube::to_string(subscribed.error().code())));
      } catch (const std::exception& e) {
        outcome->set_value(std::string("threw ") + e.what());
      }
    });
    REQUIRE(danube_test::wait_until([&broker] { return broker.calls(testing::rpc::subscribe) >= 1; }));
    std::this_thread::sleep_for(50ms);
    client->close();
    REQUIRE(got.wait_for(5s) == std::future_status::ready);
    CHECK(got.get() == "closed");
    subscriber.join();
  }

  TEST_CASE("client.close() racing create() and subscribe(): closed or ok, never a throw, nothing keeps running") {
    auto broker = danube_test::start_broker();
    const auto topic = danube_test::unique_topic("close-race");
    REQUIRE(broker.create_topic(topic));
    // A late answer: the registration succeeds on the broker after the client closed.
    broker.delay(testing::rpc::create_producer, 150ms);
    broker.delay(testing::rpc::subscribe, 150ms);
    for (int round = 0; round < 6; ++round) {
      CAPTURE(round);
      auto client = shared_client(broker, 50ms);
      auto producer = std::make_shared<danube::producer>(
          require_ok(client->new_producer().topic(topic).name(fmt::format("p{}", round)).build()));
      auto consumer = std::make_shared<danube::consumer>(require_ok(
          client->new_consumer().topic(topic).consumer_name(fmt::format("c{}", round)).subscription("s").build()));
      auto created = std::async(std::launch::async, [producer] {
        try {
          const auto r = producer->create();
          return r ? std::string("ok") : std::string(danube::to_string(r.error().code()));
        } catch (const std::exception& e) {
          return std::string("threw ") + e.what();
        }
      });
      auto subscribed = std::async(std::launch::async, [consumer] {
        try {
          const auto r = consumer->subscribe();
          return r ? std::string("ok") : std::string(danube::to_string(r.error().code()));
        } catch (const std::exception& e) {
          return std::string("threw ") + e.what();
        }
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(40 * round));
      client->close();
      REQUIRE(created.wait_for(5s) == std::future_status::ready);
      REQUIRE(subscribed.wait_for(5s) == std::future_status::ready);
      const auto c = created.get();
      const auto s = subscribed.get();
      CHECK((c == "closed" || c == "ok"));
      CHECK((s == "closed" || s == "ok"));
      // Closed means closed: no health check keeps running for what the race registered.
      CHECK(health_checks_during(broker, 300ms) == 0);
      CHECK(producer->send("after close").error() == danube::errc::closed);
    }
  }

  TEST_CASE("concurrent create() on one producer registers each partition once") {
    auto broker = danube_test::start_broker();
    auto client = shared_client(broker);
    broker.delay(testing::rpc::create_producer, 100ms);  // every caller arrives while the first is creating
    auto producer = std::make_shared<danube::producer>(require_ok(
        client->new_producer().topic(danube_test::unique_topic("concurrent-create")).name("p").partitions(3).build()));
    std::vector<std::future<danube::result<void>>> outcomes;
    for (int i = 0; i < 8; ++i) {
      outcomes.push_back(std::async(std::launch::async, [producer] { return producer->create(); }));
    }
    for (auto& outcome : outcomes) {
      REQUIRE(outcome.wait_for(10s) == std::future_status::ready);
      require_ok(outcome.get());
    }
    CHECK(broker.calls(testing::rpc::create_producer) == 3);
    require_ok(producer->send("one"));
  }

  TEST_CASE("concurrent subscribe() on one consumer subscribes each partition once") {
    auto broker = danube_test::start_broker();
    auto client = shared_client(broker);
    const auto topic = danube_test::unique_topic("concurrent-subscribe");
    REQUIRE(broker.create_topic(topic, danube::dispatch_strategy::non_reliable, 2));
    broker.delay(testing::rpc::subscribe, 100ms);
    auto consumer = std::make_shared<danube::consumer>(
        require_ok(client->new_consumer().topic(topic).consumer_name("c").subscription("s").build()));
    std::vector<std::future<danube::result<void>>> outcomes;
    for (int i = 0; i < 8; ++i) {
      outcomes.push_back(std::async(std::launch::async, [consumer] { return consumer->subscribe(); }));
    }
    for (auto& outcome : outcomes) {
      REQUIRE(outcome.wait_for(10s) == std::future_status::ready);
      require_ok(outcome.get());
    }
    CHECK(broker.calls(testing::rpc::subscribe) == 2);
  }

  TEST_CASE("a second close() (of the producer or of its client) waits until every completion has run") {
    // Found by the chaos soak: close() returned at once when another close() was under way.
    auto broker = danube_test::start_broker();
    for (const bool via_client : {false, true}) {
      CAPTURE(via_client);
      auto client = shared_client(broker);
      auto producer = std::make_shared<danube::producer>(
          require_ok(client->new_producer().topic(danube_test::unique_topic("second-close")).name("p").build()));
      require_ok(producer->create());
      auto completed = std::make_shared<std::atomic<int>>(0);
      auto first_started = std::make_shared<std::promise<void>>();
      constexpr int sends = 10;
      for (int i = 0; i < sends; ++i) {
        require_ok(
            producer->send_async("x", {}, [completed, first_started, i](const danube::result<danube::message_id>&) {
              if (i == 0) {
                first_started->set_value();
                std::this_thread::sleep_for(300ms);  // a slow completion keeps the first close() waiting
              }
              ++*completed;
            }));
      }
      first_started->get_future().wait();
      auto first = std::async(std::launch::async, [producer] { producer->close(); });
      std::this_thread::sleep_for(50ms);
      if (via_client) {
        client->close();
      } else {
        producer->close();
      }
      CHECK(completed->load() == sends);
      first.get();
    }
  }

  TEST_CASE("a moved-from client, producer and consumer: close() is a no-op, calls fail with errc::closed") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("moved-from");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(producer.create());
    require_ok(consumer.subscribe());
    const auto watched = danube_test::run_bounded(10s, [&] {
      auto client2 = std::move(client);
      auto producer2 = std::move(producer);
      auto consumer2 = std::move(consumer);
      client.close();  // NOLINT(bugprone-use-after-move): what this test is about
      producer.close();
      consumer.close();
      CHECK(producer.send("x").error() == danube::errc::closed);
      CHECK(producer.flush().error() == danube::errc::closed);
      CHECK(producer.create().error() == danube::errc::closed);
      CHECK(consumer.receive(10ms).error() == danube::errc::closed);
      CHECK(consumer.subscribe().error() == danube::errc::closed);
      CHECK(client.lookup_topic(topic).error() == danube::errc::closed);
      CHECK(client.new_producer().topic(topic).name("q").build().error() == danube::errc::closed);
      // The objects moved to still work.
      require_ok(producer2.send("still works"));
      require_ok(consumer2.receive(5s));
    });
    CHECK_MESSAGE(watched.ok(), watched.describe());
  }

  TEST_CASE("move-assignment closes what the target held: the old client, producer and consumer") {
    auto broker = danube_test::start_broker();
    const auto topic = danube_test::unique_topic("move-assign");
    auto first = danube_test::connect(broker);
    auto old_producer =
        std::make_shared<danube::producer>(require_ok(first.new_producer().topic(topic).name("p1").build()));
    require_ok(old_producer->create());

    // Client: the producer of the replaced client is closed with it.
    first = danube_test::connect(broker);
    CHECK(old_producer->send("x").error() == danube::errc::closed);

    // Producer: the replaced one is closed (its send in flight completes at once, with closed).
    auto producer = require_ok(first.new_producer().topic(topic).name("p2").build());
    require_ok(producer.create());
    broker.never_answer(testing::rpc::send_message);
    auto pending = producer.send_async("sent before the move");
    REQUIRE(danube_test::wait_until([&] { return broker.held_calls() == 1; }));
    producer = require_ok(first.new_producer().topic(topic).name("p3").build());
    REQUIRE(pending.wait_for(5s) == std::future_status::ready);
    CHECK(pending.get().error() == danube::errc::closed);
    broker.never_answer(testing::rpc::send_message, false);
    require_ok(producer.create());
    require_ok(producer.send("the new one works"));

    // Consumer: the replaced one stops streaming.
    auto consumer = require_ok(first.new_consumer().topic(topic).consumer_name("c1").subscription("s1").build());
    require_ok(consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));
    consumer = require_ok(first.new_consumer().topic(topic).consumer_name("c2").subscription("s2").build());
    CHECK(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 0; }));
  }
}
