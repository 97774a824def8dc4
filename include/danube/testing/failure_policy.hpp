// What a reliable subscription of the embedded broker does with a message that is nacked or not
// acknowledged in time: the per-subscription failure policy of the real broker
// (docs/protocol.md §6.6), which sets it through its admin API
// (TopicAdmin.SetSubscriptionFailurePolicy). The embedded broker takes it from
// embedded_broker::set_failure_policy() instead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace danube::testing {

// How the redelivery delay grows with the delivery attempt.
enum class backoff : std::uint8_t {
  fixed,        // base_redelivery_delay_ms every time
  exponential,  // base_redelivery_delay_ms * 2^(attempt - 1)
};

// What happens to a message once its redeliveries are exhausted.
enum class poison : std::uint8_t {
  block,        // it stays in flight and holds up its subscription (KeyShared: only its key)
  drop,         // it is skipped
  dead_letter,  // it is republished to dead_letter_topic, then skipped
};

// Field names and defaults are the broker's (§6.6).
struct failure_policy {
  // A message is delivered at most max_redelivery_count + 1 times; 0 exhausts it on its first nack.
  std::uint32_t max_redelivery_count = 5;
  // A delivered message not acknowledged within this time counts as failed (reason "ack timeout").
  std::uint64_t ack_timeout_ms = 30'000;
  std::uint64_t base_redelivery_delay_ms = 1'000;
  // Caps the delay, including a longer delay_ms asked for by a nack.
  std::uint64_t max_redelivery_delay_ms = 60'000;
  backoff backoff_strategy = backoff::exponential;
  // Required (non-blank) with poison::dead_letter.
  std::optional<std::string> dead_letter_topic;
  poison poison_policy = poison::block;

  friend bool operator==(const failure_policy&, const failure_policy&) = default;
};

}  // namespace danube::testing
