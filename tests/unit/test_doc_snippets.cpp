// The C++ blocks of docs/ that are not taken from an example, compiled: each doc block is marked
// `<!-- snippet: tests/unit/test_doc_snippets.cpp -->` and tests/tools/doc_snippets.sh checks that
// its lines are lines of this file. The functions are compiled (warnings are errors), not run.
// clang-format is off below so that the lines stay as the docs show them.
#include <danube/client.hpp>
#include <danube/consumer.hpp>
#include <danube/error.hpp>
#include <danube/producer.hpp>
#include <danube/schema_types.hpp>
#include <danube/serializer.hpp>
#include <danube/testing/embedded_broker.hpp>
#include <danube/testing/embedded_cluster.hpp>

#include <chrono>
#include <concepts>
#include <string>
#include <string_view>
#include <system_error>

#include <doctest/doctest.h>
#include <fmt/format.h>

// clang-format off
namespace doc_snippets {

// basic_client<Auth, Tls>, basic_producer<RetryPolicy, Router>, basic_consumer<RetryPolicy>; the defaults:
static_assert(std::same_as<danube::client, danube::basic_client<danube::auth::none, danube::tls::plaintext>>);
static_assert(std::same_as<danube::producer,
                           danube::basic_producer<danube::retry::exponential_backoff, danube::route::round_robin>>);
static_assert(std::same_as<danube::consumer, danube::basic_consumer<danube::retry::exponential_backoff>>);

struct order {};

struct order_serializer {
  using value_type = order;
  danube::result<std::string> encode(const order&) const;  // or std::string, string_view, bytes, span
  danube::result<order> decode(std::string payload) const; // the payload, moved in
};
static_assert(danube::serializer<order_serializer>);

// docs/consumer.md
[[maybe_unused]] bool consumer_builder(danube::client& client) {
  auto consumer = client.new_consumer()
                      .topic("/default/jobs")
                      .consumer_name("worker-1")
                      .subscription("workers")
                      .subscription_type(danube::subscription_type::shared)   // default: shared
                      .receive_queue_capacity(1000)                           // default 1000
                      .build();                       // result<consumer>: validation only
  auto subscribed = consumer->subscribe();            // TopicPartitions, then Subscribe per partition
  return subscribed.has_value();
}

// docs/producer.md
[[maybe_unused]] bool producer_builder(danube::client& client) {
  auto producer = client.new_producer()                 // or new_producer<basic_producer<Retry, Router>>()
                      .topic("/default/orders")          // required; checked with the broker's rules
                      .name("order-writer")              // required
                      .partitions(3)                     // optional: {topic}-part-0..2, producers {name}-0..2
                      .dispatch(danube::dispatch_strategy::reliable)
                      .max_in_flight(1)                  // per partition; default 1 (order-preserving)
                      .max_pending_messages(1000, danube::queue_full_policy::block)
                      .send_timeout(std::chrono::seconds(30))
                      .build();                          // result<producer>: validation only, no I/O
  auto created = producer->create();                     // result<void>: lookup + CreateProducer per partition
  return created.has_value();
}

// docs/producer.md, more than one connection per broker
[[maybe_unused]] bool connections_per_broker(const std::string& url) {
  auto client = danube::client::builder().service_url(url).connections_per_broker(4).build();
  auto producer = client->new_producer().topic("/default/clicks").name("w").partitions(8).max_in_flight(64).build();
  return producer.has_value();
}

// docs/consumer.md, receiving in batches
void process([[maybe_unused]] std::string_view payload) {}
[[maybe_unused]] void receive_in_batches(danube::consumer& consumer) {
  while (auto batch = consumer.receive_batch(256, std::chrono::seconds(1))) {
    for (const danube::message& m : *batch) {
      process(m.payload_string());
    }
    if (auto acked = consumer.ack(*batch); !acked) {
      fmt::print(stderr, "{}\n", acked.error());
    }
  }
}

// docs/errors.md
[[maybe_unused]] void error_handling(danube::producer& producer) {
  auto sent = producer.send("payload");
  if (!sent) {
    const danube::error& e = sent.error();
    fmt::print(stderr, "error: {}\n", e);        // "unavailable: <the broker's message>"
    if (e.retryable()) { /* the same request may succeed later */ }
    if (e == danube::errc::queue_full) { /* ... */ }
    std::error_code ec = e.error_code();        // interop with std::error_code
    static_cast<void>(ec);
  }
}

// docs/schema-registry.md
[[maybe_unused]] bool schema_producers(danube::client& client, const std::string& t) {
  auto latest = client.new_producer().topic(t).name("w").schema("orders-value").build();  // the latest version
  auto pinned = client.new_producer().topic(t).name("w").schema("orders-value").schema_version(1).build();  // exactly 1
  auto newer = client.new_producer().topic(t).name("w").schema("orders-value").schema_min_version(2).build();  // >= 2
  auto explicit_ref = client.new_producer().topic(t).name("w").schema(danube::schema_reference{"orders-value", std::nullopt, 2}).build();
  return latest && pinned && newer && explicit_ref;
}

// docs/embedded-broker.md
[[maybe_unused]] void embedded_broker_calls() {
  auto broker = danube::testing::embedded_broker::start();   // result<embedded_broker>
  if (!broker) { /* broker.error(): invalid_argument (bad address), unavailable (port in use) */ }
  auto url = broker->url();                                    // "http://127.0.0.1:<ephemeral port>"
  auto served = broker->topics();                              // sorted topic names it serves
  auto streaming = broker->streaming_consumers("/default/orders");  // consumers with an open stream
  auto names = broker->subscriptions("/default/orders");      // its subscriptions, sorted

  // Admin stand-ins (the real broker does these through its admin API):
  auto jobs = broker->create_topic("/default/jobs", danube::dispatch_strategy::reliable);      // result<void>
  auto parted = broker->create_topic("/default/parted", danube::dispatch_strategy::reliable, 3);  // -part-0..2
  auto set = broker->set_failure_policy("/default/jobs", "workers",              // before the
      {.max_redelivery_count = 2, .base_redelivery_delay_ms = 50,                 // first Subscribe
       .backoff_strategy = danube::testing::backoff::fixed,
       .dead_letter_topic = "/default/jobs-dlq",
       .poison_policy = danube::testing::poison::dead_letter});
  auto policy = broker->subscription_failure_policy("/default/jobs", "workers");  // optional<failure_policy>
  auto window = broker->unacked_messages("/default/jobs", "workers");  // a reliable subscription's window
  broker->stop();                                              // also done by the destructor
  static_cast<void>(url);
  static_cast<void>(served);
  static_cast<void>(streaming);
  static_cast<void>(names);
  static_cast<void>(jobs);
  static_cast<void>(parted);
  static_cast<void>(set);
  static_cast<void>(policy);
  static_cast<void>(window);
}

[[maybe_unused]] void embedded_broker_security(const std::string& server_cert_pem, const std::string& server_key_pem,
                                               const std::string& ca_pem, const danube::testing::token_claims& claims) {
  danube::testing::broker_options options;
  options.tls = danube::testing::broker_tls{server_cert_pem, server_key_pem, /*client_ca=*/ca_pem};  // PEM text
  options.auth.require_token = true;           // auth.mode: tls
  options.auth.jwt_secret = "secret";          // auth.jwt.secret_key (HS256)
  options.auth.api_keys = {"key-1"};           // for the legacy AuthService exchange
  options.auth.token_ttl = std::chrono::seconds(3600);
  auto broker = danube::testing::embedded_broker::start(options);   // url(): https://127.0.0.1:<port>
  auto token = broker->issue_token("app", std::chrono::minutes(5));  // a token this broker accepts
  auto other = danube::testing::sign_token("another secret", claims); // any claims, any secret
  auto seen = broker->authenticate_calls();                           // Authenticate calls seen
  static_cast<void>(token);
  static_cast<void>(other);
  static_cast<void>(seen);
}

[[maybe_unused]] void embedded_cluster_calls(const danube::testing::broker_options& options) {
  auto cluster = danube::testing::embedded_cluster::start(3, options);  // 3 brokers, shared metadata
  auto first = cluster->url(0);         // each broker's URL; cluster->broker(i) for everything else
  auto owner = cluster->owner("/default/orders");  // std::optional<std::size_t>: which broker owns it
  auto moved = cluster->move_topic("/default/orders", 2);
  cluster->stop_broker(1);
  auto restarted = cluster->restart_broker(1);  // same port, same URL
  static_cast<void>(first);
  static_cast<void>(owner);
  static_cast<void>(moved);
  static_cast<void>(restarted);
}

}  // namespace doc_snippets
// clang-format on

TEST_SUITE("doc_snippets") {
  TEST_CASE("the docs' C++ blocks that are not examples compile") {
    // Compiling this file is the test; the block for the defaults is static_asserts.
    CHECK(std::same_as<doc_snippets::order_serializer::value_type, doc_snippets::order>);
  }
}
