// The reliable-dispatch state of one subscription: its failure policy, its read position in the
// topic's log and its window of dispatched, unacknowledged messages
// (docs/protocol.md §6.4, §6.6).
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/detail/redelivery.hpp>
#include <danube/testing/failure_policy.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>

namespace danube::testing::detail {

namespace wire = ::danube::detail::wire;

// The broker's dispatch default (config `dispatch.max_unacked_messages`); the per-subscription
// admin override is stored but never read upstream, so there is none here.
inline constexpr std::size_t default_max_unacked_messages = 10;

// A KeyShared consumer inactive this long (6 heartbeat ticks of 500 ms upstream) leaves the ring.
inline constexpr std::chrono::milliseconds key_shared_eviction_grace{3000};

struct reliable_subscription {
  // Read once, when the subscription is created (§6.6).
  failure_policy policy;
  std::size_t max_unacked = default_max_unacked_messages;
  // The next log offset to dispatch. A new subscription starts at the topic's end (Latest).
  std::uint64_t read_cursor = 0;
  // Dispatched and not yet acknowledged or resolved, by offset: awaiting an ack, waiting for a
  // redelivery, or exhausted. Every type's window; KeyShared also keeps `blocked`.
  std::map<std::uint64_t, pending_delivery> window;
  // KeyShared: read from the log but held back because their key already has a message in the
  // window (one per key at a time) or their consumer cannot take them yet; in log order. They count
  // toward max_unacked.
  std::deque<wire::StreamMessage> blocked;
  // KeyShared: when each currently inactive consumer was first seen inactive.
  std::map<std::uint64_t, broker_clock::time_point> inactive_since;
  // KeyShared with broker_quirks::key_shared_eviction_is_permanent: consumers evicted for good.
  bool eviction_is_permanent = false;
  std::set<std::uint64_t> evicted;
  // Failover with broker_quirks::failover_start_delay: when the start position (Latest) is fixed.
  std::optional<broker_clock::time_point> start_at;
  // The earliest timer wake-up already scheduled for this subscription.
  std::optional<broker_clock::time_point> wake_at;
};

}  // namespace danube::testing::detail
