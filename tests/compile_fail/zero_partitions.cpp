// Must not compile: a partition count of zero given at compile time.
#include <danube/client.hpp>

int main() {
  auto client = danube::client::builder().service_url("http://127.0.0.1:6650").build();
  auto producer = client->new_producer().topic("/default/t").name("p").partitions<0>().build();
  return producer.has_value() ? 0 : 1;
}
