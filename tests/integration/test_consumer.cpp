// The consumer through our client: listener, acks, recovery after a broker restart.
#include "support/test_support.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using danube_test::require_ok;

TEST_SUITE("consumer") {
  TEST_CASE("listener: every message, in order, never two calls at once - receive() is then refused") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("listener");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    auto consumer = require_ok(
        client.new_consumer().topic(topic).consumer_name("c").subscription("s").receive_queue_capacity(8).build());
    require_ok(consumer.subscribe());

    std::atomic<int> inside{0};
    std::atomic<int> overlaps{0};
    std::mutex mu;
    std::vector<std::string> got;
    require_ok(consumer.on_message([&](danube::message m) {
      if (inside.fetch_add(1) != 0) {
        ++overlaps;
      }
      std::this_thread::sleep_for(1ms);  // a slow listener: the queue fills, streams pause
      CHECK(consumer.ack(m).has_value());
      {
        std::lock_guard lock(mu);
        got.emplace_back(m.payload_string());
      }
      inside.fetch_sub(1);
    }));
    CHECK(consumer.receive(10ms).error() == danube::errc::failed_precondition);
    for (int i = 0; i < 100; ++i) {
      require_ok(producer.send(fmt::format("{}", i)));
    }
    CHECK(danube_test::wait_until([&] {
      std::lock_guard lock(mu);
      return got.size() == 100;
    }));
    CHECK(overlaps == 0);
    std::lock_guard lock(mu);
    for (int i = 0; i < 100; ++i) {
      CHECK(got[static_cast<std::size_t>(i)] == fmt::format("{}", i));
    }
  }

  TEST_CASE("ack and nack, blocking and async - acking a message from another topic is refused") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("acks");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    for (int i = 0; i < 3; ++i) {
      require_ok(producer.send("x"));
    }
    auto a = require_ok(consumer.receive(5s));
    auto b = require_ok(consumer.receive(5s));
    auto c = require_ok(consumer.receive(5s));
    require_ok(consumer.ack(a));
    require_ok(consumer.ack_async(b).get());
    require_ok(consumer.nack(c, {.delay = 10ms, .reason = "later"}));

    const auto other_topic = danube_test::unique_topic("acks-other");
    auto other_producer = require_ok(client.new_producer().topic(other_topic).name("p").build());
    require_ok(other_producer.create());
    auto other = require_ok(client.new_consumer().topic(other_topic).consumer_name("c").subscription("s").build());
    require_ok(other.subscribe());
    require_ok(other_producer.send("y"));
    auto foreign = require_ok(other.receive(5s));
    const auto refused = consumer.ack(foreign);
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == danube::errc::invalid_argument);
  }

  TEST_CASE("partitioned: one consumer subscribes to every partition, an empty partition list is not_found") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("parts");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").partitions(3).build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    for (int i = 0; i < 30; ++i) {
      require_ok(producer.send(fmt::format("{}", i)));
    }
    std::set<std::string> partitions;
    for (int i = 0; i < 30; ++i) {
      partitions.insert(require_ok(consumer.receive(5s)).topic());
    }
    CHECK(partitions.size() == 3);
    auto nothing = require_ok(
        client.new_consumer().topic(danube_test::unique_topic("none")).consumer_name("c").subscription("s").build());
    const auto missing = nothing.subscribe();
    REQUIRE_FALSE(missing);
    CHECK(missing.error() == danube::errc::not_found);
  }

  TEST_CASE("partitioned: a prefix-sharing topic T_np is not subscribed with T (broker prefix-match quirk)") {
    constexpr std::uint32_t n = 3;
    auto broker = danube_test::start_broker();
    auto [lines, sink] = danube_test::log_lines::make();
    auto client = require_ok(danube::client::builder().service_url(broker.url()).logger(sink).build());
    const auto topic = danube_test::unique_topic("quirk");
    const auto neighbour = topic + "_np";
    auto producer = require_ok(client.new_producer().topic(topic).name("p").partitions(n).build());
    require_ok(producer.create());
    auto other = require_ok(client.new_producer().topic(neighbour).name("p-np").build());
    require_ok(other.create());
    // The broker lists the neighbour too; the client keeps only T's partitions.
    std::vector<std::string> parts;
    for (std::uint32_t i = 0; i < n; ++i) {
      parts.push_back(danube::partition_topic_name(topic, i));
    }
    CHECK(require_ok(client.topic_partitions(topic)) == parts);

    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    CHECK(lines->contains(danube::log_level::debug, neighbour));
    require_ok(other.send("stray"));
    for (std::uint32_t i = 0; i < n; ++i) {
      require_ok(producer.send(fmt::format("m{}", i)));
    }
    std::set<std::string> seen;
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto m = require_ok(consumer.receive(5s));
      CHECK(m.topic() != neighbour);
      seen.insert(m.topic());
    }
    CHECK(seen == std::set<std::string>(parts.begin(), parts.end()));
    // A stray message from T_np would have arrived by now; give it 300 ms more.
    const auto stray = consumer.receive(300ms);
    CHECK_MESSAGE(!stray.has_value(), "unexpected message from " << (stray ? stray->topic() : std::string()));
    if (!stray) {
      CHECK(stray.error() == danube::errc::timeout);
    }
    CHECK(broker.calls(danube::testing::rpc::subscribe) == n);
  }

  TEST_CASE("close() with 3 partitions streaming returns within 1 s") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("close-streaming");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").partitions(3).build());
    require_ok(producer.create());
    auto consumer = require_ok(
        client.new_consumer().topic(topic).consumer_name("c").subscription("s").receive_queue_capacity(2).build());
    require_ok(consumer.subscribe());
    for (int i = 0; i < 30; ++i) {
      require_ok(producer.send("x"));  // fills the queue: the streams are paused mid-flight
    }
    const auto started = std::chrono::steady_clock::now();
    consumer.close();
    CHECK(std::chrono::steady_clock::now() - started < 1s);
    CHECK(consumer.receive(10ms).error() == danube::errc::closed);
  }

  TEST_CASE("the consumer recovers after its broker restarts: later messages arrive") {
    auto broker = danube_test::start_broker();
    const auto port = broker.port();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("consumer-restart");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    require_ok(producer.send("before"));
    CHECK(require_ok(consumer.receive(5s)).payload_string() == "before");

    broker.stop();
    danube::testing::broker_options options;
    options.listen_address = fmt::format("127.0.0.1:{}", port);
    auto restarted = danube_test::start_broker(options);

    // Non-reliable messages sent while the consumer is away are lost (as on the real broker);
    // keep sending until one comes through, within a bound.
    bool arrived = false;
    int errors_reported = 0;
    for (int i = 0; i < 200 && !arrived; ++i) {
      require_ok(producer.send("after"));
      auto m = consumer.receive(50ms);
      if (m) {
        arrived = m->payload_string() == "after";
      } else if (m.error() != danube::errc::timeout) {
        ++errors_reported;  // the consumer tells us what it is going through, never silence
      }
    }
    CHECK(arrived);
    MESSAGE("errors reported while recovering: " << errors_reported);
  }
}

