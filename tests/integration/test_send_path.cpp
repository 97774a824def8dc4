// The send path reuses its requests (a producer pools completed sends): nothing of one message may
// leak into the next, whatever the payload sizes and the hand-over (copied, viewed, moved in).
#include "support/test_support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using danube_test::require_ok;

namespace {

std::string send_path_pattern(std::size_t size, char seed) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    out[i] = static_cast<char>(seed + static_cast<char>(i % 23));
  }
  return out;
}

}  // namespace

TEST_SUITE("send path") {
  TEST_CASE("a reused send carries nothing of the previous message: key, attributes, payload") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("reuse");
    // One in flight: every send after the first reuses the same pooled request.
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer()
                                   .topic(topic)
                                   .consumer_name("c")
                                   .subscription("s")
                                   .subscription_type(danube::subscription_type::exclusive)
                                   .build());
    require_ok(consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));

    require_ok(producer.send_with_key("the-key", send_path_pattern(5000, 'a'), {{"color", "red"}, {"size", "xl"}}));
    require_ok(producer.send("short"));
    require_ok(producer.send(send_path_pattern(3, 'b'), {{"only", "one"}}));

    auto first = require_ok(consumer.receive(10s));
    CHECK(first.payload_string() == send_path_pattern(5000, 'a'));
    CHECK(first.routing_key() == std::optional<std::string_view>("the-key"));
    CHECK(first.attributes().size() == 2);

    auto second = require_ok(consumer.receive(10s));
    CHECK(second.payload_string() == "short");  // not "short" followed by the rest of the 5000 bytes
    CHECK_FALSE(second.routing_key().has_value());
    CHECK(second.attributes().empty());

    auto third = require_ok(consumer.receive(10s));
    CHECK(third.payload_string() == send_path_pattern(3, 'b'));
    CHECK(third.attributes() == danube::attributes{{"only", "one"}});
    CHECK_FALSE(third.routing_key().has_value());
  }

  // With one in flight the broker stores them in order; with a window it stores them in the order
  // their calls complete (concurrent unary calls: a small message can overtake a 1 MiB one), so
  // the window case compares what arrived, not the order.
  TEST_CASE("large and small payloads, copied, viewed and moved in, arrive intact, with one and with four in flight") {
    for (const std::size_t window : {std::size_t{1}, std::size_t{4}}) {
      INFO("max_in_flight ", window);
      auto broker = danube_test::start_broker();
      auto client = danube_test::connect(broker);
      const auto topic = danube_test::unique_topic("mixed-sizes");
      auto producer = require_ok(client.new_producer().topic(topic).name("p").max_in_flight(window).build());
      require_ok(producer.create());
      auto consumer = require_ok(client.new_consumer()
                                     .topic(topic)
                                     .consumer_name("c")
                                     .subscription("s")
                                     .subscription_type(danube::subscription_type::exclusive)
                                     .build());
      require_ok(consumer.subscribe());
      REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));

      const std::vector<std::size_t> sizes{1024 * 1024, 10, 300 * 1024, 0, 64 * 1024, 1, 1024 * 1024, 7};
      std::vector<std::string> sent;
      std::vector<std::future<danube::result<danube::message_id>>> outcomes;
      for (int round = 0; round < 3; ++round) {
        for (std::size_t i = 0; i < sizes.size(); ++i) {
          auto payload = send_path_pattern(sizes[i], static_cast<char>('a' + round + static_cast<int>(i)));
          sent.push_back(payload);
          switch ((i + static_cast<std::size_t>(round)) % 3) {
            case 0: outcomes.push_back(producer.send_async(payload)); break;
            case 1:
              outcomes.push_back(producer.send_async(std::as_bytes(std::span(payload.data(), payload.size()))));
              break;
            default: outcomes.push_back(producer.send_async(std::move(payload))); break;
          }
        }
      }
      for (auto& outcome : outcomes) {
        require_ok(outcome.get());
      }
      std::vector<std::string> received;
      for (std::size_t i = 0; i < sent.size(); ++i) {
        auto m = require_ok(consumer.receive(10s));
        received.push_back(m.take_payload());
      }
      if (window == 1) {
        CHECK(received == sent);
      } else {
        std::ranges::sort(received);
        std::ranges::sort(sent);
        CHECK(received == sent);
      }
    }
  }
}

TEST_SUITE("send path") {
  TEST_CASE("completions that send again (reusing pooled ops) and one that closes the producer: each runs once") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("reuse-reenter");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").max_in_flight(4).build());
    require_ok(producer.create());
    constexpr int first_wave = 40;
    constexpr int close_at = 60;  // the completion of this many-th send closes the producer
    std::atomic<int> completions{0};
    std::atomic<int> succeeded{0};
    std::atomic<int> refused{0};
    std::vector<std::atomic<int>> runs(2 * first_wave);
    std::function<void(int)> send_one;
    send_one = [&](int i) {
      // A fresh payload moved in, as big as the pool's budget allows to keep, then small ones.
      auto sent = producer.send_async(std::string(i % 2 == 0 ? 70000 : 10, static_cast<char>('a' + i % 26)), {},
                                      [&, i](const danube::result<danube::message_id>& r) {
                                        runs[static_cast<std::size_t>(i)].fetch_add(1);
                                        (r ? succeeded : refused).fetch_add(1);
                                        const int n = completions.fetch_add(1) + 1;
                                        if (i < first_wave) {
                                          send_one(i + first_wave);  // from inside the completion
                                        }
                                        if (n == close_at) {
                                          producer.close();  // from inside a completion: must not hang
                                        }
                                      });
      if (!sent) {
        runs[static_cast<std::size_t>(i)].fetch_add(1);
        refused.fetch_add(1);
        completions.fetch_add(1);
      }
    };
    for (int i = 0; i < first_wave; ++i) {
      send_one(i);
    }
    REQUIRE(danube_test::wait_until([&] { return completions.load() == 2 * first_wave; }, 20s));
    for (const auto& r : runs) {
      CHECK(r.load() == 1);
    }
    CHECK(succeeded.load() >= close_at);  // every send completed before the close succeeded
    CHECK(succeeded.load() + refused.load() == 2 * first_wave);
  }
}
