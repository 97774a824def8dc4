// The conformance scenarios of broker-behaviour.md §11, through our client against the embedded
// broker. Non-reliable scenarios attach their consumers before producing, as upstream's do.
#include "support/test_support.hpp"

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using danube_test::require_ok;

namespace {

danube::consumer subscribe(danube::client& client, const std::string& topic, const std::string& name,
                           const std::string& subscription, danube::subscription_type type) {
  auto consumer = require_ok(client.new_consumer()
                                 .topic(topic)
                                 .consumer_name(name)
                                 .subscription(subscription)
                                 .subscription_type(type)
                                 .build());
  require_ok(consumer.subscribe());
  return consumer;
}

// Receives until `count` messages arrived or nothing more comes within `quiet`.
std::vector<danube::message> drain(danube::consumer& consumer, std::size_t count,
                                   std::chrono::milliseconds quiet = 2000ms) {
  std::vector<danube::message> out;
  while (out.size() < count) {
    auto m = consumer.receive(quiet);
    if (!m) {
      break;
    }
    out.push_back(std::move(*m));
  }
  return out;
}

std::set<std::string> payloads(const std::vector<danube::message>& messages) {
  std::set<std::string> out;
  for (const auto& m : messages) {
    out.emplace(m.payload_string());
  }
  return out;
}

}  // namespace

