// What a consumer receives, and the id that names a published message.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace danube {

// User-defined message properties (protobuf map<string, string>: keys and values must be UTF-8).
using attributes = std::map<std::string, std::string, std::less<>>;

// Identifies one message: the broker routes acks and nacks by it, so it is sent back complete.
struct message_id {
  std::uint64_t producer_id = 0;
  std::string topic;         // the partition topic for partitioned topics
  std::string broker_addr;   // the broker the producer published through
  std::uint64_t offset = 0;  // broker-assigned for reliable topics, 0-based

  friend bool operator==(const message_id&, const message_id&) = default;
};

// A received message. Owns its payload; the accessors return views into it (no copies).
class message {
 public:
  message() = default;

  [[nodiscard]] std::span<const std::byte> payload() const noexcept {
    return std::as_bytes(std::span(payload_.data(), payload_.size()));
  }
  [[nodiscard]] std::string_view payload_string() const noexcept { return payload_; }
  // Moves the payload out (the message keeps its other fields).
  [[nodiscard]] std::string take_payload() noexcept { return std::move(payload_); }

  [[nodiscard]] const message_id& id() const noexcept { return id_; }
  [[nodiscard]] const std::string& topic() const noexcept { return id_.topic; }
  [[nodiscard]] std::uint64_t offset() const noexcept { return id_.offset; }
  [[nodiscard]] const danube::attributes& attributes() const noexcept { return attributes_; }
  [[nodiscard]] std::optional<std::string_view> routing_key() const noexcept {
    return routing_key_ ? std::optional<std::string_view>(*routing_key_) : std::nullopt;
  }
  [[nodiscard]] const std::string& producer_name() const noexcept { return producer_name_; }
  [[nodiscard]] std::chrono::system_clock::time_point publish_time() const noexcept { return publish_time_; }
  [[nodiscard]] std::optional<std::uint64_t> schema_id() const noexcept { return schema_id_; }
  [[nodiscard]] std::optional<std::uint32_t> schema_version() const noexcept { return schema_version_; }

 private:
  friend struct message_access;

  std::string payload_;
  message_id id_;
  danube::attributes attributes_;
  std::optional<std::string> routing_key_;
  std::string producer_name_;
  std::chrono::system_clock::time_point publish_time_{};
  std::optional<std::uint64_t> schema_id_;
  std::optional<std::uint32_t> schema_version_;
  std::uint64_t request_id_ = 0;  // echoed in the ack, as the other clients do
  std::string subscription_;      // the subscription it was delivered to (for ack/nack)
};

}  // namespace danube
