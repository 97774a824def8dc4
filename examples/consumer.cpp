// Consumers: a Shared subscription spreads messages over its consumers; a listener receives
// messages on the client's listener thread, one at a time.
#include <danube/danube.hpp>
#include <danube/testing/embedded_broker.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

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
  const std::string topic = "/default/jobs";
  auto producer = client->new_producer().topic(topic).name("job-writer").build();
  if (!producer || !producer->create()) {
    fmt::print(stderr, "error: could not create the producer\n");
    return 1;
  }

  const auto worker = [&](const char* name) {
    return client->new_consumer()
        .topic(topic)
        .consumer_name(name)
        .subscription("workers")
        .subscription_type(danube::subscription_type::shared)
        .receive_queue_capacity(100)  // bounded: when full, the broker is held back
        .build();
  };
  auto polling = worker("worker-1");
  auto listening = worker("worker-2");
  if (!polling || !listening || !polling->subscribe() || !listening->subscribe()) {
    fmt::print(stderr, "error: could not subscribe\n");
    return 1;
  }

  std::atomic<int> heard{0};
  auto listener = listening->on_message(
      [&](danube::message m) {
        fmt::print("worker-2 (listener) got '{}'\n", m.payload_string());
        if (auto acked = listening->ack(m); !acked) {
          fmt::print(stderr, "worker-2: ack failed: {}\n", acked.error());
        }
        ++heard;
      },
      [](const danube::error& e) { fmt::print(stderr, "worker-2: {}\n", e); });
  if (!listener) {
    fmt::print(stderr, "error: {}\n", listener.error());
    return 1;
  }

  for (int i = 0; i < 6; ++i) {
    if (auto sent = producer->send(fmt::format("job {}", i)); !sent) {
      fmt::print(stderr, "error: {}\n", sent.error());
      return 1;
    }
  }

  // Shared round robin: worker-1 gets jobs 0, 2, 4; worker-2 gets 1, 3, 5.
  for (int i = 0; i < 3; ++i) {
    auto m = polling->receive(std::chrono::seconds(5));
    if (!m) {
      fmt::print(stderr, "error: {}\n", m.error());
      return 1;
    }
    fmt::print("worker-1 (receive) got '{}'\n", m->payload_string());
    if (auto acked = polling->ack(*m); !acked) {
      fmt::print(stderr, "error: {}\n", acked.error());
      return 1;
    }
  }
  for (int i = 0; i < 500 && heard < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::fflush(stdout);
  return heard == 3 ? 0 : 1;
}
