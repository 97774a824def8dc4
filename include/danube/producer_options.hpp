// Settings of a producer, as its builder collects them.
#pragma once

#include <danube/schema_types.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace danube {

// Fixed per topic by its first producer; a producer asking for the other one is refused.
enum class dispatch_strategy : std::uint8_t {
  non_reliable,  // delivered to the consumers attached at publish time, kept nowhere
  reliable,      // stored by the broker, delivered at least once, acknowledged by consumers
};

// Sent to the broker; Danube v0.15 records it but does not enforce exclusivity.
enum class access_mode : std::uint8_t { shared, exclusive };

// What send() does when max_pending_messages sends are already waiting.
enum class queue_full_policy : std::uint8_t {
  block,  // wait for room (at most the send timeout, then errc::timeout)
  fail,   // fail at once with errc::queue_full
};

struct producer_options {
  std::string topic;
  std::string name;
  std::optional<std::uint32_t> partitions;  // unset: a non-partitioned topic
  dispatch_strategy dispatch = dispatch_strategy::non_reliable;
  danube::access_mode access = access_mode::shared;
  std::size_t max_in_flight = 1;  // per partition; more than 1 does not preserve order on retries
  std::size_t max_pending_messages = 1000;
  queue_full_policy when_full = queue_full_policy::block;
  std::chrono::milliseconds send_timeout{30'000};
  std::optional<schema_reference> schema;  // the subject and version choice; unset: no schema
};

}  // namespace danube
