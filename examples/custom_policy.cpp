// Policies are compile-time and open: a retry policy and a router written here, in user code,
// plug into the producer without touching the library.
#include <danube/danube.hpp>
#include <danube/testing/embedded_broker.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string_view>

#include <fmt/format.h>

// Retries quickly, three times, and counts how often it was asked (state shared across copies).
struct counting_retry {
  std::shared_ptr<std::atomic<int>> asked = std::make_shared<std::atomic<int>>(0);

  std::optional<std::chrono::milliseconds> next_delay(const danube::error& /*failure*/, unsigned attempt) const {
    ++*asked;
    if (attempt > 3) {
      return std::nullopt;
    }
    return std::chrono::milliseconds(20);
  }
};
static_assert(danube::retry_policy<counting_retry>);

// Sends "priority" keys to partition 0 and spreads everything else over the others.
struct priority_router {
  std::uint32_t select_partition(std::optional<std::string_view> key, std::uint32_t partitions) const {
    if (partitions == 1 || (key && key->starts_with("priority"))) {
      return 0;
    }
    const auto rest = partitions - 1;
    return 1 + static_cast<std::uint32_t>(danube::route::fnv1a_64(key.value_or("")) % rest);
  }
};
static_assert(danube::message_router<priority_router>);

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

  using my_producer = danube::basic_producer<counting_retry, priority_router>;
  counting_retry retry;
  auto producer = client->new_producer<my_producer>()
                      .topic("/default/tasks")
                      .name("tasks")
                      .partitions(4)
                      .retry_policy(retry)
                      .build();
  if (!producer) {
    fmt::print(stderr, "error: {}\n", producer.error());
    return 1;
  }
  if (auto created = producer->create(); !created) {
    fmt::print(stderr, "error: {}\n", created.error());
    return 1;
  }
  for (const char* key : {"priority-1", "batch-7", "priority-2", "batch-9"}) {
    auto id = producer->send_with_key(key, "work");
    if (!id) {
      fmt::print(stderr, "error: {}\n", id.error());
      return 1;
    }
    fmt::print("{} -> {}\n", key, id->topic);
  }
  fmt::print("the retry policy was consulted {} times (no failures here)\n", retry.asked->load());
  std::fflush(stdout);
  return 0;
}
