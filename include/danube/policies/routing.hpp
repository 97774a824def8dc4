// Built-in partition routers (namespace danube::route). Each models danube::message_router.
#pragma once

#include <danube/policies/concepts.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

namespace danube::route {

// 64-bit FNV-1a, the key hash the Rust, Go and Python clients use for send_with_key.
[[nodiscard]] constexpr std::uint64_t fnv1a_64(std::string_view key) noexcept {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : key) {
    hash ^= static_cast<std::uint8_t>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// The Danube clients' default: plain sends go to partition 0, 1, 2, ... in turn (starting at 0);
// keyed sends go to fnv1a_64(key) % partitions, so one key always lands on one partition.
class round_robin {
 public:
  round_robin() = default;
  round_robin(const round_robin& other) noexcept : next_(other.next_.load(std::memory_order_relaxed)) {}
  round_robin& operator=(const round_robin& other) noexcept {
    next_.store(other.next_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    return *this;
  }
  ~round_robin() = default;

  [[nodiscard]] std::uint32_t select_partition(std::optional<std::string_view> key, std::uint32_t partitions) noexcept {
    if (partitions == 0) {
      return 0;
    }
    if (key) {
      return static_cast<std::uint32_t>(fnv1a_64(*key) % partitions);
    }
    return next_.fetch_add(1, std::memory_order_relaxed) % partitions;
  }

 private:
  std::atomic<std::uint32_t> next_{0};
};

// Every message routes by its key: fnv1a_64(key) % partitions (identical to the other Danube
// clients). Plain sends count as the empty key, so they all share one partition and keep their
// relative order.
struct key_hash {
  [[nodiscard]] std::uint32_t select_partition(std::optional<std::string_view> key,
                                               std::uint32_t partitions) const noexcept {
    return partitions == 0 ? 0 : static_cast<std::uint32_t>(fnv1a_64(key.value_or("")) % partitions);
  }
};

// Every message to one partition (0 unless configured).
struct single_partition {
  std::uint32_t partition = 0;
  [[nodiscard]] std::uint32_t select_partition(std::optional<std::string_view> /*key*/,
                                               std::uint32_t partitions) const noexcept {
    return partitions == 0 ? 0 : partition % partitions;
  }
};

static_assert(message_router<round_robin>);
static_assert(message_router<key_hash>);
static_assert(message_router<single_partition>);

}  // namespace danube::route
