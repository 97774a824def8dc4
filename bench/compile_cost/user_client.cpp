// Compile-cost probe (bench/compile_cost.sh): a user's file that publishes and consumes. It is
// compiled, never run; what it measures is what every such translation unit of a user costs.
#include <danube/danube.hpp>

#include <chrono>

int main() {
  auto client = danube::client::builder().service_url("http://127.0.0.1:6650").build();
  auto producer = client->new_producer().topic("/default/orders").name("writer").build();
  auto consumer = client->new_consumer().topic("/default/orders").consumer_name("c").subscription("s").build();
  if (!producer || !consumer || !producer->create() || !consumer->subscribe() || !producer->send("hello")) {
    return 1;
  }
  auto message = consumer->receive(std::chrono::seconds(1));
  return message && consumer->ack(*message) ? 0 : 1;
}
