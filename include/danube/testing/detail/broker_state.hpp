// The broker's state and semantics: topics, producers, subscriptions, consumers and dispatch,
// answering with the gRPC status the real Danube v0.15.1 broker gives
// (../shared/reference/broker-behaviour.md §2). The *_service.hpp classes only carry requests in
// and answers out; this class never touches gRPC calls itself.
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/detail/consumer.hpp>
#include <danube/testing/detail/delivery_stream.hpp>
#include <danube/testing/detail/dispatcher.hpp>
#include <danube/testing/detail/id_generator.hpp>
#include <danube/testing/detail/producer.hpp>
#include <danube/testing/detail/status.hpp>
#include <danube/testing/detail/stream_effects.hpp>
#include <danube/testing/detail/subscription.hpp>
#include <danube/testing/detail/topic.hpp>
#include <danube/topic_name.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <grpcpp/support/status.h>

namespace danube::testing::detail {

class broker_state {
 public:
  explicit broker_state(std::size_t consumer_buffer) : consumer_buffer_(consumer_buffer) {}

  // The URL this broker advertises as both broker_url and connect_url.
  void set_advertised_url(std::string url) {
    const std::lock_guard lock(mutex_);
    advertised_url_ = std::move(url);
  }

  // ---------------------------------------------------------------------------------------------
  // Discovery

  // TopicLookup: the URL of the broker serving `topic`. A topic exists only once a producer has
  // created it; until then the answer is NOT_FOUND (the client then creates it anyway).
  [[nodiscard]] status_or<std::string> lookup(std::string_view topic_name) const {
    if (auto valid = check_format_(topic_name); !valid) {
      return std::unexpected(std::move(valid.error()));
    }
    const std::lock_guard lock(mutex_);
    if (!topics_.contains(topic_name)) {
      return reject(grpc::StatusCode::NOT_FOUND, fmt::format("Unable to find the requested topic: {}", topic_name));
    }
    return advertised_url_;
  }

  // TopicPartitions: the topic itself if it exists, else every topic whose name starts with
  // `topic_name`, sorted by bytes. The plain prefix match is upstream's: asking for /default/foo
  // also lists /default/foo_np.
  [[nodiscard]] status_or<std::vector<std::string>> partitions(std::string_view topic_name) const {
    if (auto valid = check_format_(topic_name); !valid) {
      return std::unexpected(std::move(valid.error()));
    }
    const std::lock_guard lock(mutex_);
    if (topics_.contains(topic_name)) {
      return std::vector<std::string>{std::string(topic_name)};
    }
    std::vector<std::string> names;
    for (auto it = topics_.lower_bound(topic_name); it != topics_.end() && it->first.starts_with(topic_name); ++it) {
      names.push_back(it->first);
    }
    return names;
  }

  // ---------------------------------------------------------------------------------------------
  // Producing

  // CreateProducer: creates the topic in the same call when it does not exist (standalone-like),
  // and is idempotent by producer name.
  [[nodiscard]] status_or<std::uint64_t> create_producer(const wire::ProducerRequest& request) {
    const std::string& topic_name = request.topic_name();
    if (auto valid = check_format_(topic_name); !valid) {
      return std::unexpected(std::move(valid.error()));
    }
    const auto requested = dispatch_strategy_from_wire(static_cast<int>(request.dispatch_strategy()));
    const std::lock_guard lock(mutex_);
    auto found = topics_.find(topic_name);
    if (found != topics_.end()) {
      if (requested && *requested != found->second.strategy) {
        return reject(grpc::StatusCode::FAILED_PRECONDITION,
                      "Producer requested dispatch strategy does not match topic strategy");
      }
    } else {
      if (!requested) {
        return reject(grpc::StatusCode::INVALID_ARGUMENT, "Dispatch strategy is missing");
      }
      topic created;
      created.name = topic_name;
      created.strategy = *requested;
      found = topics_.emplace(topic_name, std::move(created)).first;
    }
    topic& target = found->second;
    if (const auto existing = target.producers.find(request.producer_name()); existing != target.producers.end()) {
      return existing->second;
    }
    const std::uint64_t id = ids_.next([this](std::uint64_t candidate) { return producers_.contains(candidate); });
    producer record;
    record.id = id;
    record.name = request.producer_name();
    record.topic = topic_name;
    record.access_mode = static_cast<int>(request.producer_access_mode());
    producers_.emplace(id, std::move(record));
    target.producers.emplace(request.producer_name(), id);
    return id;
  }

