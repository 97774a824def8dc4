// A producer that publishes asynchronously with a bounded pending queue and waits for all answers.
// Sends on one partition complete in order; flush() waits for the answers of everything sent.
#include <danube/danube.hpp>
#include <danube/testing/embedded_broker.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>

#include <fmt/format.h>

int main() {
  auto broker = danube::testing::embedded_broker::start();  // your cluster's URL in real use
  if (!broker) {
    fmt::print(stderr, "error: {}\n", broker.error());
    return 1;
  }
  auto client = danube::client::builder().service_url(broker->url()).build();
  if (!client) {
    fmt::print(stderr, "error: {}\n", client.error());
    return 1;
  }

  auto producer = client->new_producer()
                      .topic("/default/orders")
                      .name("order-writer")
                      .dispatch(danube::dispatch_strategy::reliable)
                      .max_pending_messages(256, danube::queue_full_policy::block)
                      .send_timeout(std::chrono::seconds(10))
                      .build();
  if (!producer) {
    fmt::print(stderr, "error: {}\n", producer.error());
    return 1;
  }
  if (auto created = producer->create(); !created) {
    fmt::print(stderr, "error: {}\n", created.error());
    return 1;
  }

  // One blocking send: the message id names the broker that stored it.
  auto first = producer->send("order #0", {{"region", "eu"}});
  if (!first) {
    fmt::print(stderr, "error: {}\n", first.error());
    return 1;
  }
  fmt::print("order #0 stored on {} by producer {}\n", first->topic, first->producer_id);

  // 1,000 asynchronous sends: the callback runs on a client thread, once per message, in order.
  std::atomic<int> acknowledged{0};
  std::atomic<int> failed{0};
  for (int i = 1; i <= 1000; ++i) {
    auto accepted = producer->send_async(fmt::format("order #{}", i), {{"region", "eu"}},
                                         [&](const danube::result<danube::message_id>& outcome) {
                                           if (outcome) {
                                             ++acknowledged;
                                           } else {
                                             ++failed;
                                           }
                                         });
    if (!accepted) {  // refused up front (no completion will run for it)
      ++failed;
    }
  }
  if (auto flushed = producer->flush(); !flushed) {
    fmt::print(stderr, "error: {}\n", flushed.error());
    return 1;
  }
  fmt::print("{} orders acknowledged, {} failed\n", acknowledged.load(), failed.load());
  producer->close();
  std::fflush(stdout);
  return failed == 0 ? 0 : 1;
}
