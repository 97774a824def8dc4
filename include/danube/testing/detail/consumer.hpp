// A consumer as the broker keeps it: it outlives its streams and is identified by
// (topic, subscription, consumer name).
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/detail/delivery_stream.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace danube::testing::detail {

namespace wire = ::danube::detail::wire;

struct consumer {
  std::uint64_t id = 0;
  std::string name;
  std::string topic;
  std::string subscription;
  // Kept for the KeyShared hash ring; unused by the other subscription types.
  std::vector<std::string> key_filters;
  // Active from Subscribe (or a new stream) until its current stream is lost. Only active
  // consumers are dispatched to, and HealthCheck answers OK only for them.
  bool active = true;
  // Dispatched messages not yet handed to a stream, in order. They survive a stream takeover, as the
  // real broker's per-consumer channel does.
  std::deque<wire::StreamMessage> pending;
  std::size_t capacity = 0;
  // The ReceiveMessages stream currently attached, if any.
  std::shared_ptr<delivery_stream> stream;
  // A Subscribe (new or takeover) came since the last stream attached: the next stream follows
  // its Subscribe, as a client must open them (broker_state::streams_without_subscribe).
  bool subscribed_since_stream = true;

  [[nodiscard]] bool can_accept() const noexcept { return active && pending.size() < capacity; }
};

using consumer_table = std::unordered_map<std::uint64_t, consumer>;

}  // namespace danube::testing::detail
