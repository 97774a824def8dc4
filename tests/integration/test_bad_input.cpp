// The bad-input table of docs/reliability.md: each row (B01, B02, ...) is one TEST_CASE here that
// asserts the clear error the library gives for it (an errc and a message that says what is
// wrong), never a crash, a hang or a silent success. Rows that need no broker start none.
#include "support/certificates.hpp"
#include "support/test_support.hpp"
#include "support/unsigned_jwt.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// A named namespace: the integration tests are one unity-built translation unit.
namespace bad_input_test {

using namespace std::chrono_literals;
using danube_test::require_ok;
namespace testing = danube::testing;

// A client for build()-only checks: nothing listens there and nothing is dialled.
danube::client offline_client() {
  return require_ok(danube::client::builder().service_url("http://127.0.0.1:1").build());
}

// `r` failed with `code` and a message containing `fragment`.
template <class Result>
void expect_error(const Result& r, danube::errc code, std::string_view fragment) {
  REQUIRE_FALSE(r.has_value());
  CHECK_MESSAGE(r.error() == code, fmt::format("{}", r.error()));
  CHECK_MESSAGE(r.error().message().find(fragment) != std::string::npos, r.error().message());
}

using danube_test::jwt_with_payload;

// What api_key_exchange makes of a token the broker hands back.
danube::result<std::optional<std::string>> exchange_returning(std::string token) {
  danube::auth::api_key_exchange exchange("key");
  const danube::auth_context context{
      [token = std::move(token)](std::string_view, const std::function<void(danube::result<std::string>)>& done) {
        done(token);
      }};
  std::optional<danube::result<std::optional<std::string>>> header;
  exchange.authorization_async(context, [&](danube::result<std::optional<std::string>> r) { header = std::move(r); });
  REQUIRE(header.has_value());  // an exchange that completes at once completes the call at once
  return *header;
}

const danube_test::test_certificates& certificates() {
  static const danube_test::test_certificates made;
  REQUIRE_MESSAGE(made.ok(), made.error);
  return made;
}

using tls_client = danube::basic_client<danube::auth::none, danube::tls::ca_file>;
using mtls_client = danube::basic_client<danube::auth::none, danube::tls::mutual>;

}  // namespace bad_input_test