TEST_SUITE("consumer_recovery") {
  TEST_CASE("a health-check CLOSE makes an idle consumer subscribe again at once, messages keep coming") {
    auto broker = danube_test::start_broker();
    auto client = require_ok(danube::client::builder().service_url(broker.url()).health_check_interval(100ms).build());
    const auto topic = danube_test::unique_topic("consumer-close");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer()
                                   .topic(topic)
                                   .consumer_name("c")
                                   .subscription("s")
                                   .subscription_type(danube::subscription_type::exclusive)
                                   .build());
    require_ok(consumer.subscribe());
    const auto subscribes = broker.calls(danube::testing::rpc::subscribe);
    broker.answer_close_for_all(true);
    CHECK(danube_test::wait_until([&] { return broker.calls(danube::testing::rpc::subscribe) > subscribes; }, 5s));
    broker.answer_close_for_all(false);
    CHECK(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));
    require_ok(producer.send("still subscribed"));
    CHECK(require_ok(consumer.receive(10s)).payload_string() == "still subscribed");
  }

  TEST_CASE("a failure the consumer cannot fix reaches the application: never a silent stop") {
    auto broker = danube_test::start_broker();
    auto client = require_ok(danube::client::builder().service_url(broker.url()).health_check_interval(100ms).build());
    const auto topic = danube_test::unique_topic("consumer-denied");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    broker.fail_next(danube::testing::rpc::subscribe, 1000, grpc::StatusCode::PERMISSION_DENIED, "not yours");
    broker.answer_close_for_all(true);
    auto outcome = consumer.receive(10s);
    REQUIRE_FALSE(outcome);
    CHECK(outcome.error() == danube::errc::permission_denied);
    CHECK(outcome.error().message().find("not yours") != std::string::npos);
  }
}
