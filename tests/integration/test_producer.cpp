// The producer through our client: ordering, concurrency, routing, large payloads, recovery.
#include "support/test_support.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using danube_test::require_ok;

namespace {
// A user-written router: every message to the last partition. Models danube::message_router
// without deriving from anything.
struct last_partition_router {
  std::uint32_t select_partition(std::optional<std::string_view> /*key*/, std::uint32_t partitions) const {
    return partitions - 1;
  }
};
}  // namespace

TEST_SUITE("producer") {
  TEST_CASE("reliable: 20 payloads of 100 KB arrive byte-identical, 100 back-to-back sends arrive in order") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("reliable-blob");
    auto producer =
        require_ok(client.new_producer().topic(topic).name("p").dispatch(danube::dispatch_strategy::reliable).build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer()
                                   .topic(topic)
                                   .consumer_name("c")
                                   .subscription("s")
                                   .subscription_type(danube::subscription_type::exclusive)
                                   .build());
    require_ok(consumer.subscribe());

    std::string blob(102400, '\0');
    for (std::size_t i = 0; i < blob.size(); ++i) {
      blob[i] = static_cast<char>('a' + static_cast<char>(i % 26));
    }
    for (int i = 0; i < 20; ++i) {
      require_ok(producer.send(blob));
    }
    for (int i = 0; i < 20; ++i) {
      auto m = require_ok(consumer.receive(10s));
      CHECK(m.payload_string() == blob);
      CHECK(m.offset() == static_cast<std::uint64_t>(i));
      require_ok(consumer.ack(m));
    }
    for (int i = 0; i < 100; ++i) {
      require_ok(producer.send(fmt::format("burst-{}", i)));
    }
    for (int i = 0; i < 100; ++i) {
      auto m = require_ok(consumer.receive(10s));
      REQUIRE(m.payload_string() == fmt::format("burst-{}", i));
      require_ok(consumer.ack(m));
    }
  }

  TEST_CASE("10,000 send_async futures complete in order") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    auto producer = require_ok(client.new_producer().topic(danube_test::unique_topic("many")).name("p").build());
    require_ok(producer.create());
    std::vector<std::future<danube::result<danube::message_id>>> futures;
    futures.reserve(10'000);
    std::atomic<int> order_violations{0};
    std::atomic<int> last{-1};
    for (int i = 0; i < 10'000; ++i) {
      require_ok(producer.send_async(fmt::format("{}", i), {}, [&, i](const danube::result<danube::message_id>& r) {
        if (!r || last.exchange(i) != i - 1) {
          ++order_violations;
        }
      }));
    }
    require_ok(producer.flush());
    CHECK(last == 9'999);
    CHECK(order_violations == 0);
  }

  TEST_CASE("8 threads sending on one producer: every message acknowledged exactly once") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("threads");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").partitions(3).build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    std::atomic<int> acknowledged{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 100; ++i) {
          if (producer.send(fmt::format("{}-{}", t, i))) {
            ++acknowledged;
          }
        }
      });
    }
    for (auto& thread : threads) {
      thread.join();
    }
    CHECK(acknowledged == 800);
    std::set<std::string> received;
    for (int i = 0; i < 800; ++i) {
      auto m = require_ok(consumer.receive(10s));
      CHECK(received.insert(std::string(m.payload_string())).second);
    }
    CHECK(received.size() == 800);
    CHECK(consumer.receive(100ms).error() == danube::errc::timeout);
  }

  TEST_CASE("send_with_key routes by FNV-1a, a user-written router plugs in") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("keys");
    auto producer =
        require_ok(client.new_producer<danube::basic_producer<danube::retry::none, danube::route::key_hash>>()
                       .topic(topic)
                       .name("p")
                       .partitions(3)
                       .build());
    require_ok(producer.create());
    for (const std::string key : {"a", "foobar", "customer-42", "eu-1"}) {
      const auto id = require_ok(producer.send_with_key(key, "x"));
      CHECK(id.topic ==
            danube::partition_topic_name(topic, static_cast<std::uint32_t>(danube::route::fnv1a_64(key) % 3)));
    }

    auto custom = require_ok(
        client.new_producer<danube::basic_producer<danube::retry::exponential_backoff, last_partition_router>>()
            .topic(danube_test::unique_topic("custom-router"))
            .name("p")
            .partitions(4)
            .build());
    require_ok(custom.create());
    for (int i = 0; i < 5; ++i) {
      CHECK(require_ok(custom.send("x")).topic.ends_with("-part-3"));
    }
  }

  TEST_CASE("the producer recovers when its broker restarts: sends after the restart succeed") {
    auto broker = danube_test::start_broker();
    const auto port = broker.port();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("restart");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    require_ok(producer.send("before"));

    broker.stop();
    danube::testing::broker_options options;
    options.listen_address = fmt::format("127.0.0.1:{}", port);
    auto restarted = danube_test::start_broker(options);

    // The old registration is gone: the send is retried, the producer re-created, and it succeeds.
    const auto id = require_ok(producer.send("after"));
    CHECK(id.topic == topic);
    CHECK(restarted.topics() == std::vector<std::string>{topic});

    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    require_ok(producer.send("after-subscribe"));
    CHECK(require_ok(consumer.receive(10s)).payload_string() == "after-subscribe");
  }

  TEST_CASE("non-retryable errors reach the caller: dispatch strategy mismatch") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("mismatch");
    auto reliable =
        require_ok(client.new_producer().topic(topic).name("r").dispatch(danube::dispatch_strategy::reliable).build());
    require_ok(reliable.create());
    auto plain = require_ok(client.new_producer().topic(topic).name("n").build());
    const auto refused = plain.create();
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == danube::errc::failed_precondition);
    CHECK(refused.error().message() == "Producer requested dispatch strategy does not match topic strategy");
  }

  TEST_CASE("oversized payloads and non-UTF-8 attributes are refused before any I/O") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    auto producer = require_ok(client.new_producer().topic(danube_test::unique_topic("bad-input")).name("p").build());
    require_ok(producer.create());
    CHECK(producer.send(std::string(5 * 1024 * 1024, 'x')).error() == danube::errc::invalid_argument);
    CHECK(producer.send("x", {{"k", "\xff"}}).error() == danube::errc::invalid_argument);
    CHECK(producer.send_with_key("\xc3", "x").error() == danube::errc::invalid_argument);
    require_ok(producer.send("still fine"));
  }
}
