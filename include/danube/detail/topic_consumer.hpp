// The consumer of one topic (one partition of a partitioned topic): its subscription on the
// owning broker, its delivery stream, and acks to that broker.
#pragma once

#include <danube/consumer_options.hpp>
#include <danube/detail/client_core.hpp>
#include <danube/detail/lookup.hpp>
#include <danube/detail/message_access.hpp>
#include <danube/detail/proto.hpp>
#include <danube/detail/receive_queue.hpp>
#include <danube/detail/stream_reader.hpp>
#include <danube/detail/unary_call.hpp>
#include <danube/error.hpp>
#include <danube/message.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace danube::detail {

[[nodiscard]] constexpr wire::ConsumerRequest::SubscriptionType to_wire(subscription_type type) noexcept {
  switch (type) {
    case subscription_type::exclusive: return wire::ConsumerRequest::Exclusive;
    case subscription_type::shared: return wire::ConsumerRequest::Shared;
    case subscription_type::failover: return wire::ConsumerRequest::Failover;
    case subscription_type::key_shared: return wire::ConsumerRequest::KeyShared;
  }
  return wire::ConsumerRequest::Shared;
}

class topic_consumer : public std::enable_shared_from_this<topic_consumer> {
 public:
  topic_consumer(std::shared_ptr<client_core> core, std::string topic, const consumer_options& options)
      : core_(std::move(core)), topic_(std::move(topic)), options_(options) {}

  [[nodiscard]] const std::string& topic() const noexcept { return topic_; }

  // Looks the topic up and subscribes on the broker that serves it. Blocking.
  [[nodiscard]] result<void> subscribe() {
    auto address = resolve_topic(*core_, core_->service_address(), topic_);
    if (!address) {
      return std::unexpected(std::move(address).error());
    }
    if (auto ch = core_->connect(*address); !ch) {
      return std::unexpected(std::move(ch).error());
    }
    wire::ConsumerRequest request;
    request.set_request_id(core_->next_request_id());
    request.set_topic_name(topic_);
    request.set_consumer_name(options_.consumer_name);
    request.set_subscription(options_.subscription);
    request.set_subscription_type(to_wire(options_.type));
    for (const auto& filter : options_.key_filters) {
      request.add_key_filters(filter);
    }
    auto response =
        unary_call<wire::ConsumerService>(*core_, *address, &wire::ConsumerService::Stub::Subscribe, request);
    if (!response) {
      return std::unexpected(std::move(response).error());
    }
    const auto consumer_id = response->consumer_id();
    const auto watch =
        core_->watch_health(*address, wire::HealthCheckRequest::Consumer, consumer_id, [weak = weak_from_this()] {
          if (const auto self = weak.lock()) {
            self->on_broker_close_();
          }
        });
    scheduler::task_id previous = 0;
    {
      std::lock_guard lock(mu_);
      address_ = std::move(*address);
      consumer_id_ = consumer_id;
      previous = std::exchange(health_watch_, watch);
    }
    core_->unwatch_health(previous);
    return {};
  }

  // Opens the delivery stream into `queue`.
  [[nodiscard]] result<void> start(const std::shared_ptr<receive_queue>& queue) {
    broker_address address;
    std::uint64_t id = 0;
    {
      std::lock_guard lock(mu_);
      address = address_;
      id = consumer_id_;
    }
    auto ch = core_->channel(address.connect_url);
    if (!ch) {
      return std::unexpected(std::move(ch).error());
    }
    auto reader = std::make_shared<stream_reader>(
        queue, options_.subscription, [queue, topic = topic_](const grpc::Status& status) {
          // The stream ended without close(): the application hears about it, never silence.
          queue->fail(status.ok() ? error(errc::unavailable, "the broker ended the stream of " + topic)
                                  : error_from_grpc(status));
        });
    // The stream has no deadline: it lives as long as the consumer.
    if (auto ok = core_->prepare(reader->context(), address, std::nullopt); !ok) {
      return ok;
    }
    const auto stub = wire::ConsumerService::NewStub(*ch);
    reader->start(*stub, core_->next_request_id(), id);
    std::lock_guard lock(mu_);
    reader_ = std::move(reader);
    return {};
  }

  [[nodiscard]] result<void> ack(const message& m) {
    wire::AckRequest request;
    request.set_request_id(message_access::request_id(m));
    message_access::fill(*request.mutable_msg_id(), m.id());
    request.set_subscription_name(message_access::subscription(m));
    auto response =
        unary_call<wire::ConsumerService>(*core_, address_snapshot_(), &wire::ConsumerService::Stub::Ack, request);
    if (!response) {
      return std::unexpected(std::move(response).error());
    }
    return {};
  }

  [[nodiscard]] result<void> nack(const message& m, const nack_options& options) {
    wire::NackRequest request;
    request.set_request_id(message_access::request_id(m));
    message_access::fill(*request.mutable_msg_id(), m.id());
    request.set_subscription_name(message_access::subscription(m));
    if (options.delay.count() > 0) {
      request.set_delay_ms(static_cast<std::uint64_t>(options.delay.count()));
    }
    if (!options.reason.empty()) {
      request.set_reason(options.reason);
    }
    auto response =
        unary_call<wire::ConsumerService>(*core_, address_snapshot_(), &wire::ConsumerService::Stub::Nack, request);
    if (!response) {
      return std::unexpected(std::move(response).error());
    }
    return {};
  }

  // Ends the stream; returns once gRPC is done with it (bounded).
  void close() {
    std::shared_ptr<stream_reader> reader;
    scheduler::task_id watch = 0;
    {
      std::lock_guard lock(mu_);
      reader = std::move(reader_);
      watch = std::exchange(health_watch_, 0);
    }
    core_->unwatch_health(watch);
    if (reader) {
      reader->close(std::chrono::seconds(1));
    }
  }

 private:
  // The broker's health check answered CLOSE: it no longer knows this consumer, or its stream
  // is gone.
  void on_broker_close_() {
    core_->log(log_level::warn,
               "health check: the broker answered CLOSE for consumer " + options_.consumer_name + " on " + topic_);
  }

  [[nodiscard]] broker_address address_snapshot_() {
    std::lock_guard lock(mu_);
    return address_;
  }

  const std::shared_ptr<client_core> core_;
  const std::string topic_;
  const consumer_options options_;
  std::mutex mu_;
  broker_address address_;
  std::uint64_t consumer_id_ = 0;
  std::shared_ptr<stream_reader> reader_;
  scheduler::task_id health_watch_ = 0;
};

}  // namespace danube::detail
