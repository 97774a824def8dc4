// Non-reliable dispatch: which consumer of a subscription gets a message, if any. Nothing waits:
// a message no consumer can take is dropped, as the real broker drops it.
#pragma once

#include <danube/testing/detail/consumer.hpp>
#include <danube/testing/detail/glob.hpp>
#include <danube/testing/detail/key_shared_ring.hpp>
#include <danube/testing/detail/subscription.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace danube::testing::detail {

// Exclusive and Failover: the consumer that joined first is the active one for good. The real
// broker never promotes a standby Failover consumer (its removal path is dead code), so delivery
// stops while the first consumer is away and resumes when it re-attaches under the same name.
[[nodiscard]] inline consumer* first_consumer_if_ready(const subscription& sub, consumer_table& consumers) {
  if (sub.consumers.empty()) {
    return nullptr;
  }
  const auto it = consumers.find(sub.consumers.front());
  if (it == consumers.end() || !it->second.can_accept()) {
    return nullptr;
  }
  return &it->second;
}

// Shared: strict round-robin over all consumers in join order, skipping inactive and full ones;
// every consumer tried advances the position, as upstream's counter does.
[[nodiscard]] inline consumer* next_round_robin(subscription& sub, consumer_table& consumers) {
  const std::size_t count = sub.consumers.size();
  for (std::size_t tried = 0; tried < count; ++tried) {
    const auto index = static_cast<std::size_t>(sub.next_round_robin++ % count);
    const auto it = consumers.find(sub.consumers[index]);
    if (it != consumers.end() && it->second.can_accept()) {
      return &it->second;
    }
  }
  return nullptr;
}

// KeyShared: the ring member owning `key` among those whose key filters admit it (§6.3); nullopt
// when no consumer wants the key. The caller sets the ring's members.
[[nodiscard]] inline std::optional<std::uint64_t> key_owner(const subscription& sub, const consumer_table& consumers,
                                                            std::string_view key) {
  return sub.ring.owner(key, [&](std::uint64_t id) {
    const auto it = consumers.find(id);
    return it != consumers.end() && accepts_key(it->second.key_filters, key);
  });
}

// The consumer that should receive the next non-reliable message of `sub`, or nullptr to drop it.
// KeyShared: every consumer that ever joined stays on the ring (upstream never removes one), so a
// key whose owner is away or full is dropped until the owner is back.
[[nodiscard]] inline consumer* choose_non_reliable(subscription& sub, consumer_table& consumers,
                                                   const wire::StreamMessage& message) {
  switch (sub.type) {
    case subscription_type::exclusive:
    case subscription_type::failover: return first_consumer_if_ready(sub, consumers);
    case subscription_type::shared: return next_round_robin(sub, consumers);
    case subscription_type::key_shared: {
      sub.ring.assign(sub.consumers);
      const auto owner = key_owner(sub, consumers, effective_routing_key(message));
      if (!owner) {
        return nullptr;
      }
      const auto it = consumers.find(*owner);
      return it != consumers.end() && it->second.can_accept() ? &it->second : nullptr;
    }
  }
  return nullptr;
}

}  // namespace danube::testing::detail
