// One dispatched reliable message and its delivery state: sent → acked, or nacked / timed out →
// redelivered after a backoff, until its redeliveries are exhausted
// (docs/protocol.md §6.5, §6.6).
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/failure_policy.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>

namespace danube::testing::detail {

namespace wire = ::danube::detail::wire;

using broker_clock = std::chrono::steady_clock;

// Delays and timeouts are capped here so that no time_point arithmetic can overflow.
inline constexpr std::uint64_t longest_delay_ms = 365ULL * 24 * 60 * 60 * 1000;

[[nodiscard]] constexpr std::chrono::milliseconds bounded_ms(std::uint64_t ms) noexcept {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::min(ms, longest_delay_ms)));
}

// How long to wait before redelivering a message whose `attempts`-th delivery failed:
// min(max(policy delay, requested), max_redelivery_delay_ms), where the policy delay is the base
// (fixed) or base * 2^(attempt - 1) (exponential), saturating.
[[nodiscard]] constexpr std::uint64_t redelivery_delay_ms(std::uint32_t attempts,
                                                          std::optional<std::uint64_t> requested,
                                                          const failure_policy& policy) noexcept {
  std::uint64_t delay = policy.base_redelivery_delay_ms;
  if (policy.backoff_strategy == backoff::exponential) {
    const std::uint32_t exponent = std::min<std::uint32_t>(std::max<std::uint32_t>(attempts, 1) - 1, 63);
    const std::uint64_t factor = std::uint64_t{1} << exponent;
    delay = (delay != 0 && factor > std::numeric_limits<std::uint64_t>::max() / delay)
                ? std::numeric_limits<std::uint64_t>::max()
                : delay * factor;
  }
  return std::min(std::max(delay, requested.value_or(0)), policy.max_redelivery_delay_ms);
}

enum class delivery_status : std::uint8_t {
  awaiting_ack,   // handed to a consumer; fails at ack_deadline
  waiting_retry,  // to be (re)sent from retry_at on
  exhausted,      // failed more than max_redelivery_count times: the poison policy decides
};

struct pending_delivery {
  wire::StreamMessage message;
  // Deliveries so far (x-delivery-attempt).
  std::uint32_t attempts = 0;
  delivery_status status = delivery_status::waiting_retry;
  broker_clock::time_point ack_deadline{};
  broker_clock::time_point retry_at{};
  // The nack reason (or "ack timeout") of the last failure: x-failure-reason.
  std::optional<std::string> failure_reason;
  // The consumer of the current delivery; 0 while waiting.
  std::uint64_t consumer_id = 0;
  // The consumer of the last delivery, kept while waiting.
  std::uint64_t last_consumer_id = 0;
  // A dead-letter republish of this exhausted message is under way.
  bool dead_lettering = false;

  [[nodiscard]] bool awaiting_ack() const noexcept { return status == delivery_status::awaiting_ack; }
  [[nodiscard]] bool exhausted() const noexcept { return status == delivery_status::exhausted; }
  [[nodiscard]] bool retry_ready(broker_clock::time_point now) const noexcept {
    return status == delivery_status::waiting_retry && now >= retry_at;
  }
  [[nodiscard]] bool ack_timed_out(broker_clock::time_point now) const noexcept {
    return awaiting_ack() && now >= ack_deadline;
  }

  void sent_to(std::uint64_t consumer, broker_clock::time_point now, const failure_policy& policy) noexcept {
    ++attempts;
    consumer_id = consumer;
    last_consumer_id = consumer;
    status = delivery_status::awaiting_ack;
    ack_deadline = now + bounded_ms(policy.ack_timeout_ms);
  }

  // A nack (with its reason and requested delay) or an ack timeout.
  void failed(std::optional<std::string> reason, std::optional<std::uint64_t> requested_delay_ms,
              broker_clock::time_point now, const failure_policy& policy) {
    failure_reason = std::move(reason);
    consumer_id = 0;
    if (attempts > policy.max_redelivery_count) {
      status = delivery_status::exhausted;
      return;
    }
    status = delivery_status::waiting_retry;
    retry_at = now + bounded_ms(redelivery_delay_ms(attempts, requested_delay_ms, policy));
  }

  // Redeliver as soon as possible (its consumer went away); an exhausted message stays exhausted.
  void retry_now(broker_clock::time_point now) noexcept {
    if (exhausted()) {
      return;
    }
    consumer_id = 0;
    status = delivery_status::waiting_retry;
    retry_at = now;
  }
};

}  // namespace danube::testing::detail
