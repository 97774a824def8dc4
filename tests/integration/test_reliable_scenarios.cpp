// Reliable dispatch, nack/redelivery and KeyShared through our client (broker-behaviour.md §11,
// scenarios 12-27), plus the slow-consumer bound.
#include "support/test_support.hpp"
#include <danube/testing/failure_policy.hpp>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using danube_test::require_ok;

namespace {

danube::producer reliable_producer(danube::client& client, const std::string& topic, std::uint32_t partitions = 0) {
  auto builder = client.new_producer().topic(topic).name("p").dispatch(danube::dispatch_strategy::reliable);
  if (partitions > 0) {
    builder.partitions(partitions);
  }
  auto producer = require_ok(builder.build());
  require_ok(producer.create());
  return producer;
}

danube::consumer consumer_of(danube::client& client, const std::string& topic, const std::string& name,
                             danube::subscription_type type, const std::string& subscription = "s",
                             std::vector<std::string> filters = {}) {
  auto consumer = require_ok(client.new_consumer()
                                 .topic(topic)
                                 .consumer_name(name)
                                 .subscription(subscription)
                                 .subscription_type(type)
                                 .key_filters(std::move(filters))
                                 .build());
  require_ok(consumer.subscribe());
  return consumer;
}

danube::testing::failure_policy quick_policy(danube::testing::poison what, std::uint32_t redeliveries) {
  danube::testing::failure_policy policy;
  policy.max_redelivery_count = redeliveries;
  policy.base_redelivery_delay_ms = 50;
  policy.backoff_strategy = danube::testing::backoff::fixed;
  policy.poison_policy = what;
  return policy;
}

}  // namespace

