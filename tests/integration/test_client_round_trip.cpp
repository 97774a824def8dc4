// Through our client, against the embedded broker, over the real gRPC wire protocol.
#include "support/test_support.hpp"

#include <chrono>
#include <future>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using danube_test::require_ok;

TEST_SUITE("client") {
  TEST_CASE("round trip: payload, attributes, key, producer name, publish time and topic arrive intact") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("round-trip");

    auto producer = require_ok(client.new_producer().topic(topic).name("writer").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("reader").subscription("sub").build());
    require_ok(consumer.subscribe());

    const auto before = std::chrono::system_clock::now() - 1s;
    const auto id = require_ok(producer.send_with_key("customer-42", "hello", {{"k", "v"}, {"n", "1"}}));
    CHECK(id.topic == topic);
    CHECK(id.producer_id != 0);
    CHECK(id.broker_addr == broker.url());

    auto m = require_ok(consumer.receive(5s));
    CHECK(m.payload_string() == "hello");
    CHECK(m.payload().size() == 5);
    CHECK(m.attributes() == danube::attributes{{"k", "v"}, {"n", "1"}});
    REQUIRE(m.routing_key().has_value());
    CHECK(*m.routing_key() == "customer-42");
    CHECK(m.producer_name() == "writer");
    CHECK(m.topic() == topic);
    CHECK(m.id().producer_id == id.producer_id);
    CHECK(m.publish_time() >= before);
    CHECK(m.publish_time() <= std::chrono::system_clock::now() + 1s);
    require_ok(consumer.ack(m));
  }

  TEST_CASE("ten messages arrive in order, each acked") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("ordered");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer()
                                   .topic(topic)
                                   .consumer_name("c")
                                   .subscription("s")
                                   .subscription_type(danube::subscription_type::exclusive)
                                   .build());
    require_ok(consumer.subscribe());
    for (int i = 0; i < 10; ++i) {
      require_ok(producer.send(fmt::format("m{}", i)));
    }
    for (int i = 0; i < 10; ++i) {
      auto m = require_ok(consumer.receive(5s));
      CHECK(m.payload_string() == fmt::format("m{}", i));
      require_ok(consumer.ack(m));
    }
    CHECK(consumer.try_receive().error() == danube::errc::timeout);
  }

  TEST_CASE("Shared: 3 consumers, 36 messages, exactly 12 each and none twice") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("shared-rr");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    std::vector<danube::consumer> consumers;
    for (int i = 0; i < 3; ++i) {
      consumers.push_back(require_ok(client.new_consumer()
                                         .topic(topic)
                                         .consumer_name(fmt::format("c{}", i))
                                         .subscription("queue")
                                         .subscription_type(danube::subscription_type::shared)
                                         .build()));
      require_ok(consumers.back().subscribe());
    }
    for (int i = 0; i < 36; ++i) {
      require_ok(producer.send(fmt::format("m{}", i)));
    }
    std::set<std::string> seen;
    for (auto& consumer : consumers) {
      for (int i = 0; i < 12; ++i) {
        auto m = require_ok(consumer.receive(5s));
        CHECK(seen.insert(std::string(m.payload_string())).second);
        require_ok(consumer.ack(m));
      }
      CHECK(consumer.receive(200ms).error() == danube::errc::timeout);
    }
    CHECK(seen.size() == 36);
  }

  TEST_CASE("Exclusive refuses a second consumer name, the first may re-subscribe") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("exclusive");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    const auto exclusive = [&](std::string name) {
      return require_ok(client.new_consumer()
                            .topic(topic)
                            .consumer_name(std::move(name))
                            .subscription("only-one")
                            .subscription_type(danube::subscription_type::exclusive)
                            .build());
    };
    auto a = exclusive("a");
    require_ok(a.subscribe());
    auto b = exclusive("b");
    const auto refused = b.subscribe();
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == danube::errc::permission_denied);
    CHECK(refused.error().message().find("Exclusive subscription can't be shared") != std::string::npos);
    auto a_again = exclusive("a");
    CHECK(a_again.subscribe().has_value());
  }

  TEST_CASE("invalid topic names are invalid_argument, from build() and from the broker") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    CHECK(client.new_producer().topic("/default/a.b").name("p").build().error() == danube::errc::invalid_argument);
    const auto looked_up = client.lookup_topic("default/t");
    REQUIRE_FALSE(looked_up);
    CHECK(looked_up.error() == danube::errc::invalid_argument);
  }

  TEST_CASE("lookup: Connect to the serving broker, NOT_FOUND for unknown topics") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("lookup");
    CHECK(client.lookup_topic(topic).error() == danube::errc::not_found);
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    const auto found = require_ok(client.lookup_topic(topic));
    CHECK(found.kind == danube::lookup_kind::connect);
    CHECK(found.broker_url == broker.url());
    CHECK(found.connect_url == broker.url());
    CHECK_FALSE(found.proxy);
  }

  TEST_CASE("consumers never create topics: subscribing to an unknown topic is not_found") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    auto consumer = require_ok(
        client.new_consumer().topic(danube_test::unique_topic("nowhere")).consumer_name("c").subscription("s").build());
    CHECK(consumer.subscribe().error() == danube::errc::not_found);
  }

  TEST_CASE("partitioned producer: round robin over part-0, part-1, part-2 - one consumer sees all") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("partitioned");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").partitions(3).build());
    require_ok(producer.create());
    CHECK(require_ok(client.topic_partitions(topic)) ==
          std::vector<std::string>{topic + "-part-0", topic + "-part-1", topic + "-part-2"});
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    std::vector<std::string> sent_to;
    for (int i = 0; i < 3; ++i) {
      sent_to.push_back(require_ok(producer.send(fmt::format("m{}", i))).topic);
    }
    CHECK(sent_to == std::vector<std::string>{topic + "-part-0", topic + "-part-1", topic + "-part-2"});
    std::multiset<std::string> received;
    for (int i = 0; i < 3; ++i) {
      auto m = require_ok(consumer.receive(5s));
      received.insert(m.topic());
      CHECK(m.producer_name() == fmt::format("p-{}", m.topic().back()));
      require_ok(consumer.ack(m));
    }
    CHECK(received == std::multiset<std::string>{topic + "-part-0", topic + "-part-1", topic + "-part-2"});
  }

  TEST_CASE("1,000 send_async complete in order, and the consumer sees them in order") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("async");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").max_pending_messages(64).build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    std::mutex mu;
    std::vector<int> completed;
    for (int i = 0; i < 1000; ++i) {
      require_ok(producer.send_async(fmt::format("{}", i), {}, [&, i](danube::result<danube::message_id> r) {
        CHECK(r.has_value());
        std::lock_guard lock(mu);
        completed.push_back(i);
      }));
    }
    require_ok(producer.flush());
    {
      std::lock_guard lock(mu);
      REQUIRE(completed.size() == 1000);
      for (int i = 0; i < 1000; ++i) {
        CHECK(completed[static_cast<std::size_t>(i)] == i);
      }
    }
    for (int i = 0; i < 1000; ++i) {
      auto m = require_ok(consumer.receive(5s));
      REQUIRE(m.payload_string() == fmt::format("{}", i));
    }
  }

  TEST_CASE("back-pressure: a small receive queue stays bounded and loses nothing") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("backpressure");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    auto consumer = require_ok(
        client.new_consumer().topic(topic).consumer_name("c").subscription("s").receive_queue_capacity(4).build());
    require_ok(consumer.subscribe());
    for (int i = 0; i < 200; ++i) {
      require_ok(producer.send(fmt::format("{}", i)));
    }
    for (int i = 0; i < 200; ++i) {
      auto m = require_ok(consumer.receive(5s));
      REQUIRE(m.payload_string() == fmt::format("{}", i));
    }
  }

  TEST_CASE("close: receive and send fail with errc::closed, closing twice is fine") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("close");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    auto waiting = std::async(std::launch::async, [&] { return consumer.receive(30s); });
    consumer.close();
    REQUIRE(waiting.wait_for(5s) == std::future_status::ready);
    CHECK(waiting.get().error() == danube::errc::closed);
    consumer.close();
    CHECK(consumer.receive(10ms).error() == danube::errc::closed);
    client.close();
    CHECK(producer.send("x").error() == danube::errc::closed);
    client.close();
  }
}
