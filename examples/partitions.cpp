// A partitioned topic: the producer spreads messages over its partitions (round robin, or by key
// with send_with_key), and one consumer subscribes to all of them.
#include <danube/danube.hpp>
#include <danube/testing/embedded_broker.hpp>

#include <chrono>
#include <cstdio>
#include <map>
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

  const std::string topic = "/default/clicks";
  auto producer = client->new_producer().topic(topic).name("clicks-writer").partitions<3>().build();
  if (!producer || !producer->create()) {
    fmt::print(stderr, "error: could not create the producer\n");
    return 1;
  }
  auto consumer = client->new_consumer().topic(topic).consumer_name("clicks-reader").subscription("analytics").build();
  if (!consumer) {
    fmt::print(stderr, "error: {}\n", consumer.error());
    return 1;
  }
  if (auto subscribed = consumer->subscribe(); !subscribed) {
    fmt::print(stderr, "error: {}\n", subscribed.error());
    return 1;
  }

  // Round robin: partitions 0, 1, 2, 0, 1, 2.
  for (int i = 0; i < 6; ++i) {
    auto id = producer->send(fmt::format("click {}", i));
    if (!id) {
      fmt::print(stderr, "error: {}\n", id.error());
      return 1;
    }
    fmt::print("click {} -> {}\n", i, id->topic);
  }
  // By key: one user's clicks always land on the same partition (the same one as with the Rust,
  // Go and Python clients).
  for (const char* user : {"alice", "bob", "alice"}) {
    auto id = producer->send_with_key(user, fmt::format("click by {}", user));
    if (!id) {
      fmt::print(stderr, "error: {}\n", id.error());
      return 1;
    }
    fmt::print("click by {} -> {}\n", user, id->topic);
  }

  std::map<std::string, int> per_partition;
  for (int i = 0; i < 9; ++i) {
    auto message = consumer->receive(std::chrono::seconds(5));
    if (!message) {
      fmt::print(stderr, "error: {}\n", message.error());
      return 1;
    }
    ++per_partition[message->topic()];
    if (auto acked = consumer->ack(*message); !acked) {
      fmt::print(stderr, "error: {}\n", acked.error());
      return 1;
    }
  }
  for (const auto& [partition, count] : per_partition) {
    fmt::print("{}: {} messages\n", partition, count);
  }
  std::fflush(stdout);
  return 0;
}
