// A subscription of one topic: its type, fixed by the consumer that created it, and its consumers.
#pragma once

#include <danube/testing/detail/key_shared_ring.hpp>
#include <danube/testing/detail/reliable_subscription.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace danube::testing::detail {

// The wire values of ConsumerRequest.SubscriptionType.
enum class subscription_type : std::uint8_t { exclusive = 0, shared = 1, failover = 2, key_shared = 3 };

[[nodiscard]] constexpr std::optional<subscription_type> subscription_type_from_wire(int value) noexcept {
  if (value < 0 || value > 3) {
    return std::nullopt;
  }
  return static_cast<subscription_type>(value);
}

struct subscription {
  std::string name;
  subscription_type type = subscription_type::shared;
  // Consumer ids in the order they joined. Never shrinks: the real broker never removes a consumer
  // from a live subscription (only reaping removes whole subscriptions).
  std::vector<std::uint64_t> consumers;
  // Shared round-robin position; advanced once per consumer tried, starting at 0 so the first
  // consumer to join gets the first message.
  std::uint64_t next_round_robin = 0;
  // KeyShared: the consistent hash ring over the consumers (rebuilt when they change).
  key_shared_ring ring;
  // Present on reliable topics only.
  std::optional<reliable_subscription> reliable;
  // Non-reliable: since when a message found no active consumer here (cleared by Subscribe);
  // an idle subscription is removed after the broker's grace (§6.8).
  std::optional<std::chrono::steady_clock::time_point> idle_since;
  bool reap_scheduled = false;  // a removal check is pending on the timer thread
};

}  // namespace danube::testing::detail
