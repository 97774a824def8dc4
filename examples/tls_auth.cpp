// TLS with a private CA and JWT authentication through a token supplier.
//
// The embedded broker here serves TLS with throw-away certificates and requires a bearer token on
// every call; against a real cluster you would point tls::ca_file at your CA bundle and have the
// supplier return the token your identity provider issued. The supplier is asked on every call,
// so rotating the token needs no reconnect.
#include <danube/danube.hpp>
#include <danube/testing/certificates.hpp>
#include <danube/testing/embedded_broker.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

#include <fmt/format.h>

int main() {
  const danube::testing::test_certificates certificates;
  if (!certificates.ok()) {
    fmt::print(stderr, "error: {}\n", certificates.error);
    return 1;
  }
  danube::testing::broker_options options;
  options.tls = danube::testing::broker_tls{certificates.server_pem, certificates.server_key_pem, {}};
  options.auth.require_token = true;
  options.auth.jwt_secret = "example-secret-do-not-use";
  auto broker = danube::testing::embedded_broker::start(options);
  if (!broker) {
    fmt::print(stderr, "error: {}\n", broker.error());
    return 1;
  }

  // Where the application keeps its current token (here: issued by the test broker).
  std::mutex token_mutex;
  std::string current_token = broker->issue_token("example-service").value_or("");
  std::atomic<int> supplied{0};

  using secure_client = danube::basic_client<danube::auth::token_supplier, danube::tls::ca_file>;
  auto client = secure_client::builder()
                    .service_url(broker->url())  // https://127.0.0.1:<port>
                    .tls(danube::tls::ca_file(certificates.ca_file))
                    .auth(danube::auth::token_supplier([&] {
                      ++supplied;
                      std::lock_guard lock(token_mutex);
                      return current_token;
                    }))
                    .build();
  if (!client) {
    fmt::print(stderr, "error: {}\n", client.error());
    return 1;
  }

  const std::string topic = "/default/secure";
  auto producer = client->new_producer().topic(topic).name("secure-writer").build();
  if (!producer) {
    fmt::print(stderr, "error: {}\n", producer.error());
    return 1;
  }
  if (auto created = producer->create(); !created) {
    fmt::print(stderr, "error: {}\n", created.error());
    return 1;
  }
  auto consumer = client->new_consumer().topic(topic).consumer_name("secure-reader").subscription("audit").build();
  if (!consumer) {
    fmt::print(stderr, "error: {}\n", consumer.error());
    return 1;
  }
  if (auto subscribed = consumer->subscribe(); !subscribed) {
    fmt::print(stderr, "error: {}\n", subscribed.error());
    return 1;
  }

  if (auto sent = producer->send("over TLS, with a token"); !sent) {
    fmt::print(stderr, "error: {}\n", sent.error());
    return 1;
  }
  // Rotate the token: the next calls carry the new one.
  {
    std::lock_guard lock(token_mutex);
    current_token = broker->issue_token("example-service", std::chrono::minutes(5)).value_or("");
  }
  if (auto sent = producer->send("after the rotation"); !sent) {
    fmt::print(stderr, "error: {}\n", sent.error());
    return 1;
  }
  for (int i = 0; i < 2; ++i) {
    auto message = consumer->receive(std::chrono::seconds(5));
    if (!message) {
      fmt::print(stderr, "error: {}\n", message.error());
      return 1;
    }
    if (auto acked = consumer->ack(*message); !acked) {
      fmt::print(stderr, "error: {}\n", acked.error());
      return 1;
    }
    fmt::print("received '{}'\n", message->payload_string());
  }
  fmt::print("the token supplier was asked {} times\n", supplied.load());

  // Without a token the broker refuses, with its own message.
  auto anonymous = danube::basic_client<danube::auth::none, danube::tls::ca_file>::builder()
                       .service_url(broker->url())
                       .tls(danube::tls::ca_file(certificates.ca_file))
                       .build();
  if (anonymous) {
    const auto refused = anonymous->lookup_topic(topic);
    fmt::print("without a token: {}\n",
               refused ? std::string("accepted (unexpected)") : fmt::format("{}", refused.error()));
  }
  std::fflush(stdout);
  return 0;
}
