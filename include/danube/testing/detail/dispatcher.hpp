// Non-reliable dispatch: which consumer of a subscription gets a message, if any. Nothing waits:
// a message no consumer can take is dropped, as the real broker drops it.
#pragma once

#include <danube/testing/detail/consumer.hpp>
#include <danube/testing/detail/subscription.hpp>

#include <cstddef>

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

// The consumer that should receive the next non-reliable message of `sub`, or nullptr to drop it.
// KeyShared is served round-robin until the hash ring exists.
[[nodiscard]] inline consumer* choose_non_reliable(subscription& sub, consumer_table& consumers) {
  switch (sub.type) {
    case subscription_type::exclusive:
    case subscription_type::failover: return first_consumer_if_ready(sub, consumers);
    case subscription_type::shared:
    case subscription_type::key_shared: return next_round_robin(sub, consumers);
  }
  return nullptr;
}

}  // namespace danube::testing::detail
