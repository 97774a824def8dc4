// Quick start: an embedded broker in this process, one producer, one consumer, ten messages.
// Against a real cluster, drop the embedded broker and pass its URL to service_url().
#include <danube/danube.hpp>
#include <danube/testing/embedded_broker.hpp>

#include <chrono>
#include <cstdio>
#include <string>

#include <fmt/format.h>

int main() {
  auto broker = danube::testing::embedded_broker::start();
  if (!broker) {
    fmt::print(stderr, "error: {}\n", broker.error());
    return 1;
  }

  auto client = danube::client::builder().service_url(broker->url()).build();
  if (!client) {
    fmt::print(stderr, "error: {}\n", client.error());
    return 1;
  }

  const std::string topic = "/default/quickstart";
  auto producer = client->new_producer().topic(topic).name("quickstart-producer").build();
  if (!producer) {
    fmt::print(stderr, "error: {}\n", producer.error());
    return 1;
  }
  if (auto created = producer->create(); !created) {
    fmt::print(stderr, "error: {}\n", created.error());
    return 1;
  }

  auto consumer = client->new_consumer()
                      .topic(topic)
                      .consumer_name("quickstart-consumer")
                      .subscription("quickstart-subscription")
                      .subscription_type(danube::subscription_type::exclusive)
                      .build();
  if (!consumer) {
    fmt::print(stderr, "error: {}\n", consumer.error());
    return 1;
  }
  if (auto subscribed = consumer->subscribe(); !subscribed) {
    fmt::print(stderr, "error: {}\n", subscribed.error());
    return 1;
  }

  constexpr int count = 10;
  for (int i = 1; i <= count; ++i) {
    if (auto sent = producer->send(fmt::format("Hello Danube {}", i)); !sent) {
      fmt::print(stderr, "error: {}\n", sent.error());
      return 1;
    }
  }

  for (int i = 1; i <= count; ++i) {
    auto message = consumer->receive(std::chrono::seconds(5));
    if (!message) {
      fmt::print(stderr, "error: {}\n", message.error());
      return 1;
    }
    if (auto acked = consumer->ack(*message); !acked) {
      fmt::print(stderr, "error: {}\n", acked.error());
      return 1;
    }
    fmt::print("received '{}' from {} (producer {}), acked\n", message->payload_string(), message->topic(),
               message->producer_name());
  }
  std::fflush(stdout);
  return 0;
}
