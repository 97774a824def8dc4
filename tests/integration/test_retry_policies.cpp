// Retry policies end to end (issue 13 item 6): the fields of the built-in policies say what they
// mean, and a policy the library would loop on is refused by build().
#include "support/test_support.hpp"

#include <chrono>
#include <string>

namespace retry_policies_test {

using namespace std::chrono_literals;
using danube_test::require_ok;
namespace testing = danube::testing;

}  // namespace retry_policies_test

TEST_SUITE("retry policies") {
  using namespace retry_policies_test;

  TEST_CASE("max_retries = 0: create() and subscribe() try once and return the retryable error") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("no-retry");

    broker.fail_next(testing::rpc::create_producer, 1, grpc::StatusCode::UNAVAILABLE, "restarting");
    auto producer = require_ok(client.new_producer()
                                   .topic(topic)
                                   .name("p")
                                   .retry_policy(danube::retry::exponential_backoff{.max_retries = 0})
                                   .build());
    const auto created = producer.create();
    REQUIRE_FALSE(created);
    CHECK(created.error() == danube::errc::unavailable);
    CHECK(broker.calls(testing::rpc::create_producer) == 1);
    require_ok(producer.create());  // the next call tries again

    broker.fail_next(testing::rpc::subscribe, 1, grpc::StatusCode::UNAVAILABLE, "restarting");
    auto consumer = require_ok(client.new_consumer()
                                   .topic(topic)
                                   .consumer_name("c")
                                   .subscription("s")
                                   .retry_policy(danube::retry::exponential_backoff{.max_retries = 0})
                                   .build());
    const auto subscribed = consumer.subscribe();
    REQUIRE_FALSE(subscribed);
    CHECK(subscribed.error() == danube::errc::unavailable);
    CHECK(broker.calls(testing::rpc::subscribe) == 1);
  }

  TEST_CASE("build() refuses a zero or negative base delay and a cap below the base, naming the field") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("bad-retry");
    for (const auto& policy :
         {danube::retry::exponential_backoff{.base = 0ms}, danube::retry::exponential_backoff{.base = -1ms},
          danube::retry::exponential_backoff{.base = 100ms, .cap = 10ms}}) {
      const auto producer = client.new_producer().topic(topic).name("p").retry_policy(policy).build();
      REQUIRE_FALSE(producer);
      CHECK(producer.error() == danube::errc::invalid_argument);
      CHECK_MESSAGE(producer.error().message().find("retry::exponential_backoff") != std::string::npos,
                    producer.error().message());
      const auto consumer =
          client.new_consumer().topic(topic).consumer_name("c").subscription("s").retry_policy(policy).build();
      REQUIRE_FALSE(consumer);
      CHECK(consumer.error() == danube::errc::invalid_argument);
    }
    using linear_producer = danube::basic_producer<danube::retry::linear_backoff>;
    const auto linear =
        client.new_producer<linear_producer>().topic(topic).name("p").retry_policy({.base = 0ms}).build();
    REQUIRE_FALSE(linear);
    CHECK_MESSAGE(linear.error().message().find("retry::linear_backoff") != std::string::npos,
                  linear.error().message());
    CHECK(broker.calls(testing::rpc::topic_lookup) == 0);
  }
}