TEST_SUITE("bad input") {
  using namespace bad_input_test;

  TEST_CASE("B01: empty topic") {
    auto client = offline_client();
    expect_error(client.new_producer().name("p").build(), danube::errc::invalid_argument, "needs a topic");
    expect_error(client.new_consumer().consumer_name("c").subscription("s").build(), danube::errc::invalid_argument,
                 "needs a topic");
  }

  TEST_CASE("B02-B05: malformed topics: no leading '/', wrong part count, forbidden characters, not UTF-8") {
    auto client = offline_client();
    for (const std::string& topic :
         std::vector<std::string>{"default/orders", "orders", "/default/orders/extra", "/a/b/c/d", "/default/or ders",
                                  "/default/a.b", "/default/a*b", "/default/\xff", "/default/\xc3",
                                  "/default/\xed\xa0\x80", "/default/\xc0\xaf", std::string("/default/a\0b", 12)}) {
      CAPTURE(topic);
      expect_error(client.new_producer().topic(topic).name("p").build(), danube::errc::invalid_argument,
                   "has an invalid format, should be: /namespace_name/topic_name");
      expect_error(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build(),
                   danube::errc::invalid_argument, "invalid format");
    }
  }

  TEST_CASE("B06: lookup_topic and topic_partitions refuse a malformed topic before any I/O") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    expect_error(client.lookup_topic("no-slashes"), danube::errc::invalid_argument, "invalid format");
    expect_error(client.topic_partitions("/a/b/c"), danube::errc::invalid_argument, "invalid format");
    CHECK(broker.calls(testing::rpc::topic_lookup) == 0);
    CHECK(broker.calls(testing::rpc::topic_partitions) == 0);
  }

  TEST_CASE("B07: zero partitions") {
    auto client = offline_client();
    expect_error(client.new_producer().topic("/default/t").name("p").partitions(0).build(),
                 danube::errc::invalid_argument, "at least one partition");
  }

  TEST_CASE("B08: an absurd partition count (100,000): build() refuses more than danube::max_partitions") {
    auto client = offline_client();
    expect_error(client.new_producer().topic("/default/t").name("p").partitions(100'000).build(),
                 danube::errc::invalid_argument, "at most 1024");
    CHECK(client.new_producer().topic("/default/t").name("p").partitions(danube::max_partitions).build().has_value());
    expect_error(client.new_producer().topic("/default/t").name("p").partitions(danube::max_partitions + 1).build(),
                 danube::errc::invalid_argument, "partitions");
  }

  TEST_CASE("B09-B10: producer name empty or not UTF-8") {
    auto client = offline_client();
    expect_error(client.new_producer().topic("/default/t").build(), danube::errc::invalid_argument, "needs a name");
    expect_error(client.new_producer().topic("/default/t").name("bad\xfe").build(), danube::errc::invalid_argument,
                 "not valid UTF-8");
  }

  TEST_CASE("B11-B15: oversized payloads, oversized or non-UTF-8 attributes and keys fail before any I/O") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    auto producer = require_ok(client.new_producer().topic(danube_test::unique_topic("bad-send")).name("p").build());
    require_ok(producer.create());
    const auto sends_before = broker.calls(testing::rpc::send_message);

    // B11: a payload over the 4 MiB gRPC limit (the exact limit less the envelope's room is allowed).
    expect_error(producer.send(std::string(4 * 1024 * 1024 + 1, 'x')), danube::errc::invalid_argument,
                 "exceeds the broker's gRPC message limit");
    expect_error(producer.send(std::string(danube::max_payload_size + 1, 'x')), danube::errc::invalid_argument,
                 "4 MiB");
    // B12: attributes or a key that push the message over the limit.
    expect_error(producer.send("small", {{"big", std::string(4 * 1024 * 1024, 'v')}}), danube::errc::invalid_argument,
                 "4 MiB");
    expect_error(producer.send_with_key(std::string(4 * 1024 * 1024, 'k'), "small"), danube::errc::invalid_argument,
                 "4 MiB");
    // B13-B15: attribute keys, attribute values and routing keys that are not UTF-8.
    expect_error(producer.send("x", {{"\xff", "v"}}), danube::errc::invalid_argument, "not valid UTF-8");
    expect_error(producer.send("x", {{"k", "\xc3\x28"}}), danube::errc::invalid_argument, "not valid UTF-8");
    expect_error(producer.send_with_key("\xe2\x82", "x"), danube::errc::invalid_argument, "routing key");
    CHECK(broker.calls(testing::rpc::send_message) == sends_before);
    // The producer is unharmed; the largest allowed payload goes through.
    require_ok(producer.send(std::string(danube::max_payload_size, 'x')));
    require_ok(producer.send(""));
  }

  TEST_CASE("B16-B18: consumer and subscription names empty or not UTF-8") {
    auto client = offline_client();
    expect_error(client.new_consumer().topic("/default/t").consumer_name("c").build(), danube::errc::invalid_argument,
                 "subscription(...)");
    expect_error(client.new_consumer().topic("/default/t").consumer_name("c").subscription("").build(),
                 danube::errc::invalid_argument, "subscription(...)");
    expect_error(client.new_consumer().topic("/default/t").subscription("s").build(), danube::errc::invalid_argument,
                 "consumer_name(...)");
    expect_error(client.new_consumer().topic("/default/t").consumer_name("c\x80").subscription("s").build(),
                 danube::errc::invalid_argument, "UTF-8");
    expect_error(client.new_consumer().topic("/default/t").consumer_name("c").subscription("s\xf8").build(),
                 danube::errc::invalid_argument, "UTF-8");
  }

  TEST_CASE("B19: key filters without key_shared") {
    auto client = offline_client();
    for (const auto type : {danube::subscription_type::exclusive, danube::subscription_type::shared,
                            danube::subscription_type::failover}) {
      expect_error(client.new_consumer()
                       .topic("/default/t")
                       .consumer_name("c")
                       .subscription("s")
                       .subscription_type(type)
                       .key_filters({"eu-*"})
                       .build(),
                   danube::errc::invalid_argument, "key_filters only apply to key_shared subscriptions");
    }
  }

  TEST_CASE("B20-B21: zero queue capacities: receive queue, in-flight window, pending sends") {
    auto client = offline_client();
    expect_error(client.new_consumer()
                     .topic("/default/t")
                     .consumer_name("c")
                     .subscription("s")
                     .receive_queue_capacity(0)
                     .build(),
                 danube::errc::invalid_argument, "at least 1");
    expect_error(client.new_producer().topic("/default/t").name("p").max_in_flight(0).build(),
                 danube::errc::invalid_argument, "at least 1");
    expect_error(client.new_producer().topic("/default/t").name("p").max_pending_messages(0).build(),
                 danube::errc::invalid_argument, "at least 1");
  }

  TEST_CASE("B22-B23: zero and negative timeouts and intervals") {
    auto client = offline_client();
    for (const auto timeout : {0ms, -1ms, std::chrono::milliseconds(-3'600'000)}) {
      CAPTURE(timeout.count());
      expect_error(client.new_producer().topic("/default/t").name("p").send_timeout(timeout).build(),
                   danube::errc::invalid_argument, "send timeout must be positive");
      expect_error(danube::client::builder().service_url("http://127.0.0.1:1").connect_timeout(timeout).build(),
                   danube::errc::invalid_argument, "must be positive");
      expect_error(danube::client::builder().service_url("http://127.0.0.1:1").call_timeout(timeout).build(),
                   danube::errc::invalid_argument, "must be positive");
      expect_error(danube::client::builder().service_url("http://127.0.0.1:1").keepalive(timeout).build(),
                   danube::errc::invalid_argument, "must be positive");
      expect_error(danube::client::builder().service_url("http://127.0.0.1:1").health_check_interval(timeout).build(),
                   danube::errc::invalid_argument, "must be positive");
    }
  }

  TEST_CASE("B24: receive() with a zero or negative timeout returns errc::timeout at once") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("zero-timeout");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    for (const auto timeout : {0ms, -5ms, std::chrono::milliseconds(-3'600'000)}) {
      const auto start = std::chrono::steady_clock::now();
      expect_error(consumer.receive(timeout), danube::errc::timeout, "no message arrived");
      CHECK(danube_test::elapsed_since(start) < 500ms);
    }
  }

  TEST_CASE("B25-B27: missing, malformed and mismatched service URLs") {
    expect_error(danube::client::builder().build(), danube::errc::invalid_argument, "needs a service_url");
    for (const char* url : {"",
                            "localhost:6650",
                            "127.0.0.1:6650",
                            "ftp://h:1",
                            "http://",
                            "http://:6650",
                            "http://h:",
                            "http://h:0",
                            "http://h:65536",
                            "http://h:99999999999",
                            "http://h:-1",
                            "http://h:1/path",
                            "http://h:1?q",
                            "http://user@h:1",
                            "http://h h:1",
                            "http://h\n:1",
                            "http://[::1",
                            "http://[]:1",
                            "http://[::1]x",
                            "HTTP://h:1",
                            " http://h:1",
                            "http://h\xff:1"}) {
      CAPTURE(url);
      const auto built = danube::client::builder().service_url(url).build();
      REQUIRE_FALSE(built);
      CHECK(built.error() == danube::errc::invalid_argument);
    }
    expect_error(danube::client::builder().service_url("http://h:1/path").build(), danube::errc::invalid_argument,
                 "invalid service URL 'http://h:1/path'");
    expect_error(danube::client::builder().service_url("https://127.0.0.1:6650").build(),
                 danube::errc::invalid_argument, "is https:// but the TLS policy is plaintext");
    expect_error(tls_client::builder()
                     .service_url("http://127.0.0.1:6650")
                     .tls(danube::tls::ca_file(certificates().ca_file))
                     .build(),
                 danube::errc::invalid_argument, "is http:// but the TLS policy uses TLS");
  }

  TEST_CASE("B28-B30: garbage, exp-less and absurd JWTs from the api-key exchange: errc::unauthenticated") {
    const std::string secret_looking = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.c2ln-garbage";
    for (const auto& [token, why] : std::vector<std::pair<std::string, std::string>>{
             {"garbage", "not a JWT"},
             {"", "not a JWT"},
             {"a.b.c.d", "not a JWT"},
             {"x.%%%.y", "not base64url"},
             {secret_looking, "JWT payload"},
             {jwt_with_payload("[1,2]"), "not a JSON object"},
             {jwt_with_payload(R"({"sub":"svc"})"), "has no exp claim"},
             {jwt_with_payload(R"({"exp":"soon"})"), "exp claim is not a number"},
             {jwt_with_payload(R"({"exp":-5})"), "not a valid time"},
             {jwt_with_payload(R"({"exp":1e300})"), "not a valid time"},
             {jwt_with_payload(R"({"exp":99999999999999})"), "not a valid time"},
             {jwt_with_payload("{" + std::string(10'000, '[')), "not a JSON object"},
         }) {
      CAPTURE(token);
      const auto header = exchange_returning(token);
      expect_error(header, danube::errc::unauthenticated, why);
      if (!token.empty()) {
        CHECK(header.error().message().find(token) == std::string::npos);  // never echoed
      }
    }
    // An exp past what the clock holds (the year 2262) is clamped there, not an overflow: the token
    // is used, and never refreshed (found by fuzz/fuzz_jwt.cpp).
    const auto far = exchange_returning(jwt_with_payload(R"({"exp":114554011456})"));
    REQUIRE(far.has_value());
    CHECK(far->value().starts_with("Bearer "));
  }

  TEST_CASE("B31: a token supplier that fails or returns an empty token: errc::unauthenticated, nothing sent") {
    auto broker = danube_test::start_broker();
    using supplier_client = danube::basic_client<danube::auth::token_supplier, danube::tls::plaintext_insecure>;
    auto empty = require_ok(supplier_client::builder()
                                .service_url(broker.url())
                                .auth(danube::auth::token_supplier([] { return ""; }))
                                .build());
    expect_error(empty.lookup_topic("/default/t"), danube::errc::unauthenticated, "empty token");
    auto failing = require_ok(supplier_client::builder()
                                  .service_url(broker.url())
                                  .auth(danube::auth::token_supplier([]() -> danube::result<std::string> {
                                    return danube::unexpected_error(danube::errc::unavailable, "vault is down");
                                  }))
                                  .build());
    expect_error(failing.lookup_topic("/default/t"), danube::errc::unauthenticated, "the token supplier failed");
    CHECK(broker.calls(testing::rpc::topic_lookup) == 0);
  }

  TEST_CASE("B32-B35: garbage PEM, missing files, a key that is not the certificate's") {
    const auto& certs = certificates();
    const auto tls_build = [](danube::tls::ca_file policy) {
      return tls_client::builder().service_url("https://127.0.0.1:6650").tls(std::move(policy)).build();
    };
    const auto mtls_build = [](danube::tls::mutual policy) {
      return mtls_client::builder().service_url("https://127.0.0.1:6650").tls(std::move(policy)).build();
    };
    expect_error(tls_build(danube::tls::ca_file(certs.garbage_file)), danube::errc::invalid_argument,
                 "no PEM certificate in the file");
    expect_error(tls_build(danube::tls::ca_file(certs.missing_file)), danube::errc::invalid_argument,
                 certs.missing_file);
    expect_error(mtls_build(danube::tls::mutual(certs.ca_file, certs.client_file, certs.garbage_file)),
                 danube::errc::invalid_argument, "no PEM private key in the file");
    expect_error(mtls_build(danube::tls::mutual(certs.ca_file, certs.client_file, certs.unrelated_key_file)),
                 danube::errc::invalid_argument, "does not match the certificate");
    expect_error(mtls_build(danube::tls::mutual(certs.ca_file, certs.garbage_file, certs.client_key_file)),
                 danube::errc::invalid_argument, certs.garbage_file);
    // A private key given as the CA: not a certificate.
    expect_error(tls_build(danube::tls::ca_file(certs.client_key_file)), danube::errc::invalid_argument,
                 "no PEM certificate");
  }

  TEST_CASE("B36-B37: a message acked or nacked by a consumer that did not receive it") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("wrong-consumer");
    const auto other_topic = danube_test::unique_topic("other");
    auto producer =
        require_ok(client.new_producer().topic(topic).name("p").dispatch(danube::dispatch_strategy::reliable).build());
    require_ok(producer.create());
    auto other_producer = require_ok(client.new_producer().topic(other_topic).name("p").build());
    require_ok(other_producer.create());
    auto receiver = require_ok(client.new_consumer().topic(topic).consumer_name("c1").subscription("s1").build());
    require_ok(receiver.subscribe());
    auto other_subscription =
        require_ok(client.new_consumer().topic(topic).consumer_name("c2").subscription("s2").build());
    require_ok(other_subscription.subscribe());
    auto other_topic_consumer =
        require_ok(client.new_consumer().topic(other_topic).consumer_name("c3").subscription("s1").build());
    require_ok(other_topic_consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 2; }));
    require_ok(producer.send("mine"));
    const auto m = require_ok(receiver.receive(5s));
    (void)require_ok(other_subscription.receive(5s));  // s2's own copy
    const auto acks = broker.calls(testing::rpc::ack);

    // B36: another topic's consumer.
    expect_error(other_topic_consumer.ack(m), danube::errc::invalid_argument, "was not received by this consumer");
    expect_error(other_topic_consumer.nack(m), danube::errc::invalid_argument, "was not received by this consumer");
    // B37: the same topic, another subscription: its ack would settle s1's message on s1.
    expect_error(other_subscription.ack(m), danube::errc::invalid_argument, "subscription 's1'");
    expect_error(other_subscription.nack(m), danube::errc::invalid_argument, "subscription 's1'");
    // A message that came from nowhere.
    expect_error(receiver.ack(danube::message{}), danube::errc::invalid_argument, "was not received by this consumer");
    CHECK(broker.calls(testing::rpc::ack) == acks);
    CHECK(broker.unacked_messages(topic, "s1") == 1);
    require_ok(receiver.ack(m));
    CHECK(danube_test::wait_until([&] { return broker.unacked_messages(topic, "s1") == 0; }));
  }

  TEST_CASE("B38-B39: double close and use after close: idempotent close, then errc::closed") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("after-close");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));
    require_ok(producer.send("x"));
    const auto m = require_ok(consumer.receive(5s));

    producer.close();
    producer.close();
    expect_error(producer.send("x"), danube::errc::closed, "closed");
    expect_error(producer.create(), danube::errc::closed, "closed");
    consumer.close();
    consumer.close();
    expect_error(consumer.receive(10ms), danube::errc::closed, "closed");
    expect_error(consumer.try_receive(), danube::errc::closed, "closed");
    expect_error(consumer.ack(m), danube::errc::closed, "closed");
    expect_error(consumer.subscribe(), danube::errc::closed, "closed");
    expect_error(consumer.on_message([](const danube::message&) {}), danube::errc::closed, "closed");
    client.close();
    client.close();
    // Producers and consumers built from a closed client cannot connect.
    auto late_producer = require_ok(client.new_producer().topic(topic).name("late").build());
    expect_error(late_producer.create(), danube::errc::closed, "closed");
    auto late_consumer = require_ok(client.new_consumer().topic(topic).consumer_name("late").subscription("s").build());
    expect_error(late_consumer.subscribe(), danube::errc::closed, "closed");
    expect_error(client.lookup_topic(topic), danube::errc::closed, "closed");
  }

  TEST_CASE("B40-B42: send before create, receive before subscribe, a second listener, receive with a listener") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("too-early");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    expect_error(producer.send("x"), danube::errc::failed_precondition, "create() has not succeeded");
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    expect_error(consumer.receive(10ms), danube::errc::failed_precondition, "subscribe() has not succeeded");
    expect_error(consumer.try_receive(), danube::errc::failed_precondition, "subscribe() has not succeeded");
    CHECK(broker.calls(testing::rpc::send_message) == 0);

    require_ok(producer.create());
    require_ok(producer.create());  // a second create() is a no-op
    require_ok(consumer.subscribe());
    require_ok(consumer.subscribe());
    require_ok(consumer.on_message([](const danube::message&) {}));
    expect_error(consumer.on_message([](const danube::message&) {}), danube::errc::failed_precondition,
                 "already has a message listener");
    expect_error(consumer.receive(10ms), danube::errc::failed_precondition, "delivers to its message listener");
  }

  TEST_CASE("B43: subscribing to a topic nobody created: errc::not_found") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    auto consumer = require_ok(
        client.new_consumer().topic(danube_test::unique_topic("nobody")).consumer_name("c").subscription("s").build());
    expect_error(consumer.subscribe(), danube::errc::not_found, "no topic or partitions found");
  }

  TEST_CASE("B44: a service URL where nothing listens: errc::unavailable after the connect timeout") {
    std::string url;
    {
      auto broker = danube_test::start_broker();
      url = broker.url();
    }
    auto client = require_ok(danube::client::builder().service_url(url).connect_timeout(300ms).build());
    auto producer = require_ok(client.new_producer().topic("/default/t").name("p").build());
    const auto start = std::chrono::steady_clock::now();
    expect_error(producer.create(), danube::errc::unavailable, "could not connect to " + url + " within 300 ms");
    CHECK(danube_test::elapsed_since(start) < 3s);
    auto consumer = require_ok(client.new_consumer().topic("/default/t").consumer_name("c").subscription("s").build());
    expect_error(consumer.subscribe(), danube::errc::unavailable, "could not connect");
  }

  TEST_CASE("B45: a producer asking for the other dispatch strategy of an existing topic: failed_precondition") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("strategy");
    auto reliable =
        require_ok(client.new_producer().topic(topic).name("r").dispatch(danube::dispatch_strategy::reliable).build());
    require_ok(reliable.create());
    auto plain = require_ok(client.new_producer().topic(topic).name("n").build());
    expect_error(plain.create(), danube::errc::failed_precondition, "dispatch strategy does not match");
  }
}