TEST_SUITE("scenarios") {
  TEST_CASE("1: basic Shared and Exclusive delivery, ack OK") {
    for (const auto type : {danube::subscription_type::shared, danube::subscription_type::exclusive}) {
      auto broker = danube_test::start_broker();
      auto client = danube_test::connect(broker);
      const auto topic = danube_test::unique_topic("basic");
      auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
      require_ok(producer.create());
      auto consumer = subscribe(client, topic, "c", "s", type);
      require_ok(producer.send("Hello Danube"));
      auto m = require_ok(consumer.receive(10s));
      CHECK(m.payload_string() == "Hello Danube");
      require_ok(consumer.ack(m));
    }
  }

  TEST_CASE("3: fan-out: 3 Exclusive subscriptions each receive all 24") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("fanout");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    std::vector<danube::consumer> consumers;
    for (int i = 0; i < 3; ++i) {
      consumers.push_back(subscribe(client, topic, fmt::format("c{}", i), fmt::format("sub{}", i),
                                    danube::subscription_type::exclusive));
    }
    for (int i = 0; i < 24; ++i) {
      require_ok(producer.send(fmt::format("m{}", i)));
    }
    for (auto& consumer : consumers) {
      const auto got = drain(consumer, 24);
      REQUIRE(got.size() == 24);
      for (std::size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].payload_string() == fmt::format("m{}", i));
      }
    }
  }

  TEST_CASE("5: Shared churn: a third consumer joins mid-stream, 45 distinct payloads exactly once") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("churn");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    std::vector<danube::consumer> consumers;
    consumers.push_back(subscribe(client, topic, "c0", "queue", danube::subscription_type::shared));
    consumers.push_back(subscribe(client, topic, "c1", "queue", danube::subscription_type::shared));
    for (int i = 0; i < 15; ++i) {
      require_ok(producer.send(fmt::format("m{}", i)));
    }
    consumers.push_back(subscribe(client, topic, "c2", "queue", danube::subscription_type::shared));
    for (int i = 15; i < 45; ++i) {
      require_ok(producer.send(fmt::format("m{}", i)));
    }
    std::multiset<std::string> all;
    for (auto& consumer : consumers) {
      const auto got = drain(consumer, 45, 500ms);
      CHECK_FALSE(got.empty());
      for (const auto& m : got) {
        all.emplace(m.payload_string());
      }
    }
    CHECK(all.size() == 45);
    CHECK(std::set<std::string>(all.begin(), all.end()).size() == 45);
  }

  TEST_CASE("6: Exclusive late joiner: the first two get all 45, the late one more than 0") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("late");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    auto a = subscribe(client, topic, "a", "sub-a", danube::subscription_type::exclusive);
    auto b = subscribe(client, topic, "b", "sub-b", danube::subscription_type::exclusive);
    for (int i = 0; i < 20; ++i) {
      require_ok(producer.send(fmt::format("m{}", i)));
    }
    auto late = subscribe(client, topic, "c", "sub-c", danube::subscription_type::exclusive);
    for (int i = 20; i < 45; ++i) {
      require_ok(producer.send(fmt::format("m{}", i)));
    }
    CHECK(drain(a, 45).size() == 45);
    CHECK(drain(b, 45).size() == 45);
    const auto got = drain(late, 45, 500ms);
    CHECK(got.size() == 25);
  }

  TEST_CASE("7 and 8: partition names in message ids, a non-partitioned topic keeps its own name") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto base = danube_test::unique_topic("naming");
    auto partitioned = require_ok(client.new_producer().topic(base).name("p").partitions(3).build());
    require_ok(partitioned.create());
    auto consumer = subscribe(client, base, "c", "s", danube::subscription_type::exclusive);
    for (int i = 0; i < 3; ++i) {
      require_ok(partitioned.send("x"));
    }
    std::set<std::string> topics;
    for (const auto& m : drain(consumer, 3)) {
      topics.insert(m.id().topic);
    }
    CHECK(topics == std::set<std::string>{base + "-part-0", base + "-part-1", base + "-part-2"});

    const auto plain = danube_test::unique_topic("plain");
    auto producer = require_ok(client.new_producer().topic(plain).name("p").build());
    require_ok(producer.create());
    auto plain_consumer = subscribe(client, plain, "c", "s", danube::subscription_type::exclusive);
    require_ok(producer.send("x"));
    CHECK(require_ok(plain_consumer.receive(10s)).id().topic == plain);
  }

  TEST_CASE("9: partitioned Shared: 3 consumers, 60 messages, 20 +/- 4 each, every partition seen") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("partitioned-shared");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").partitions(3).build());
    require_ok(producer.create());
    std::vector<danube::consumer> consumers;
    for (int i = 0; i < 3; ++i) {
      consumers.push_back(subscribe(client, topic, fmt::format("c{}", i), "queue", danube::subscription_type::shared));
    }
    for (int i = 0; i < 60; ++i) {
      require_ok(producer.send(fmt::format("m{}", i)));
    }
    std::set<std::string> partitions;
    std::set<std::string> all;
    for (auto& consumer : consumers) {
      const auto got = drain(consumer, 60, 500ms);
      CHECK(got.size() >= 16);
      CHECK(got.size() <= 24);
      for (const auto& m : got) {
        partitions.insert(m.topic());
        all.emplace(m.payload_string());
      }
    }
    CHECK(partitions.size() == 3);
    CHECK(all.size() == 60);
  }

  TEST_CASE("10: partitioned fan-out: 3 Exclusive subscriptions each get all 45") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("partitioned-fanout");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").partitions(3).build());
    require_ok(producer.create());
    std::vector<danube::consumer> consumers;
    for (int i = 0; i < 3; ++i) {
      consumers.push_back(subscribe(client, topic, fmt::format("c{}", i), fmt::format("sub{}", i),
                                    danube::subscription_type::exclusive));
    }
    for (int i = 0; i < 45; ++i) {
      require_ok(producer.send(fmt::format("m{}", i)));
    }
    for (auto& consumer : consumers) {
      CHECK(payloads(drain(consumer, 45)).size() == 45);
    }
  }

  TEST_CASE("41: after the client closes its stream the broker answers CLOSE, our consumer re-subscribes by itself") {
    auto broker = danube_test::start_broker();
    std::mutex mu;
    std::vector<std::string> log;
    auto client = require_ok(danube::client::builder()
                                 .service_url(broker.url())
                                 .health_check_interval(100ms)
                                 .logger([&](danube::log_level, std::string_view line) {
                                   std::lock_guard lock(mu);
                                   log.emplace_back(line);
                                 })
                                 .build());
    const auto topic = danube_test::unique_topic("health");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    auto consumer = subscribe(client, topic, "c", "s", danube::subscription_type::exclusive);
    // A second client takes the consumer's stream over (same names): the broker ends our stream,
    // and our consumer must get it back on its own.
    auto other = danube_test::connect(broker);
    auto thief = subscribe(other, topic, "c", "s", danube::subscription_type::exclusive);
    thief.close();
    CHECK(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));
    // That stream may still be the thief's: the broker learns of a cancelled stream a moment after
    // thief.close() returns, and a message handed to a stream that is going away is lost (not
    // reliable, as with the real broker). Only when a probe reaches our consumer is the stream ours.
    CHECK(danube_test::wait_until([&] {
      require_ok(producer.send("probe"));
      return consumer.receive(100ms).has_value();
    }));
    require_ok(producer.send("still here"));
    auto received = require_ok(consumer.receive(10s));
    while (received.payload_string() == "probe") {  // a probe that came later than its receive()
      received = require_ok(consumer.receive(10s));
    }
    CHECK(received.payload_string() == "still here");
  }
}
