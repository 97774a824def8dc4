// Failure paths of the client against the embedded broker's fault injection: retries, Failed
// lookups, health-check CLOSE, calls that are never answered or answered late, and bounded
// shutdown.
#include "support/test_support.hpp"
#include <danube/detail/proto.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

// A named namespace: the integration tests are one unity-built translation unit.
namespace faults_test {

using namespace std::chrono_literals;
using danube_test::require_ok;
namespace testing = danube::testing;

// Quick retries, so that retry tests take milliseconds.
danube::retry::exponential_backoff quick_backoff() {
  danube::retry::exponential_backoff policy;
  policy.base = 10ms;
  policy.cap = 50ms;
  return policy;
}

danube::client connect(const testing::embedded_broker& broker, std::chrono::milliseconds call_timeout = 30s) {
  auto client = danube::client::builder().service_url(broker.url()).call_timeout(call_timeout).build();
  REQUIRE_MESSAGE(client.has_value(), fmt::format("{}", client.error()));
  return std::move(*client);
}

// A user-written retry policy: models danube::retry_policy, derives from nothing, and counts how
// often it is asked.
struct counting_retry {
  std::shared_ptr<std::atomic<unsigned>> asked = std::make_shared<std::atomic<unsigned>>(0);
  unsigned max_retries = 3;

  [[nodiscard]] std::optional<std::chrono::milliseconds> next_delay(const danube::error& failure,
                                                                    unsigned attempt) const {
    asked->fetch_add(1);
    if (!failure.retryable() || attempt > max_retries) {
      return std::nullopt;
    }
    return std::chrono::milliseconds(5);
  }
};
static_assert(danube::retry_policy<counting_retry>);

}  // namespace faults_test

