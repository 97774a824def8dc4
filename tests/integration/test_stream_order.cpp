// The consumer's streams and subscriptions as the broker sees them: every ReceiveMessages follows
// its own Subscribe (a second stream without one is a plain replacement upstream: nothing is
// redelivered, so what the broker wrote to the replaced stream arrives only after its ack timeout,
// after later messages), and a partition that stops leaves no active consumer behind on the broker.
#include "support/test_support.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using danube_test::require_ok;

namespace stream_order_test {

// Every retry waits `delay` (five at most).
struct fixed_retry {
  std::chrono::milliseconds delay{1000};
  [[nodiscard]] std::optional<std::chrono::milliseconds> next_delay(const danube::error& /*failure*/,
                                                                    unsigned attempt) const {
    return attempt <= 5 ? std::optional(delay) : std::nullopt;
  }
};
static_assert(danube::retry_policy<fixed_retry>);

using consumer_t = danube::basic_consumer<fixed_retry>;

}  // namespace stream_order_test

TEST_SUITE("stream order") {
  TEST_CASE("a partition subscribed again before the consumer starts opens one stream per Subscribe") {
    namespace testing = danube::testing;
    auto broker = danube_test::start_broker();
    auto client = require_ok(danube::client::builder().service_url(broker.url()).health_check_interval(100ms).build());
    const auto topic = danube_test::unique_topic("resubscribed-before-start");
    REQUIRE(broker.create_topic(topic, danube::dispatch_strategy::reliable, 2));
    // One partition's first Subscribe fails, so subscribe() starts no stream before its retry a
    // second later; meanwhile the health checks of the partition that did subscribe answer CLOSE,
    // and it subscribes again (and again), until three Subscribes have reached the broker.
    broker.fail_next(testing::rpc::subscribe, 1, grpc::StatusCode::UNAVAILABLE, "not yet");
    broker.answer_close_for_all(true);
    std::thread calm([&] {
      (void)danube_test::wait_until([&] { return broker.calls(testing::rpc::subscribe) >= 3; });
      broker.answer_close_for_all(false);
    });
    auto consumer = require_ok(client.new_consumer<stream_order_test::consumer_t>()
                                   .topic(topic)
                                   .consumer_name("c")
                                   .subscription("s")
                                   .subscription_type(danube::subscription_type::exclusive)
                                   .retry_policy(stream_order_test::fixed_retry{})
                                   .build());
    const auto subscribed = consumer.subscribe();
    calm.join();
    require_ok(subscribed);
    const auto part0 = danube::partition_topic_name(topic, 0);
    const auto part1 = danube::partition_topic_name(topic, 1);
    REQUIRE(danube_test::wait_until(
        [&] { return broker.streaming_consumers(part0) == 1 && broker.streaming_consumers(part1) == 1; }));

    auto producer = require_ok(client.new_producer()
                                   .topic(topic)
                                   .name("p")
                                   .partitions(2)
                                   .dispatch(danube::dispatch_strategy::reliable)
                                   .build());
    require_ok(producer.create());
    constexpr int messages = 20;
    for (int i = 0; i < messages; ++i) {
      require_ok(producer.send(std::to_string(i)));
    }
    std::map<std::string, std::uint64_t> newest;  // partition -> offset of its newest first arrival
    std::set<std::pair<std::string, std::uint64_t>> seen;
    int disorder = 0;
    while (seen.size() < static_cast<std::size_t>(messages)) {
      auto m = require_ok(consumer.receive(10s));
      if (seen.emplace(m.topic(), m.offset()).second) {
        const auto [it, fresh] = newest.try_emplace(m.topic(), m.offset());
        if (!fresh) {
          disorder += m.offset() < it->second ? 1 : 0;
          it->second = std::max(it->second, m.offset());
        }
      }
      require_ok(consumer.ack(m));
    }
    CHECK(disorder == 0);
    MESSAGE(broker.calls(testing::rpc::subscribe), " Subscribes, ", broker.calls(testing::rpc::receive_messages),
            " ReceiveMessages");
    // Every stream followed a Subscribe of its own: none was a bare replacement.
    CHECK(broker.streams_without_subscribe() == 0);
  }

  TEST_CASE(
      "a partition that stops releases its consumer on the broker: the other Shared consumer gets every message") {
    namespace testing = danube::testing;
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("stopped-partition");
    REQUIRE(broker.create_topic(topic, danube::dispatch_strategy::reliable));
    const auto shared_consumer = [&](const char* name) {
      return require_ok(client.new_consumer<stream_order_test::consumer_t>()
                            .topic(topic)
                            .consumer_name(name)
                            .subscription("s")
                            .subscription_type(danube::subscription_type::shared)
                            .retry_policy(stream_order_test::fixed_retry{500ms})
                            .build());
    };
    auto reader = shared_consumer("reader");
    require_ok(reader.subscribe());
    REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));

    // The second consumer subscribes (the broker counts it active), its stream is refused, and
    // the re-subscription that follows half a second later fails for good: that partition stops.
    auto stopped = shared_consumer("stopped");
    broker.fail_next(testing::rpc::receive_messages, 1, grpc::StatusCode::UNAVAILABLE, "refused");
    require_ok(stopped.subscribe());
    broker.answer_lookup_failed(1);
    auto told = stopped.receive(10s);
    REQUIRE_FALSE(told);
    CHECK(told.error() == danube::errc::lookup_failed);

    auto producer =
        require_ok(client.new_producer().topic(topic).name("p").dispatch(danube::dispatch_strategy::reliable).build());
    require_ok(producer.create());
    constexpr int messages = 30;
    for (int i = 0; i < messages; ++i) {
      require_ok(producer.send(std::to_string(i)));
    }
    // Before: the broker kept dispatching to the stopped consumer (active, no stream), whose
    // unacknowledged messages filled the subscription's window until their ack timeout (30 s).
    std::set<std::string> received;
    while (received.size() < static_cast<std::size_t>(messages)) {
      auto m = reader.receive(10s);
      if (!m) {
        FAIL("after " << received.size() << " of " << messages << " messages: " << m.error().message());
      }
      received.emplace(m->payload_string());
      require_ok(reader.ack(*m));
    }
    CHECK(received.size() == messages);
  }
}
