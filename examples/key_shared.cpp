// KeyShared: every routing key goes to exactly one consumer of the subscription, in order; glob
// key filters let a consumer take only the keys it is meant for.
#include <danube/danube.hpp>
#include <danube/testing/embedded_broker.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>
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
  const std::string topic = "/default/orders-by-region";
  auto producer = client->new_producer().topic(topic).name("orders").build();
  if (!producer || !producer->create()) {
    fmt::print(stderr, "error: could not create the producer\n");
    return 1;
  }

  const auto regional = [&](const char* name, std::vector<std::string> filters) {
    return client->new_consumer()
        .topic(topic)
        .consumer_name(name)
        .subscription("fulfilment")
        .subscription_type(danube::subscription_type::key_shared)
        .key_filters(std::move(filters))  // only with key_shared; otherwise build() refuses
        .build();
  };
  auto europe = regional("europe", {"eu-*"});
  auto americas = regional("americas", {"us-*", "ca-*"});
  if (!europe || !americas || !europe->subscribe() || !americas->subscribe()) {
    fmt::print(stderr, "error: could not subscribe\n");
    return 1;
  }

  for (int i = 0; i < 3; ++i) {
    for (const char* region : {"eu-west", "us-east", "eu-north", "ca-central"}) {
      if (auto sent = producer->send_with_key(region, fmt::format("order {} for {}", i, region)); !sent) {
        fmt::print(stderr, "error: {}\n", sent.error());
        return 1;
      }
    }
  }

  std::map<std::string, std::set<std::string>> keys_seen;
  for (auto* consumer : {&europe, &americas}) {
    for (int i = 0; i < 6; ++i) {
      auto message = (*consumer)->receive(std::chrono::seconds(5));
      if (!message) {
        fmt::print(stderr, "error: {}\n", message.error());
        return 1;
      }
      keys_seen[(*consumer)->options().consumer_name].emplace(message->routing_key().value_or(""));
      if (auto acked = (*consumer)->ack(*message); !acked) {
        fmt::print(stderr, "error: {}\n", acked.error());
        return 1;
      }
    }
  }
  for (const auto& [consumer, keys] : keys_seen) {
    fmt::print("{} received keys: {}\n", consumer, fmt::join(keys, ", "));
  }
  std::fflush(stdout);
  const bool isolated = keys_seen["europe"] == std::set<std::string>{"eu-north", "eu-west"} &&
                        keys_seen["americas"] == std::set<std::string>{"ca-central", "us-east"};
  return isolated ? 0 : 1;
}
