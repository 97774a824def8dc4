// Conversion between the wire message and danube::message (the one friend of message).
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/message.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

namespace danube {

struct message_access {
  // Moves payload, attributes and strings out of `wire` (no payload copy).
  [[nodiscard]] static message from_wire(detail::wire::StreamMessage& wire, const std::string& subscription) {
    message m;
    m.payload_ = std::move(*wire.mutable_payload());
    auto& id = *wire.mutable_msg_id();
    m.id_ = message_id{id.producer_id(), std::move(*id.mutable_topic_name()), std::move(*id.mutable_broker_addr()),
                       id.topic_offset()};
    for (auto& [key, value] : *wire.mutable_attributes()) {
      m.attributes_.emplace(key, std::move(value));
    }
    if (wire.has_routing_key()) {
      m.routing_key_ = std::move(*wire.mutable_routing_key());
    }
    m.producer_name_ = std::move(*wire.mutable_producer_name());
    m.publish_time_ = publish_time_from_wire(wire.publish_time());
    if (wire.has_schema_id()) {
      m.schema_id_ = wire.schema_id();
    }
    if (wire.has_schema_version()) {
      m.schema_version_ = wire.schema_version();
    }
    m.request_id_ = wire.request_id();
    m.subscription_ = subscription;
    return m;
  }

  // Milliseconds since the Unix epoch, as the producer wrote them. The clock holds nanoseconds up
  // to the year 2262: a later time (any u64 is possible on the wire) saturates there instead of
  // overflowing the conversion.
  [[nodiscard]] static std::chrono::system_clock::time_point publish_time_from_wire(std::uint64_t ms) noexcept {
    constexpr auto latest =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::duration::max());
    const auto clamped = std::min(ms, static_cast<std::uint64_t>(latest.count()));
    return std::chrono::system_clock::time_point(
        std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(clamped)));
  }

  [[nodiscard]] static std::uint64_t request_id(const message& m) noexcept { return m.request_id_; }
  [[nodiscard]] static const std::string& subscription(const message& m) noexcept { return m.subscription_; }

  static void fill(detail::wire::MsgID& out, const message_id& id) {
    out.set_producer_id(id.producer_id);
    out.set_topic_name(id.topic);
    out.set_broker_addr(id.broker_addr);
    out.set_topic_offset(id.offset);
  }
};

}  // namespace danube
