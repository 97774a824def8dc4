// The consumer program of the package tests (tests/package/): built by each of the three consumer
// projects exactly as a user's program would be, in both modes (header-only, and separately
// compiled with DANUBE_SEPARATE_COMPILATION), it starts an embedded broker, produces one message
// and consumes it. Exit status 0 only when the message came back intact.
//
// With DANUBE_PACKAGE_MIXED (the add_subdirectory project's mixed_modes program) this file is the
// separately compiled half of a program whose other half, mixed_header_only.cpp, is header-only:
// that half publishes a second message with the client and broker made here.
#include <danube/danube.hpp>
#include <danube/testing/embedded_broker.hpp>

#include <chrono>
#include <cstdio>
#include <string>

#include <fmt/format.h>

#ifndef DANUBE_PACKAGE_MODE
#error "DANUBE_PACKAGE_MODE names the way this consumer takes danube-cpp"
#endif

#ifdef DANUBE_PACKAGE_MIXED
// Defined in mixed_header_only.cpp, compiled without DANUBE_SEPARATE_COMPILATION.
bool publish_from_header_only_code(danube::testing::embedded_broker& broker, danube::client& client,
                                   const std::string& topic, const std::string& payload);
#endif

namespace {

template <class Result>
bool failed(const Result& result, const char* what) {
  if (result) {
    return false;
  }
  fmt::print(stderr, "package test ({}): {} failed: {}\n", DANUBE_PACKAGE_MODE, what, result.error());
  return true;
}

}  // namespace

int main() {
  auto broker = danube::testing::embedded_broker::start();
  if (failed(broker, "embedded_broker::start")) {
    return 1;
  }
  auto client = danube::client::builder().service_url(broker->url()).build();
  if (failed(client, "client build")) {
    return 1;
  }

  const std::string topic = "/default/package-test";
  auto consumer = client->new_consumer()
                      .topic(topic)
                      .consumer_name("package-consumer")
                      .subscription("package-subscription")
                      .subscription_type(danube::subscription_type::exclusive)
                      .build();
  auto producer = client->new_producer().topic(topic).name("package-producer").build();
  if (failed(consumer, "consumer build") || failed(producer, "producer build")) {
    return 1;
  }
  // The producer creates the topic; the consumer subscribes before anything is sent.
  if (auto created = producer->create(); failed(created, "create")) {
    return 1;
  }
  if (auto subscribed = consumer->subscribe(); failed(subscribed, "subscribe")) {
    return 1;
  }

  const std::string payload = fmt::format("hello from the {} consumer", DANUBE_PACKAGE_MODE);
  if (auto sent = producer->send(payload); failed(sent, "send")) {
    return 1;
  }
  auto message = consumer->receive(std::chrono::seconds(10));
  if (failed(message, "receive")) {
    return 1;
  }
  if (auto acked = consumer->ack(*message); failed(acked, "ack")) {
    return 1;
  }
  if (message->payload_string() != payload) {
    fmt::print(stderr, "package test ({}): received '{}', sent '{}'\n", DANUBE_PACKAGE_MODE, message->payload_string(),
               payload);
    return 1;
  }
#ifdef DANUBE_PACKAGE_MIXED
  // The other half of the program: objects made here, used by header-only code, and back.
  const std::string second = "published by the header-only translation unit";
  if (!publish_from_header_only_code(*broker, *client, topic, second)) {
    return 1;
  }
  auto again = consumer->receive(std::chrono::seconds(10));
  if (failed(again, "receive (mixed)")) {
    return 1;
  }
  if (again->payload_string() != second) {
    fmt::print(stderr, "package test ({}): received '{}', sent '{}'\n", DANUBE_PACKAGE_MODE, again->payload_string(),
               second);
    return 1;
  }
#endif
  fmt::print("package test ({}): round trip ok: '{}'\n", DANUBE_PACKAGE_MODE, message->payload_string());
  std::fflush(stdout);
  return 0;
}