  // SendMessage: the topic is msg_id.topic_name, not the producer's registration. Every field is
  // forwarded as sent, except topic_offset on reliable topics, which the broker assigns.
  [[nodiscard]] status_or<void> publish(const wire::StreamMessage& message) {
    // The real broker panics on a message without msg_id (the call fails with a transport
    // error); answering INVALID_ARGUMENT is the deliberate deviation.
    if (!message.has_msg_id()) {
      return reject(grpc::StatusCode::INVALID_ARGUMENT, "The message has no msg_id");
    }
    const wire::MsgID& msg_id = message.msg_id();
    stream_effects effects;
    {
      const std::lock_guard lock(mutex_);
      const auto sender = producers_.find(msg_id.producer_id());
      if (sender == producers_.end()) {
        return reject(grpc::StatusCode::NOT_FOUND,
                      fmt::format("The producer with id {} does not exist", msg_id.producer_id()));
      }
      const auto found = topics_.find(msg_id.topic_name());
      if (found == topics_.end()) {
        return reject(
            grpc::StatusCode::PERMISSION_DENIED,
            fmt::format("Unable to publish the message: Topic {} not found in registry", msg_id.topic_name()));
      }
      if (sender->second.topic != msg_id.topic_name()) {
        return reject(grpc::StatusCode::PERMISSION_DENIED,
                      fmt::format("Unable to publish the message: the producer with id {} is not attached to topic "
                                  "name: {}",
                                  msg_id.producer_id(), msg_id.topic_name()));
      }
      topic& target = found->second;
      wire::StreamMessage stored = message;
      if (target.strategy == dispatch_strategy::reliable) {
        stored.mutable_msg_id()->set_topic_offset(target.next_offset++);
      }
      // Reliable topics are dispatched like non-reliable ones until reliable dispatch exists.
      for (auto& [name, sub] : target.subscriptions) {
        if (consumer* chosen = choose_non_reliable(sub, consumers_)) {
          chosen->pending.push_back(stored);
          if (chosen->stream) {
            effects.wake(chosen->stream);
          }
        }
      }
    }
    effects.run();
    return {};
  }

  // ---------------------------------------------------------------------------------------------
  // Consuming

  // Subscribe: consumers never create topics. The same consumer name in the same subscription is
  // a takeover: the consumer is reactivated, keeps its id, and its open stream ends normally.
  [[nodiscard]] status_or<std::uint64_t> subscribe(const wire::ConsumerRequest& request) {
    const std::string& topic_name = request.topic_name();
    if (auto valid = check_format_(topic_name); !valid) {
      return std::unexpected(std::move(valid.error()));
    }
    stream_effects effects;
    std::uint64_t id = 0;
    {
      const std::lock_guard lock(mutex_);
      const auto found = topics_.find(topic_name);
      if (found == topics_.end()) {
        return reject(grpc::StatusCode::NOT_FOUND, fmt::format("Unable to find the topic: {}", topic_name));
      }
      topic& target = found->second;
      auto sub = target.subscriptions.find(request.subscription());
      if (sub != target.subscriptions.end()) {
        if (consumer* existing = find_consumer_(sub->second, request.consumer_name())) {
          existing->active = true;
          if (existing->stream) {
            effects.end(std::exchange(existing->stream, nullptr), grpc::Status::OK);
          }
          id = existing->id;
        }
      }
      if (id == 0) {
        if (sub == target.subscriptions.end()) {
          const auto type = subscription_type_from_wire(static_cast<int>(request.subscription_type()));
          if (!type) {
            return reject(grpc::StatusCode::PERMISSION_DENIED, subscribe_denied_(topic_name, "Should not get here"));
          }
          subscription created;
          created.name = request.subscription();
          created.type = *type;
          sub = target.subscriptions.emplace(request.subscription(), std::move(created)).first;
        } else if (sub->second.type == subscription_type::exclusive && !sub->second.consumers.empty()) {
          return reject(grpc::StatusCode::PERMISSION_DENIED,
                        subscribe_denied_(topic_name, fmt::format("Not allowed to add the Consumer: {}, the Exclusive "
                                                                  "subscription can't be shared with other consumers",
                                                                  request.consumer_name())));
        }
        id = ids_.next([this](std::uint64_t candidate) { return consumers_.contains(candidate); });
        consumer record;
        record.id = id;
        record.name = request.consumer_name();
        record.topic = topic_name;
        record.subscription = request.subscription();
        record.key_filters.assign(request.key_filters().begin(), request.key_filters().end());
        record.capacity = consumer_buffer_;
        consumers_.emplace(id, std::move(record));
        sub->second.consumers.push_back(id);
      }
    }
    effects.run();
    return id;
  }

