// The send path reuses its requests (a producer pools completed sends): nothing of one message may
// leak into the next, whatever the payload sizes and the hand-over (copied, viewed, moved in).
#include "support/test_support.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
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
