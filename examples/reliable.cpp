// Reliable dispatch: messages are stored by the broker and delivered at least once. A consumer
// that cannot process a message nacks it (redelivered after a delay); once its redeliveries are
// exhausted the subscription's failure policy moves it to a dead-letter topic.
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
  const std::string topic = "/default/payments";
  const std::string dead_letters = "/default/payments-dlq";

  // On a real cluster an administrator sets the failure policy (danube-admin); the embedded broker
  // takes it directly.
  danube::testing::failure_policy policy;
  policy.max_redelivery_count = 1;
  policy.base_redelivery_delay_ms = 100;
  policy.poison_policy = danube::testing::poison::dead_letter;
  policy.dead_letter_topic = dead_letters;
  if (!broker->create_topic(topic, danube::dispatch_strategy::reliable) ||
      !broker->create_topic(dead_letters, danube::dispatch_strategy::reliable) ||
      !broker->set_failure_policy(topic, "billing", policy)) {
    fmt::print(stderr, "error: could not prepare the topics\n");
    return 1;
  }

  auto client = danube::client::builder().service_url(broker->url()).build();
  if (!client) {
    fmt::print(stderr, "error: {}\n", client.error());
    return 1;
  }
  auto producer =
      client->new_producer().topic(topic).name("payments").dispatch(danube::dispatch_strategy::reliable).build();
  if (!producer || !producer->create()) {
    fmt::print(stderr, "error: could not create the producer\n");
    return 1;
  }
  const auto subscriber = [&](const std::string& on, const char* name, const char* subscription) {
    return client->new_consumer()
        .topic(on)
        .consumer_name(name)
        .subscription(subscription)
        .subscription_type(danube::subscription_type::exclusive)
        .build();
  };
  auto billing = subscriber(topic, "billing-1", "billing");
  auto inspector = subscriber(dead_letters, "inspector", "inspection");
  if (!billing || !inspector || !billing->subscribe() || !inspector->subscribe()) {
    fmt::print(stderr, "error: could not subscribe\n");
    return 1;
  }

  for (const char* payment : {"pay 10 EUR", "pay -5 EUR", "pay 20 EUR"}) {
    if (auto sent = producer->send(payment); !sent) {
      fmt::print(stderr, "error: {}\n", sent.error());
      return 1;
    }
  }

  // The negative payment is refused every time it comes (twice: its first delivery and one
  // redelivery); the others are acknowledged.
  int processed = 0;
  int refused = 0;
  while (processed < 2 || refused < 2) {
    auto message = billing->receive(std::chrono::seconds(5));
    if (!message) {
      fmt::print(stderr, "error: {}\n", message.error());
      return 1;
    }
    if (message->payload_string().find('-') != std::string_view::npos) {
      fmt::print("billing: nack '{}' (offset {})\n", message->payload_string(), message->offset());
      if (auto nacked = billing->nack(*message, {.delay = std::chrono::milliseconds(100), .reason = "negative amount"});
          !nacked) {
        fmt::print(stderr, "error: {}\n", nacked.error());
        return 1;
      }
      ++refused;
      continue;
    }
    fmt::print("billing: ack '{}' (offset {})\n", message->payload_string(), message->offset());
    if (auto acked = billing->ack(*message); !acked) {
      fmt::print(stderr, "error: {}\n", acked.error());
      return 1;
    }
    ++processed;
  }

  auto dead = inspector->receive(std::chrono::seconds(5));
  if (!dead) {
    fmt::print(stderr, "error: {}\n", dead.error());
    return 1;
  }
  fmt::print("dead letter: '{}' from {} because '{}'\n", dead->payload_string(),
             dead->attributes().at("x-original-topic"), dead->attributes().at("x-failure-reason"));
  if (auto acked = inspector->ack(*dead); !acked) {
    fmt::print(stderr, "error: {}\n", acked.error());
    return 1;
  }
  std::fflush(stdout);
  return 0;
}
