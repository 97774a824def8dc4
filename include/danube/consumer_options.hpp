// Settings of a consumer, as its builder collects them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace danube {

// Fixed per subscription by its first consumer.
enum class subscription_type : std::uint8_t {
  exclusive,   // one consumer name only; others are refused
  shared,      // messages spread round-robin over the consumers
  failover,    // several may attach; the first one receives (see docs on the broker's behaviour)
  key_shared,  // one key always goes to one consumer; optional glob key filters
};

struct nack_options {
  std::chrono::milliseconds delay{0};  // can only lengthen the subscription's own redelivery delay
  std::string reason;                  // recorded as x-failure-reason if dead-lettered
};

struct consumer_options {
  std::string topic;
  std::string consumer_name;
  std::string subscription;
  danube::subscription_type type = subscription_type::shared;
  std::vector<std::string> key_filters;
  std::size_t receive_queue_capacity = 1000;
};

}  // namespace danube
