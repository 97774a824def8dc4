// Compile-cost probe (bench/compile_cost.sh): a user's test file that starts an embedded broker and
// round-trips a message through it. Compiled, never run.
#include <danube/danube.hpp>
#include <danube/testing/embedded_broker.hpp>

#include <chrono>

int main() {
  auto broker = danube::testing::embedded_broker::start();
  if (!broker) {
    return 1;
  }
  auto client = danube::client::builder().service_url(broker->url()).build();
  auto producer = client->new_producer().topic("/default/orders").name("writer").build();
  auto consumer = client->new_consumer().topic("/default/orders").consumer_name("c").subscription("s").build();
  if (!producer || !consumer || !producer->create() || !consumer->subscribe() || !producer->send("hello")) {
    return 1;
  }
  auto message = consumer->receive(std::chrono::seconds(1));
  return message && consumer->ack(*message) ? 0 : 1;
}