  // Ack: routed by (msg_id.topic_name, subscription); the consumer's identity is not checked.
  // Non-reliable topics have nothing to acknowledge.
  [[nodiscard]] status_or<void> ack(const wire::AckRequest& request) const {
    return check_ack_target_(request.has_msg_id() ? &request.msg_id() : nullptr, request.subscription_name(),
                             "Error acknowledging message");
  }

  [[nodiscard]] status_or<void> nack(const wire::NackRequest& request) const {
    return check_ack_target_(request.has_msg_id() ? &request.msg_id() : nullptr, request.subscription_name(),
                             "Error negatively acknowledging message");
  }

  // ---------------------------------------------------------------------------------------------
  // ReceiveMessages streams

  // Makes `stream` the consumer's stream (ending the previous one normally) and reactivates the
  // consumer; messages buffered since Subscribe flow to it.
  [[nodiscard]] status_or<void> attach_stream(std::uint64_t consumer_id,
                                              const std::shared_ptr<delivery_stream>& stream) {
    stream_effects effects;
    {
      const std::lock_guard lock(mutex_);
      if (closed_) {
        return reject(grpc::StatusCode::UNAVAILABLE, "The broker is shutting down");
      }
      const auto found = consumers_.find(consumer_id);
      if (found == consumers_.end()) {
        return reject(grpc::StatusCode::NOT_FOUND,
                      fmt::format("The consumer with the id {} does not exist", consumer_id));
      }
      consumer& target = found->second;
      if (auto previous = std::exchange(target.stream, stream)) {
        effects.end(std::move(previous), grpc::Status::OK);
      }
      target.active = true;
      effects.wake(stream);
    }
    effects.run();
    return {};
  }

  // The next message for `stream`, if it is still its consumer's stream.
  [[nodiscard]] std::optional<wire::StreamMessage> next_message(std::uint64_t consumer_id,
                                                                const delivery_stream* stream) {
    const std::lock_guard lock(mutex_);
    const auto found = consumers_.find(consumer_id);
    if (found == consumers_.end() || found->second.stream.get() != stream || found->second.pending.empty()) {
      return std::nullopt;
    }
    std::optional<wire::StreamMessage> next(std::move(found->second.pending.front()));
    found->second.pending.pop_front();
    return next;
  }

  // The client went away from `stream`: if it was the consumer's current stream, the consumer
  // becomes inactive (HealthCheck answers CLOSE, dispatch skips it).
  void stream_lost(std::uint64_t consumer_id, const delivery_stream* stream) {
    std::shared_ptr<delivery_stream> released;  // may be the last reference: dropped after unlocking
    const std::lock_guard lock(mutex_);
    const auto found = consumers_.find(consumer_id);
    if (found != consumers_.end() && found->second.stream.get() == stream) {
      released = std::move(found->second.stream);
      found->second.active = false;
    }
  }

