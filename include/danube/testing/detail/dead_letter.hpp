// Dead-lettering: republishing an exhausted reliable message to its subscription's
// dead_letter_topic the way the real broker's internal producer does
// (docs/protocol.md §6.6).
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/detail/redelivery.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace danube::testing::detail {

namespace wire = ::danube::detail::wire;

// After a failed republish (the dead-letter topic refused it), the next attempt waits this long:
// upstream retries on its next 500 ms heartbeat.
inline constexpr std::chrono::milliseconds dead_letter_retry_interval{500};

// One exhausted message to republish, and where it came from.
struct dead_letter_job {
  std::string topic;  // the source topic (partition)
  std::string subscription;
  std::uint64_t offset = 0;
  std::string dead_letter_topic;
  // The payload and the attributes to publish: the original ones plus the x-* ones.
  std::string payload;
  google::protobuf::Map<std::string, std::string> attributes;
};

[[nodiscard]] inline dead_letter_job make_dead_letter_job(const pending_delivery& delivery, std::string topic,
                                                          std::string subscription, std::string dead_letter_topic) {
  const wire::StreamMessage& original = delivery.message;
  dead_letter_job job;
  job.offset = original.msg_id().topic_offset();
  job.payload = original.payload();
  job.attributes = original.attributes();
  auto& attributes = job.attributes;
  attributes["x-original-topic"] = original.msg_id().topic_name();
  attributes["x-original-subscription"] = subscription;
  attributes["x-original-topic-offset"] = fmt::format("{}", original.msg_id().topic_offset());
  attributes["x-original-producer-id"] = fmt::format("{}", original.msg_id().producer_id());
  attributes["x-original-broker-addr"] = original.msg_id().broker_addr();
  attributes["x-poison-policy"] = "dead_letter";
  attributes["x-delivery-attempt"] = fmt::format("{}", delivery.attempts);
  if (delivery.failure_reason) {
    attributes["x-failure-reason"] = *delivery.failure_reason;
  }
  job.topic = std::move(topic);
  job.subscription = std::move(subscription);
  job.dead_letter_topic = std::move(dead_letter_topic);
  return job;
}

// The broker's internal producers, one per dead-letter topic: reliable, named
// "broker-replicator-{broker_id}-{n}" with n counting the producers created. Only payload and
// attributes travel; the routing key, schema and producer identity are the internal producer's.
// Used from the timer thread only.
class dead_letter_replicator {
 public:
  explicit dead_letter_replicator(std::uint64_t broker_id) : broker_id_(broker_id) {}

  [[nodiscard]] std::string next_producer_name() {
    return fmt::format("broker-replicator-{}-{}", broker_id_, created_++);
  }

  struct internal_producer {
    std::uint64_t id = 0;
    std::string name;
  };

  [[nodiscard]] std::optional<internal_producer> producer_for(const std::string& topic) const {
    const auto found = producers_.find(topic);
    return found == producers_.end() ? std::nullopt : std::optional(found->second);
  }
  void remember(const std::string& topic, internal_producer created) { producers_[topic] = std::move(created); }
  void forget(const std::string& topic) { producers_.erase(topic); }

  // The message `sender` publishes for `job`.
  [[nodiscard]] wire::StreamMessage message(const dead_letter_job& job, const internal_producer& sender,
                                            const std::string& broker_url) {
    wire::StreamMessage message;
    message.set_request_id(++sent_);
    message.mutable_msg_id()->set_producer_id(sender.id);
    message.mutable_msg_id()->set_topic_name(job.dead_letter_topic);
    message.mutable_msg_id()->set_broker_addr(broker_url);
    message.set_payload(job.payload);
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    message.set_publish_time(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()));
    message.set_producer_name(sender.name);
    *message.mutable_attributes() = job.attributes;
    return message;
  }

 private:
  std::uint64_t broker_id_;
  std::uint64_t created_ = 0;
  std::uint64_t sent_ = 0;
  std::map<std::string, internal_producer, std::less<>> producers_;  // by dead-letter topic
};

}  // namespace danube::testing::detail