TEST_SUITE("reliable_scenarios") {
  TEST_CASE("12 and 13: reliable bursts arrive in order, also with pauses between them") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("burst");
    auto producer = reliable_producer(client, topic);
    auto consumer = consumer_of(client, topic, "c", danube::subscription_type::exclusive);
    for (int i = 0; i < 100; ++i) {
      require_ok(producer.send(fmt::format("m{}", i)));
    }
    for (int i = 0; i < 100; ++i) {
      auto m = require_ok(consumer.receive(10s));
      REQUIRE(m.payload_string() == fmt::format("m{}", i));
      require_ok(consumer.ack(m));
    }
    for (int burst = 0; burst < 3; ++burst) {
      for (int i = 0; i < 10; ++i) {
        require_ok(producer.send(fmt::format("b{}-{}", burst, i)));
      }
      std::this_thread::sleep_for(100ms);  // the scenario's gap between bursts (shortened)
    }
    for (int i = 0; i < 30; ++i) {
      auto m = require_ok(consumer.receive(10s));
      CHECK(m.payload_string() == fmt::format("b{}-{}", i / 10, i % 10));
      require_ok(consumer.ack(m));
    }
  }

  TEST_CASE("14 and 15: an unacked message comes back first when the consumer reconnects") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("reconnect");
    auto producer = reliable_producer(client, topic);
    auto first = consumer_of(client, topic, "c", danube::subscription_type::exclusive);
    for (int i = 0; i < 10; ++i) {
      require_ok(producer.send(fmt::format("msg_{}", i)));
    }
    for (int i = 0; i < 3; ++i) {
      require_ok(first.ack(require_ok(first.receive(10s))));
    }
    CHECK(require_ok(first.receive(10s)).payload_string() == "msg_3");  // received, not acked
    first.close();
    for (int reconnect = 0; reconnect < 2; ++reconnect) {
      auto again = consumer_of(client, topic, "c", danube::subscription_type::exclusive);
      CHECK(require_ok(again.receive(10s)).payload_string() == "msg_3");  // redelivered, still unacked
      again.close();
    }
    // Acked at last, msg_3 lets msg_4..msg_9 follow in order.
    auto last = consumer_of(client, topic, "c", danube::subscription_type::exclusive);
    auto m = require_ok(last.receive(10s));
    CHECK(m.payload_string() == "msg_3");
    require_ok(last.ack(m));
    for (int i = 4; i < 10; ++i) {
      auto next = require_ok(last.receive(10s));
      CHECK(next.payload_string() == fmt::format("msg_{}", i));
      require_ok(last.ack(next));
    }
  }

  // The soak's reliable_message_lost (issue 13): an application still acking messages it received
  // before a broker restart acked, by offset, the restarted topic's messages that were awaiting
  // their ack, because the new incarnation numbered its messages from 0 again. Closed before the
  // application got them, they never came back. A topic's offsets only grow, as upstream's WAL.
  TEST_CASE("an ack of a message from before a broker restart does not acknowledge a newer message") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("stale-ack");
    auto producer = reliable_producer(client, topic);
    auto consumer = consumer_of(client, topic, "c", danube::subscription_type::exclusive);
    for (int i = 0; i < 3; ++i) {
      require_ok(producer.send(fmt::format("old_{}", i)));
    }
    std::vector<danube::message> old;
    for (int i = 0; i < 3; ++i) {
      old.push_back(require_ok(consumer.receive(10s)));  // received, acked only after the restart
    }
    require_ok(broker.restart());
    // The consumer subscribes again (at the latest message) before anything new is sent.
    REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));
    for (int i = 0; i < 3; ++i) {
      require_ok(producer.send(fmt::format("new_{}", i)));
    }
    REQUIRE(danube_test::wait_until([&] { return broker.unacked_messages(topic, "s") == 3; }));
    for (const auto& m : old) {
      require_ok(consumer.ack(m));
    }
    CHECK(broker.unacked_messages(topic, "s") == 3);
    // Closed before the application took the new messages: they come again, in order.
    consumer.close();
    auto again = consumer_of(client, topic, "c", danube::subscription_type::exclusive);
    for (int i = 0; i < 3; ++i) {
      auto m = again.receive(10s);
      REQUIRE(m.has_value());
      CHECK(m->payload_string() == fmt::format("new_{}", i));
      require_ok(again.ack(*m));
    }
  }

  TEST_CASE("16: Shared: a consumer's unacked message goes to the other when it leaves, all 10 arrive") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("shared-failover");
    auto producer = reliable_producer(client, topic);
    auto c1 = consumer_of(client, topic, "c1", danube::subscription_type::shared);
    auto c2 = consumer_of(client, topic, "c2", danube::subscription_type::shared);
    for (int i = 0; i < 10; ++i) {
      require_ok(producer.send(fmt::format("m{}", i)));
    }
    const auto held = require_ok(c1.receive(10s));  // c1 holds m0 without acking
    c1.close();
    std::set<std::string> got;
    while (got.size() < 10) {
      auto m = c2.receive(10s);
      REQUIRE(m.has_value());
      got.emplace(m->payload_string());
      require_ok(c2.ack(*m));
    }
    CHECK(got.contains(std::string(held.payload_string())));
  }

  TEST_CASE("17 to 21: nack redelivers - Block, Drop and DeadLetter when redeliveries are exhausted") {
    using danube::testing::poison;
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);

    SUBCASE("17: nack redelivers the same offset") {
      const auto topic = danube_test::unique_topic("nack");
      require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
      require_ok(broker.set_failure_policy(topic, "s", quick_policy(poison::block, 2)));
      auto producer = reliable_producer(client, topic);
      auto consumer = consumer_of(client, topic, "c", danube::subscription_type::exclusive);
      require_ok(producer.send("again"));
      auto m = require_ok(consumer.receive(10s));
      require_ok(consumer.nack(m));
      auto redelivered = require_ok(consumer.receive(5s));
      CHECK(redelivered.payload_string() == "again");
      CHECK(redelivered.offset() == m.offset());
      require_ok(consumer.ack(redelivered));
    }
    SUBCASE("19: Block holds the subscription") {
      const auto topic = danube_test::unique_topic("block");
      require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
      require_ok(broker.set_failure_policy(topic, "s", quick_policy(poison::block, 0)));
      auto producer = reliable_producer(client, topic);
      auto consumer = consumer_of(client, topic, "c", danube::subscription_type::exclusive);
      require_ok(producer.send("A"));
      require_ok(consumer.nack(require_ok(consumer.receive(10s))));
      require_ok(producer.send("B"));
      CHECK(consumer.receive(2s).error() == danube::errc::timeout);
    }
    SUBCASE("20: Drop skips the message") {
      const auto topic = danube_test::unique_topic("drop");
      require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
      require_ok(broker.set_failure_policy(topic, "s", quick_policy(poison::drop, 0)));
      auto producer = reliable_producer(client, topic);
      auto consumer = consumer_of(client, topic, "c", danube::subscription_type::exclusive);
      require_ok(producer.send("A"));
      require_ok(consumer.nack(require_ok(consumer.receive(10s))));
      require_ok(producer.send("B"));
      CHECK(require_ok(consumer.receive(10s)).payload_string() == "B");
    }
    SUBCASE("21: DeadLetter republishes to the DLQ topic with the x-* attributes") {
      const auto topic = danube_test::unique_topic("dlq");
      const auto dlq = topic + "-dlq";
      require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
      require_ok(broker.create_topic(dlq, danube::dispatch_strategy::reliable));
      auto policy = quick_policy(poison::dead_letter, 0);
      policy.dead_letter_topic = dlq;
      require_ok(broker.set_failure_policy(topic, "s", policy));
      auto producer = reliable_producer(client, topic);
      auto consumer = consumer_of(client, topic, "c", danube::subscription_type::exclusive);
      auto dead = consumer_of(client, dlq, "dlq-reader", danube::subscription_type::exclusive, "dlq-sub");
      require_ok(producer.send("A"));
      require_ok(consumer.nack(require_ok(consumer.receive(10s)), {.reason = "dead-letter it"}));
      auto m = require_ok(dead.receive(10s));
      CHECK(m.payload_string() == "A");
      CHECK(m.topic() == dlq);
      CHECK(m.attributes().at("x-original-topic") == topic);
      CHECK(m.attributes().at("x-original-subscription") == "s");
      CHECK(m.attributes().at("x-poison-policy") == "dead_letter");
      CHECK(m.attributes().at("x-failure-reason") == "dead-letter it");
      require_ok(producer.send("B"));
      CHECK(require_ok(consumer.receive(10s)).payload_string() == "B");
    }
  }

  TEST_CASE("18: a message not acked within the ack timeout comes again") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("ack-timeout");
    require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
    auto policy = quick_policy(danube::testing::poison::block, 3);
    policy.ack_timeout_ms = 200;
    require_ok(broker.set_failure_policy(topic, "s", policy));
    auto producer = reliable_producer(client, topic);
    auto consumer = consumer_of(client, topic, "c", danube::subscription_type::exclusive);
    require_ok(producer.send("slow"));
    const auto first = require_ok(consumer.receive(10s));
    const auto again = require_ok(consumer.receive(10s));
    CHECK(again.offset() == first.offset());
    require_ok(consumer.ack(again));
  }

  TEST_CASE("22 and 25: KeyShared: every key goes to one consumer, in order - out-of-order acks are fine") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("key-shared");
    auto producer = reliable_producer(client, topic);
    auto a = consumer_of(client, topic, "a", danube::subscription_type::key_shared);
    auto b = consumer_of(client, topic, "b", danube::subscription_type::key_shared);
    for (int i = 0; i < 5; ++i) {
      for (const char* key : {"k1", "k2", "k3", "k4"}) {
        require_ok(producer.send_with_key(key, fmt::format("{}-{}", key, i)));
      }
    }
    std::map<std::string, std::set<std::string>> consumers_of_key;
    std::map<std::string, std::vector<std::string>> order;
    int total = 0;
    // Both consumers are read in turn: reliable KeyShared holds one message per key in flight, so
    // each key moves on only as its consumer acks.
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (total < 20 && std::chrono::steady_clock::now() < deadline) {
      for (auto* consumer : {&a, &b}) {
        auto m = consumer->receive(20ms);
        if (!m) {
          continue;
        }
        const std::string key(*m->routing_key());
        consumers_of_key[key].insert(consumer == &a ? "a" : "b");
        order[key].emplace_back(m->payload_string());
        ++total;
        require_ok(consumer->ack(*m));
      }
    }
    CHECK(total == 20);
    for (const auto& [key, owners] : consumers_of_key) {
      CAPTURE(key);
      CHECK(owners.size() == 1);
      REQUIRE(order[key].size() == 5);
      for (int i = 0; i < 5; ++i) {
        CHECK(order[key][static_cast<std::size_t>(i)] == fmt::format("{}-{}", key, i));
      }
    }
  }

  TEST_CASE("23 and 24: KeyShared glob filters, an unfiltered consumer takes the rest") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("filters");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    auto users = consumer_of(client, topic, "users", danube::subscription_type::key_shared, "s", {"user-*"});
    auto orders = consumer_of(client, topic, "orders", danube::subscription_type::key_shared, "s", {"order-*"});
    for (const char* key : {"user-1", "user-2", "order-1", "order-2"}) {
      require_ok(producer.send_with_key(key, key));
    }
    std::set<std::string> user_keys;
    std::set<std::string> order_keys;
    for (int i = 0; i < 2; ++i) {
      user_keys.emplace(require_ok(users.receive(10s)).payload_string());
      order_keys.emplace(require_ok(orders.receive(10s)).payload_string());
    }
    CHECK(user_keys == std::set<std::string>{"user-1", "user-2"});
    CHECK(order_keys == std::set<std::string>{"order-1", "order-2"});

    const auto mixed_topic = danube_test::unique_topic("mixed-filters");
    auto mixed = require_ok(client.new_producer().topic(mixed_topic).name("p").build());
    require_ok(mixed.create());
    auto vip = consumer_of(client, mixed_topic, "vip", danube::subscription_type::key_shared, "s", {"vip-*"});
    auto anyone = consumer_of(client, mixed_topic, "anyone", danube::subscription_type::key_shared, "s");
    for (int i = 0; i < 6; ++i) {
      require_ok(mixed.send_with_key(fmt::format("vip-{}", i), "vip"));
      require_ok(mixed.send_with_key(fmt::format("regular-{}", i), "regular"));
    }
    int vip_count = 0;
    int other_count = 0;
    for (auto m = vip.receive(1s); m; m = vip.receive(500ms)) {
      CHECK(m->routing_key()->starts_with("vip-"));
      ++vip_count;
    }
    for (auto m = anyone.receive(1s); m; m = anyone.receive(500ms)) {
      ++other_count;
    }
    // vip keys are eligible for both consumers (the ring decides); regular keys only for the
    // unfiltered one. So: vip gets only vip-*, the other gets at least the 6 regular ones.
    CHECK(other_count >= 6);
    CHECK(vip_count + other_count == 12);
  }

  TEST_CASE("27: KeyShared on partitions: every message arrives, at least 2 partitions used") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("ks-partitions");
    auto producer = reliable_producer(client, topic, 3);
    auto consumer = consumer_of(client, topic, "c", danube::subscription_type::key_shared);
    for (int i = 0; i < 5; ++i) {
      for (int k = 0; k < 5; ++k) {
        require_ok(producer.send_with_key(fmt::format("key-{}", k), fmt::format("{}-{}", k, i)));
      }
    }
    std::set<std::string> partitions;
    for (int i = 0; i < 25; ++i) {
      auto m = require_ok(consumer.receive(10s));
      partitions.insert(m.topic());
      require_ok(consumer.ack(m));
    }
    CHECK(partitions.size() >= 2);
  }

  TEST_CASE("a slow consumer of 10,000 reliable messages keeps its queue bound and loses nothing") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("slow-consumer");
    auto producer = require_ok(client.new_producer()
                                   .topic(topic)
                                   .name("p")
                                   .dispatch(danube::dispatch_strategy::reliable)
                                   .max_pending_messages(256)
                                   .build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer()
                                   .topic(topic)
                                   .consumer_name("c")
                                   .subscription("s")
                                   .subscription_type(danube::subscription_type::exclusive)
                                   .receive_queue_capacity(16)
                                   .build());
    require_ok(consumer.subscribe());
    constexpr int total = 10'000;
    std::atomic<int> failed_sends{0};
    for (int i = 0; i < total; ++i) {
      require_ok(producer.send_async(fmt::format("{}", i), {}, [&](const danube::result<danube::message_id>& r) {
        if (!r) {
          ++failed_sends;
        }
      }));
    }
    for (int i = 0; i < total; ++i) {
      auto m = require_ok(consumer.receive(10s));
      REQUIRE(m.payload_string() == fmt::format("{}", i));
      require_ok(consumer.ack(m));
    }
    require_ok(producer.flush());
    CHECK(failed_sends == 0);
  }
}