  // Ends every open stream and refuses new ones; the first step of a shutdown.
  void close() {
    stream_effects effects;
    {
      const std::lock_guard lock(mutex_);
      closed_ = true;
      for (auto& [id, record] : consumers_) {
        if (record.stream) {
          effects.end(std::exchange(record.stream, nullptr),
                      grpc::Status(grpc::StatusCode::UNAVAILABLE, "The broker is shutting down"));
        }
      }
    }
    effects.run();
  }

  // ---------------------------------------------------------------------------------------------
  // Health

  [[nodiscard]] bool producer_alive(std::uint64_t id) const {
    const std::lock_guard lock(mutex_);
    const auto found = producers_.find(id);
    return found != producers_.end() && found->second.connected;
  }

  [[nodiscard]] bool consumer_alive(std::uint64_t id) const {
    const std::lock_guard lock(mutex_);
    const auto found = consumers_.find(id);
    return found != consumers_.end() && found->second.active;
  }

  // ---------------------------------------------------------------------------------------------
  // Introspection for tests

  [[nodiscard]] std::vector<std::string> topic_names() const {
    const std::lock_guard lock(mutex_);
    std::vector<std::string> names;
    names.reserve(topics_.size());
    for (const auto& [name, record] : topics_) {
      names.push_back(name);
    }
    return names;
  }

  [[nodiscard]] std::size_t streaming_consumers(std::string_view topic_name) const {
    const std::lock_guard lock(mutex_);
    std::size_t count = 0;
    for (const auto& [id, record] : consumers_) {
      if (record.topic == topic_name && record.stream) {
        ++count;
      }
    }
    return count;
  }

 private:
  [[nodiscard]] static status_or<void> check_format_(std::string_view topic_name) {
    if (auto valid = ::danube::validate_topic_name(topic_name); !valid) {
      return reject(grpc::StatusCode::INVALID_ARGUMENT, valid.error().message());
    }
    return {};
  }

  [[nodiscard]] static std::string subscribe_denied_(std::string_view topic_name, std::string_view reason) {
    return fmt::format("Not able to subscribe to the topic {} due to {}", topic_name, reason);
  }

  [[nodiscard]] consumer* find_consumer_(const subscription& sub, std::string_view name) {
    for (const std::uint64_t id : sub.consumers) {
      if (const auto found = consumers_.find(id); found != consumers_.end() && found->second.name == name) {
        return &found->second;
      }
    }
    return nullptr;
  }

  [[nodiscard]] status_or<void> check_ack_target_(const wire::MsgID* msg_id, std::string_view subscription_name,
                                                  std::string_view failure) const {
    // The real broker panics without msg_id; see publish().
    if (msg_id == nullptr) {
      return reject(grpc::StatusCode::INVALID_ARGUMENT, "The request has no msg_id");
    }
    const std::lock_guard lock(mutex_);
    const auto found = topics_.find(msg_id->topic_name());
    if (found == topics_.end()) {
      return reject(grpc::StatusCode::INTERNAL,
                    fmt::format("{}: Topic {} not found in registry", failure, msg_id->topic_name()));
    }
    if (!found->second.subscriptions.contains(subscription_name)) {
      return reject(grpc::StatusCode::INTERNAL, fmt::format("{}: Subscription not found", failure));
    }
    return {};
  }

  const std::size_t consumer_buffer_;
  // One lock for the whole state: every operation is short and never blocks, and a single lock
  // makes dispatch decisions atomic across topics, subscriptions and consumers.
  mutable std::mutex mutex_;
  std::string advertised_url_;
  bool closed_ = false;
  id_generator ids_;
  std::map<std::string, topic, std::less<>> topics_;  // sorted: TopicPartitions answers in this order
  std::unordered_map<std::uint64_t, producer> producers_;
  consumer_table consumers_;
};

}  // namespace danube::testing::detail