TEST_SUITE("faults") {
  using namespace faults_test;

  TEST_CASE("UNAVAILABLE twice then OK: create() succeeds after two retries, looking up again before each") {
    auto broker = danube_test::start_broker();
    auto client = connect(broker);
    broker.fail_next(testing::rpc::create_producer, 2, grpc::StatusCode::UNAVAILABLE, "try again later");
    auto producer = require_ok(client.new_producer()
                                   .topic(danube_test::unique_topic("retry"))
                                   .name("p")
                                   .retry_policy(quick_backoff())
                                   .build());
    require_ok(producer.create());
    CHECK(broker.calls(testing::rpc::create_producer) == 3);
    CHECK(broker.calls(testing::rpc::topic_lookup) == 3);
    require_ok(producer.send("after retries"));
  }

  TEST_CASE("UNAVAILABLE on Subscribe is retried the same way") {
    auto broker = danube_test::start_broker();
    auto client = connect(broker);
    const auto topic = danube_test::unique_topic("retry-subscribe");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    broker.fail_next(testing::rpc::subscribe, 2, grpc::StatusCode::UNAVAILABLE, "try again later");
    auto consumer = require_ok(
        client.new_consumer().topic(topic).consumer_name("c").subscription("s").retry_policy(quick_backoff()).build());
    require_ok(consumer.subscribe());
    CHECK(broker.calls(testing::rpc::subscribe) == 3);
  }

  TEST_CASE("a non-retryable injected failure fails create() at once, with the injected message") {
    auto broker = danube_test::start_broker();
    auto client = connect(broker);
    broker.fail_next(testing::rpc::create_producer, 1, grpc::StatusCode::PERMISSION_DENIED, "not you");
    auto producer = require_ok(client.new_producer().topic(danube_test::unique_topic("denied")).name("p").build());
    const auto created = producer.create();
    REQUIRE_FALSE(created);
    CHECK(created.error() == danube::errc::permission_denied);
    CHECK(created.error().message() == "not you");
    CHECK(broker.calls(testing::rpc::create_producer) == 1);
    // The injection is used up: the next attempt works.
    require_ok(producer.create());
  }

  TEST_CASE("a user-written retry policy plugs in and retries injected UNAVAILABLE") {
    auto broker = danube_test::start_broker();
    auto client = connect(broker);
    const auto topic = danube_test::unique_topic("custom-retry");
    counting_retry policy;
    broker.fail_next(testing::rpc::create_producer, 2, grpc::StatusCode::UNAVAILABLE, "busy");
    auto producer = require_ok(client.new_producer<danube::basic_producer<counting_retry>>()
                                   .topic(topic)
                                   .name("p")
                                   .retry_policy(policy)
                                   .build());
    require_ok(producer.create());
    CHECK(policy.asked->load() == 2);
    CHECK(broker.calls(testing::rpc::create_producer) == 3);

    // It gives up when it says so: four failures against three retries.
    counting_retry strict;
    broker.fail_next(testing::rpc::subscribe, 4, grpc::StatusCode::UNAVAILABLE, "busy");
    auto consumer = require_ok(client.new_consumer<danube::basic_consumer<counting_retry>>()
                                   .topic(topic)
                                   .consumer_name("c")
                                   .subscription("s")
                                   .retry_policy(strict)
                                   .build());
    const auto subscribed = consumer.subscribe();
    REQUIRE_FALSE(subscribed);
    CHECK(subscribed.error() == danube::errc::unavailable);
    CHECK(strict.asked->load() == 4);
    CHECK(broker.calls(testing::rpc::subscribe) == 4);
  }

  TEST_CASE("a Failed lookup is errc::lookup_failed, from lookup_topic() and from create()") {
    auto broker = danube_test::start_broker();
    auto client = connect(broker);
    const auto topic = danube_test::unique_topic("failed-lookup");
    broker.answer_lookup_failed(2);
    const auto looked_up = client.lookup_topic(topic);
    REQUIRE_FALSE(looked_up);
    CHECK(looked_up.error() == danube::errc::lookup_failed);

    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    const auto created = producer.create();
    REQUIRE_FALSE(created);
    CHECK(created.error() == danube::errc::lookup_failed);
    CHECK(broker.calls(testing::rpc::create_producer) == 0);
    // Used up: the next lookup is the broker's ordinary NOT_FOUND.
    CHECK(client.lookup_topic(topic).error() == danube::errc::not_found);
  }

  TEST_CASE("a health-check CLOSE reaches the client's log within an interval") {
    constexpr auto interval = 200ms;
    auto broker = danube_test::start_broker();
    auto [lines, sink] = danube_test::log_lines::make();
    auto client = require_ok(
        danube::client::builder().service_url(broker.url()).health_check_interval(interval).logger(sink).build());
    const auto topic = danube_test::unique_topic("close");
    auto producer = require_ok(client.new_producer().topic(topic).name("closing-producer").build());
    require_ok(producer.create());
    auto consumer =
        require_ok(client.new_consumer().topic(topic).consumer_name("closing-consumer").subscription("s").build());
    require_ok(consumer.subscribe());
    const auto id = require_ok(producer.send("x"));
    // The broker is asked at every interval; nothing is closed yet.
    REQUIRE(danube_test::wait_until([&] { return broker.calls(testing::rpc::health_check) >= 4; }));
    CHECK_FALSE(lines->contains(danube::log_level::warn, "CLOSE"));

    const auto start = std::chrono::steady_clock::now();
    broker.answer_close(id.producer_id);
    // The next check comes at most one interval later; the bound leaves room for a busy machine.
    CHECK(danube_test::wait_until(
        [&] {
          return lines->contains(danube::log_level::warn,
                                 "health check: the broker answered CLOSE for producer closing-producer");
        },
        2 * interval + 300ms));
    MESSAGE("CLOSE for the producer seen after ", danube_test::elapsed_since(start).count(), " ms");
    CHECK_FALSE(lines->contains(danube::log_level::warn, "CLOSE for consumer"));

    broker.answer_close_for_all();
    CHECK(danube_test::wait_until(
        [&] {
          return lines->contains(danube::log_level::warn,
                                 "health check: the broker answered CLOSE for consumer closing-consumer");
        },
        2 * interval + 300ms));
  }

  TEST_CASE("closing a client with 10 producers and 10 consumers returns within 1 s") {
    auto broker = danube_test::start_broker();
    auto client = require_ok(danube::client::builder().service_url(broker.url()).health_check_interval(50ms).build());
    const auto topic = danube_test::unique_topic("many");
    std::vector<danube::producer> producers;
    std::vector<danube::consumer> consumers;
    for (int i = 0; i < 10; ++i) {
      producers.push_back(require_ok(client.new_producer().topic(topic).name(fmt::format("p{}", i)).build()));
      require_ok(producers.back().create());
      consumers.push_back(require_ok(
          client.new_consumer().topic(topic).consumer_name(fmt::format("c{}", i)).subscription("s").build()));
      require_ok(consumers.back().subscribe());
    }
    REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 10; }));
    // Work in flight while closing: sends, and the health checks every 50 ms.
    std::vector<std::future<danube::result<danube::message_id>>> sends;
    for (auto& producer : producers) {
      sends.push_back(producer.send_async("in flight"));
    }
    const auto start = std::chrono::steady_clock::now();
    client.close();
    const auto took = danube_test::elapsed_since(start);
    MESSAGE("close() took ", took.count(), " ms");
    CHECK(took < 1s);
    for (auto& send : sends) {
      CHECK(send.wait_for(1s) == std::future_status::ready);
    }
    CHECK(producers.front().send("after close").error() == danube::errc::closed);
    CHECK(consumers.front().receive(10ms).error() == danube::errc::closed);
  }

  TEST_CASE("a call that is never answered fails with errc::timeout after call_timeout") {
    constexpr auto timeout = 300ms;
    auto broker = danube_test::start_broker();
    auto client = connect(broker, timeout);
    broker.never_answer(testing::rpc::topic_lookup);
    const auto start = std::chrono::steady_clock::now();
    const auto looked_up = client.lookup_topic(danube_test::unique_topic("never"));
    const auto took = danube_test::elapsed_since(start);
    REQUIRE_FALSE(looked_up);
    CHECK(looked_up.error() == danube::errc::timeout);
    CHECK(took >= timeout - 50ms);
    // The broker lets go of the call once the client gave up.
    CHECK(danube_test::wait_until([&] { return broker.held_calls() == 0; }));

    broker.never_answer(testing::rpc::topic_lookup, false);
    CHECK(client.lookup_topic(danube_test::unique_topic("answered")).error() == danube::errc::not_found);
  }

  TEST_CASE("a send that is never answered does not hold up close(): it returns within 1 s") {
    auto broker = danube_test::start_broker();
    auto client = connect(broker);
    auto producer = require_ok(client.new_producer().topic(danube_test::unique_topic("hang")).name("p").build());
    require_ok(producer.create());
    broker.never_answer(testing::rpc::send_message);
    auto pending = producer.send_async("stuck");
    REQUIRE(danube_test::wait_until([&] { return broker.held_calls() == 1; }));
    CHECK(pending.wait_for(0ms) == std::future_status::timeout);
    const auto start = std::chrono::steady_clock::now();
    client.close();
    const auto took = danube_test::elapsed_since(start);
    MESSAGE("close() took ", took.count(), " ms");
    CHECK(took < 1s);
    REQUIRE(pending.wait_for(1s) == std::future_status::ready);
    CHECK_FALSE(pending.get().has_value());
    // The cancellation reached the broker, which let go of the call.
    CHECK(danube_test::wait_until([&] { return broker.held_calls() == 0; }));
  }

  TEST_CASE("stop() answers held calls at once with UNAVAILABLE") {
    auto broker = danube_test::start_broker();
    auto client = connect(broker, 30s);
    broker.never_answer(testing::rpc::topic_lookup);
    auto waiting =
        std::async(std::launch::async, [&] { return client.lookup_topic(danube_test::unique_topic("held")); });
    REQUIRE(danube_test::wait_until([&] { return broker.held_calls() == 1; }));
    const auto start = std::chrono::steady_clock::now();
    broker.stop();
    CHECK(danube_test::elapsed_since(start) < 1s);
    REQUIRE(waiting.wait_for(5s) == std::future_status::ready);
    const auto looked_up = waiting.get();
    REQUIRE_FALSE(looked_up);
    CHECK(looked_up.error() == danube::errc::unavailable);
  }

  TEST_CASE("delay: the answer comes late, not lost - a delay past the deadline is a timeout") {
    auto broker = danube_test::start_broker();
    auto patient = connect(broker, 10s);
    auto hasty = connect(broker, 100ms);
    const auto topic = danube_test::unique_topic("delayed");
    broker.delay(testing::rpc::topic_lookup, 300ms);
    const auto start = std::chrono::steady_clock::now();
    CHECK(patient.lookup_topic(topic).error() == danube::errc::not_found);
    CHECK(danube_test::elapsed_since(start) >= 250ms);
    CHECK(hasty.lookup_topic(topic).error() == danube::errc::timeout);

    // Delays also apply to the broker's own refusals, and the broker stops promptly with held calls.
    // (the hasty call is let go of once its cancellation reaches the broker)
    REQUIRE(danube_test::wait_until([&] { return broker.held_calls() == 0; }));
    broker.delay(testing::rpc::topic_lookup, 10s);
    const auto lookups = broker.calls(testing::rpc::topic_lookup);
    auto late = std::async(std::launch::async, [&] { return patient.lookup_topic(topic); });
    REQUIRE(danube_test::wait_until(
        [&] { return broker.calls(testing::rpc::topic_lookup) == lookups + 1 && broker.held_calls() == 1; }));
    const auto stopping = std::chrono::steady_clock::now();
    broker.stop();
    CHECK(danube_test::elapsed_since(stopping) < 1s);
    REQUIRE(late.wait_for(5s) == std::future_status::ready);
    const auto answered = late.get();
    REQUIRE_FALSE(answered);
    CHECK_MESSAGE(answered.error() == danube::errc::unavailable, fmt::format("{}", answered.error()));
  }

  TEST_CASE("wire level: injected failures on the ReceiveMessages stream and on HealthCheck, clear_faults") {
    namespace wire = danube::detail::wire;
    auto broker = danube_test::start_broker();
    auto client = connect(broker);
    const auto topic = danube_test::unique_topic("wire-faults");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    const auto channel = grpc::CreateChannel(broker.url().substr(std::string_view("http://").size()),
                                             grpc::InsecureChannelCredentials());

    broker.fail_next(testing::rpc::receive_messages, 1, grpc::StatusCode::RESOURCE_EXHAUSTED, "no streams today");
    {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 5s);
      wire::ReceiveRequest request;
      request.set_consumer_id(42);
      auto reader = wire::ConsumerService::NewStub(channel)->ReceiveMessages(&context, request);
      wire::StreamMessage message;
      CHECK_FALSE(reader->Read(&message));
      const auto status = reader->Finish();
      CHECK(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
      CHECK(status.error_message() == "no streams today");
    }

    const auto health = [&](std::uint64_t id) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 5s);
      wire::HealthCheckRequest request;
      request.set_client(wire::HealthCheckRequest::Producer);
      request.set_id(id);
      wire::HealthCheckResponse response;
      const auto status = wire::HealthCheck::NewStub(channel)->HealthCheck(&context, request, &response);
      return status.ok() ? std::optional<int>(static_cast<int>(response.status())) : std::nullopt;
    };
    const auto id = require_ok(producer.send("x")).producer_id;
    CHECK(health(id) == static_cast<int>(wire::HealthCheckResponse::OK));
    broker.fail_next(testing::rpc::health_check, 1, grpc::StatusCode::INTERNAL, "broken");
    CHECK(health(id) == std::nullopt);
    broker.answer_close(id);
    CHECK(health(id) == static_cast<int>(wire::HealthCheckResponse::CLOSE));
    broker.answer_close(id, false);
    CHECK(health(id) == static_cast<int>(wire::HealthCheckResponse::OK));

    broker.answer_close_for_all();
    broker.fail_next(testing::rpc::topic_lookup, 5, grpc::StatusCode::UNAVAILABLE, "x");
    broker.never_answer(testing::rpc::send_message);
    broker.clear_faults();
    CHECK(health(id) == static_cast<int>(wire::HealthCheckResponse::OK));
    CHECK(require_ok(client.lookup_topic(topic)).kind == danube::lookup_kind::connect);
    require_ok(producer.send("y"));
  }
}
