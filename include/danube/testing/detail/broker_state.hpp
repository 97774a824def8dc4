// The broker's state and semantics: topics, producers, subscriptions, consumers and dispatch,
// answering with the gRPC status the real Danube v0.15.1 broker gives
// (docs/protocol.md §2). The *_service.hpp classes only carry requests in
// and answers out; this class never touches gRPC calls itself.
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/broker_options.hpp>
#include <danube/testing/detail/consumer.hpp>
#include <danube/testing/detail/dead_letter.hpp>
#include <danube/testing/detail/delivery_stream.hpp>
#include <danube/testing/detail/dispatcher.hpp>
#include <danube/testing/detail/id_generator.hpp>
#include <danube/testing/detail/producer.hpp>
#include <danube/testing/detail/redelivery.hpp>
#include <danube/testing/detail/reliable_dispatcher.hpp>
#include <danube/testing/detail/schema_registry_state.hpp>
#include <danube/testing/detail/status.hpp>
#include <danube/testing/detail/stream_effects.hpp>
#include <danube/testing/detail/subscription.hpp>
#include <danube/testing/detail/timer_thread.hpp>
#include <danube/testing/detail/topic.hpp>
#include <danube/testing/detail/topic_creation.hpp>
#include <danube/testing/failure_policy.hpp>
#include <danube/topic_name.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
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
  explicit broker_state(const broker_options& options)
      : consumer_buffer_(options.consumer_buffer),
        namespaces_(options.namespaces.begin(), options.namespaces.end()),
        idle_subscription_grace_(std::min(options.idle_subscription_grace, bounded_ms(longest_delay_ms))),
        quirks_(bounded_(options.quirks)) {}
  broker_state(const broker_state&) = delete;
  broker_state& operator=(const broker_state&) = delete;
  broker_state(broker_state&&) = delete;
  broker_state& operator=(broker_state&&) = delete;
  // Timer tasks use the state: the timer thread is joined before anything else goes.
  ~broker_state() { timer_.stop(); }

  // The schema registry consulted on CreateProducer (subject binding) and SendMessage (validation
  // policy); shared by the brokers of a cluster and across restarts. Set before serving.
  void use_schema_registry(std::shared_ptr<schema_registry_state> registry) { schemas_ = std::move(registry); }
  [[nodiscard]] schema_registry_state& schema_registry() const noexcept { return *schemas_; }
  [[nodiscard]] const std::shared_ptr<schema_registry_state>& schema_registry_handle() const noexcept {
    return schemas_;
  }

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
      if (auto known = check_namespace_(topic_name); !known) {
        return std::unexpected(std::move(known.error()));
      }
      if (auto allowed = check_topic_creation(topics_, topic_name); !allowed) {
        return std::unexpected(std::move(allowed.error()));
      }
      topic created;
      created.name = topic_name;
      created.strategy = *requested;
      found = topics_.emplace(topic_name, std::move(created)).first;
    }
    topic& target = found->second;
    // The first producer with a schema binds the topic to its subject (§8.6), before the name check.
    if (request.has_schema_ref()) {
      if (auto bound = schemas_->bind_topic(topic_name, request.schema_ref().subject()); !bound) {
        return std::unexpected(std::move(bound.error()));
      }
    }
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
      // The topic's schema policy first, then whether the producer is attached to it: upstream's
      // order (docs/protocol.md §2.3).
      if (auto valid = schemas_->validate_message(msg_id.topic_name(), message); !valid) {
        return reject(grpc::StatusCode::PERMISSION_DENIED, "Unable to publish the message: " + valid.error());
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
        target.log.append(stored);
        for (auto& [name, sub] : target.subscriptions) {
          dispatch_reliable_(target, sub, effects);
        }
        trim_log_(target);
      } else {
        for (auto& [name, sub] : target.subscriptions) {
          if (consumer* chosen = choose_non_reliable(sub, consumers_, stored)) {
            chosen->pending.push_back(stored);
            if (chosen->stream) {
              effects.wake(chosen->stream);
            }
          } else if (!has_active_consumer_(sub)) {
            mark_idle_(target.name, sub);
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
          // Reliable: its unacknowledged messages are redelivered first (§2.4, §6.7).
          reliable_stream_ended(sub->second, *existing, broker_clock::now());
          existing->subscribed_since_stream = true;
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
          if (target.strategy == dispatch_strategy::reliable) {
            // Starts at Latest, with the failure policy stored for it or the default (§6.4, §6.6).
            created.reliable.emplace();
            created.reliable->read_cursor = target.next_offset;
            created.reliable->eviction_is_permanent = quirks_.key_shared_eviction_is_permanent;
            if (*type == subscription_type::failover &&
                quirks_.failover_start_delay > std::chrono::milliseconds::zero()) {
              created.reliable->start_at = broker_clock::now() + quirks_.failover_start_delay;
            }
            if (const auto stored = failure_policies_.find(std::pair(topic_name, request.subscription()));
                stored != failure_policies_.end()) {
              created.reliable->policy = stored->second;
            }
          }
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
        // Filters count only when the consumer asks for KeyShared (and then only on a subscription
        // created as KeyShared, §6.3).
        if (request.subscription_type() == wire::ConsumerRequest::KeyShared) {
          record.key_filters.assign(request.key_filters().begin(), request.key_filters().end());
        }
        record.capacity = consumer_buffer_;
        consumers_.emplace(id, std::move(record));
        sub->second.consumers.push_back(id);
      }
      sub->second.idle_since.reset();  // Subscribe, new or takeover, makes it active (§6.8)
      dispatch_reliable_(target, sub->second, effects);
    }
    effects.run();
    return id;
  }

  // Ack: routed by (msg_id.topic_name, subscription); the consumer's identity is not checked.
  // Non-reliable topics have nothing to acknowledge.
  // Reliable topics: an offset awaiting its ack leaves the subscription's window; late or unknown
  // offsets are ignored (OK).
  [[nodiscard]] status_or<void> ack(const wire::AckRequest& request) {
    return settle_(request.has_msg_id() ? &request.msg_id() : nullptr, request.subscription_name(),
                   "Error acknowledging message",
                   [&](subscription& sub) { return reliable_ack(sub, request.msg_id().topic_offset()); });
  }

  // Reliable topics: the subscription's failure policy schedules the redelivery (delay_ms can only
  // lengthen it) or exhausts the message; the reason is kept for x-failure-reason.
  [[nodiscard]] status_or<void> nack(const wire::NackRequest& request) {
    return settle_(request.has_msg_id() ? &request.msg_id() : nullptr, request.subscription_name(),
                   "Error negatively acknowledging message", [&](subscription& sub) {
                     return reliable_nack(sub, request.msg_id().topic_offset(),
                                          request.has_delay_ms() ? std::optional(request.delay_ms()) : std::nullopt,
                                          request.has_reason() ? std::optional(request.reason()) : std::nullopt,
                                          broker_clock::now());
                   });
  }

  // ---------------------------------------------------------------------------------------------
  // ReceiveMessages streams

  // Makes `stream` the consumer's stream (ending the previous one normally) and reactivates the
  // consumer; messages buffered since Subscribe, or for the previous stream, flow to it. As
  // upstream, a newer stream is not a reconnect: nothing is redelivered, and messages the old
  // stream delivered wait for their ack timeout (docs/protocol.md §2.5, §6.7).
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
      if (!std::exchange(target.subscribed_since_stream, false)) {
        ++streams_without_subscribe_;
      }
      if (auto previous = std::exchange(target.stream, stream)) {
        effects.end(std::move(previous), grpc::Status::OK);
      }
      target.active = true;
      effects.wake(stream);
      with_reliable_subscription_(target,
                                  [&](topic& owner, subscription& sub) { dispatch_reliable_(owner, sub, effects); });
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
    const bool was_full = found->second.pending.size() >= found->second.capacity;
    std::optional<wire::StreamMessage> next(std::move(found->second.pending.front()));
    found->second.pending.pop_front();
    if (was_full) {
      // Reliable dispatch waited for room in this consumer's buffer. Not run here: the calling
      // stream holds its own lock, and a pass may wake that very stream.
      with_reliable_subscription_(found->second, [&](topic& owner, subscription& sub) {
        schedule_pass_(owner.name, sub, broker_clock::now());
      });
    }
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
      // Reliable: its unacknowledged messages go to another consumer, or back to it when it
      // re-attaches. The pass runs on the timer thread: this is a stream callback.
      with_reliable_subscription_(found->second, [&](topic& owner, subscription& sub) {
        reliable_stream_ended(sub, found->second, broker_clock::now());
        schedule_pass_(owner.name, sub, broker_clock::now());
      });
    }
  }

  // Ends every open stream and refuses new ones; the first step of a shutdown.
  void close() {
    // First, and without the state lock: a running timer task may be waiting for it.
    timer_.stop();
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
  // Admin stand-ins for tests (the real broker's admin API)

  // Creates `topic_name` with `strategy`, or its partitions "<topic_name>-part-<i>" for i < partitions
  // when partitions > 0 (all or none). ALREADY_EXISTS for a topic that exists and under the
  // partitioned / non-partitioned rules of §2.2.
  [[nodiscard]] status_or<void> create_topic(std::string_view topic_name, dispatch_strategy strategy,
                                             std::uint32_t partitions) {
    if (auto valid = check_format_(topic_name); !valid) {
      return std::unexpected(std::move(valid.error()));
    }
    std::vector<std::string> names;
    if (partitions == 0) {
      names.emplace_back(topic_name);
    }
    for (std::uint32_t i = 0; i < partitions; ++i) {
      names.push_back(fmt::format("{}-part-{}", topic_name, i));
    }
    if (auto known = check_namespace_(topic_name); !known) {
      return std::unexpected(std::move(known.error()));
    }
    const std::lock_guard lock(mutex_);
    for (const auto& name : names) {
      if (topics_.contains(name)) {
        return reject(grpc::StatusCode::ALREADY_EXISTS, fmt::format("Topic '{}' already exists", name));
      }
      if (auto allowed = check_topic_creation(topics_, name); !allowed) {
        return std::unexpected(std::move(allowed.error()));
      }
    }
    for (auto& name : names) {
      topic created;
      created.name = name;
      created.strategy = strategy;
      topics_.emplace(std::move(name), std::move(created));
    }
    return {};
  }

  // Stores the failure policy of (topic, subscription), read when that subscription is created
  // (§6.6): set it before the first Subscribe. Only reliable topics have one
  // (FAILED_PRECONDITION); DeadLetter needs a non-blank dead_letter_topic (INVALID_ARGUMENT).
  [[nodiscard]] status_or<void> set_failure_policy(std::string_view topic_name, std::string_view subscription_name,
                                                   const failure_policy& policy) {
    const std::lock_guard lock(mutex_);
    const auto found = topics_.find(topic_name);
    if (found == topics_.end() || found->second.strategy != dispatch_strategy::reliable) {
      return reject(grpc::StatusCode::FAILED_PRECONDITION,
                    "subscription failure policy can only be configured for reliable topics");
    }
    if (policy.poison_policy == poison::dead_letter &&
        (!policy.dead_letter_topic ||
         policy.dead_letter_topic->find_first_not_of(" \t\n\r\f\v") == std::string::npos)) {
      return reject(grpc::StatusCode::INVALID_ARGUMENT,
                    "dead_letter_topic must be configured when poison_policy is DeadLetter");
    }
    failure_policies_.insert_or_assign(std::pair(std::string(topic_name), std::string(subscription_name)), policy);
    return {};
  }

  // The failure policy a subscription of `topic_name` uses: its own once created, otherwise the one
  // it would be created with. nullopt for anything but a reliable topic.
  [[nodiscard]] std::optional<failure_policy> failure_policy_of(std::string_view topic_name,
                                                                std::string_view subscription_name) const {
    const std::lock_guard lock(mutex_);
    const auto found = topics_.find(topic_name);
    if (found == topics_.end() || found->second.strategy != dispatch_strategy::reliable) {
      return std::nullopt;
    }
    if (const auto sub = found->second.subscriptions.find(subscription_name);
        sub != found->second.subscriptions.end() && sub->second.reliable) {
      return sub->second.reliable->policy;
    }
    const auto stored = failure_policies_.find(std::pair(std::string(topic_name), std::string(subscription_name)));
    return stored != failure_policies_.end() ? stored->second : failure_policy{};
  }

  // How many messages a reliable subscription has dispatched and not yet seen acknowledged or
  // resolved (its window), plus those KeyShared holds back; 0 for anything else.
  [[nodiscard]] std::size_t unacked_messages(std::string_view topic_name, std::string_view subscription_name) const {
    const std::lock_guard lock(mutex_);
    const auto found = topics_.find(topic_name);
    if (found == topics_.end()) {
      return 0;
    }
    const auto sub = found->second.subscriptions.find(subscription_name);
    if (sub == found->second.subscriptions.end() || !sub->second.reliable) {
      return 0;
    }
    return sub->second.reliable->window.size() + sub->second.reliable->blocked.size();
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
  // Cluster moves and restarts (embedded_cluster.hpp, embedded_broker::restart)

  // What a topic's next owner (a move, a restart) takes over from its previous one.
  struct unloaded_topic {
    dispatch_strategy strategy = dispatch_strategy::non_reliable;
    // Where its offsets go on: the real broker's offsets come from the topic's WAL, which a move or
    // a restart keeps, so they only grow. Numbering from 0 again would let an ack of a message from
    // before (routed by offset alone, as upstream) acknowledge a newer message that the consumer
    // has not seen (docs/embedded-broker.md).
    std::uint64_t next_offset = 0;
  };

  // Unloads a topic: its producers and consumers are forgotten (SendMessage then answers NOT_FOUND
  // for their ids, HealthCheck CLOSE) and its streams end normally. Returns what its next owner
  // takes over, or std::nullopt when this broker does not serve it.
  std::optional<unloaded_topic> remove_topic(std::string_view topic_name) {
    stream_effects effects;
    std::optional<unloaded_topic> strategy;
    {
      const std::lock_guard lock(mutex_);
      const auto found = topics_.find(topic_name);
      if (found == topics_.end()) {
        return std::nullopt;
      }
      strategy = unloaded_topic{.strategy = found->second.strategy, .next_offset = found->second.next_offset};
      for (const auto& [name, id] : found->second.producers) {
        producers_.erase(id);
      }
      for (const auto& [name, sub] : found->second.subscriptions) {
        forget_consumers_(sub, effects);
      }
      topics_.erase(found);
    }
    effects.run();
    return strategy;
  }

  // Loads a topic this broker now owns, with no producers, subscriptions or stored messages yet;
  // its offsets go on from `next_offset` (unloaded_topic). No-op when it is already served here.
  void adopt_topic(std::string_view topic_name, dispatch_strategy strategy, std::uint64_t next_offset = 0) {
    const std::lock_guard lock(mutex_);
    if (topics_.contains(topic_name)) {
      return;
    }
    topic adopted;
    adopted.name = std::string(topic_name);
    adopted.strategy = strategy;
    adopted.next_offset = next_offset;
    topics_.emplace(std::string(topic_name), std::move(adopted));
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

  // How many ReceiveMessages streams attached to a consumer with no Subscribe of it since its
  // previous stream attached. Such a stream is a plain replacement: nothing is redelivered, and
  // what the broker wrote to the stream it replaces waits for its ack timeout (§2.5).
  [[nodiscard]] std::uint64_t streams_without_subscribe() const {
    const std::lock_guard lock(mutex_);
    return streams_without_subscribe_;
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

  // The names of `topic_name`'s subscriptions, sorted (tests; e.g. after idle reaping).
  [[nodiscard]] std::vector<std::string> subscription_names(std::string_view topic_name) const {
    const std::lock_guard lock(mutex_);
    std::vector<std::string> names;
    if (const auto found = topics_.find(topic_name); found != topics_.end()) {
      for (const auto& [name, sub] : found->second.subscriptions) {
        names.push_back(name);
      }
    }
    return names;
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

  // ---------------------------------------------------------------------------------------------
  // Reliable dispatch plumbing. Everything here runs under mutex_ unless it says otherwise.

  // Runs `body(topic, subscription)` if `member`'s subscription is reliable.
  template <class Body>
  void with_reliable_subscription_(const consumer& member, const Body& body) {
    const auto owner = topics_.find(member.topic);
    if (owner == topics_.end()) {
      return;
    }
    const auto sub = owner->second.subscriptions.find(member.subscription);
    if (sub != owner->second.subscriptions.end() && sub->second.reliable) {
      body(owner->second, sub->second);
    }
  }

  // One dispatch pass over a reliable subscription, then its follow-ups: a timer wake-up for the
  // next deadline, dead letters to republish (on the timer thread, through this broker's own
  // CreateProducer and SendMessage, as the real broker's internal producer does).
  void dispatch_reliable_(topic& owner, subscription& sub, stream_effects& effects) {
    if (!sub.reliable || closed_) {
      return;
    }
    const auto now = broker_clock::now();
    if (auto& start = sub.reliable->start_at) {  // broker_quirks::failover_start_delay
      if (now < *start) {
        schedule_pass_(owner.name, sub, *start);
        return;
      }
      sub.reliable->read_cursor = owner.next_offset;
      start.reset();
    }
    auto followups = reliable_pass(owner.name, owner.log, sub, consumers_, now, effects);
    if (followups.wake_at) {
      schedule_pass_(owner.name, sub, *followups.wake_at);
    }
    for (auto& job : followups.dead_letters) {
      static_cast<void>(timer_.schedule(now, [this, letter = std::move(job)] { deliver_dead_letter_(letter); }));
    }
  }

  // Forgets the stored messages every subscription has read. A new subscription starts at the end,
  // so with none left nothing needs keeping.
  static void trim_log_(topic& owner) {
    std::uint64_t keep_from = owner.next_offset;
    for (const auto& [name, sub] : owner.subscriptions) {
      if (sub.reliable) {
        keep_from = std::min(keep_from, sub.reliable->read_cursor);
      }
    }
    owner.log.trim_before(keep_from);
  }

  // Runs the subscription's pass on the timer thread at `when`, unless one is due by then already.
  void schedule_pass_(const std::string& topic_name, subscription& sub, broker_clock::time_point when) {
    if (!sub.reliable || (sub.reliable->wake_at && *sub.reliable->wake_at <= when)) {
      return;
    }
    if (timer_.schedule(when, [this, topic_name, name = sub.name] { run_scheduled_pass_(topic_name, name); })) {
      sub.reliable->wake_at = when;
    }
  }

  // Timer thread, no lock held.
  void run_scheduled_pass_(const std::string& topic_name, const std::string& subscription_name) {
    stream_effects effects;
    {
      const std::lock_guard lock(mutex_);
      const auto [owner, sub] = find_subscription_(topic_name, subscription_name);
      if (sub == nullptr || !sub->reliable) {
        return;
      }
      auto& wake_at = sub->reliable->wake_at;
      if (wake_at && *wake_at <= broker_clock::now()) {
        wake_at.reset();
      }
      dispatch_reliable_(*owner, *sub, effects);
      trim_log_(*owner);
    }
    effects.run();
  }

  // Timer thread, no lock held: republishes an exhausted message through the internal producer
  // of its dead-letter topic (created on first use: reliable, so a missing topic is created
  // reliable and a non-reliable one refuses it), then settles the original.
  void deliver_dead_letter_(const dead_letter_job& job) {
    bool delivered = false;
    // A cached producer that is gone (its topic moved) is replaced once, as upstream's replicator does.
    for (int attempt = 0; attempt < 2 && !delivered; ++attempt) {
      auto sender = replicator_.producer_for(job.dead_letter_topic);
      if (!sender) {
        wire::ProducerRequest request;
        request.set_topic_name(job.dead_letter_topic);
        request.set_producer_name(replicator_.next_producer_name());
        request.set_dispatch_strategy(wire::DispatchStrategy::Reliable);
        const auto id = create_producer(request);
        if (!id) {
          break;
        }
        sender = dead_letter_replicator::internal_producer{*id, request.producer_name()};
        replicator_.remember(job.dead_letter_topic, *sender);
      }
      std::string url;
      {
        const std::lock_guard lock(mutex_);
        url = advertised_url_;
      }
      delivered = publish(replicator_.message(job, *sender, url)).has_value();
      if (!delivered) {
        replicator_.forget(job.dead_letter_topic);
      }
    }
    stream_effects effects;
    {
      const std::lock_guard lock(mutex_);
      const auto [owner, sub] = find_subscription_(job.topic, job.subscription);
      if (sub == nullptr || !sub->reliable) {
        return;
      }
      auto& window = sub->reliable->window;
      const auto entry = window.find(job.offset);
      if (entry == window.end() || !entry->second.dead_lettering) {
        return;
      }
      if (delivered) {
        window.erase(entry);  // skipped, like a dropped one: the subscription moves on
      } else {
        // Tried again on a later pass, no sooner than this.
        entry->second.dead_lettering = false;
        entry->second.retry_at = broker_clock::now() + dead_letter_retry_interval;
      }
      dispatch_reliable_(*owner, *sub, effects);
      trim_log_(*owner);
    }
    effects.run();
  }

  // Timer arithmetic must not overflow, whatever a test configures.
  [[nodiscard]] static broker_quirks bounded_(broker_quirks quirks) noexcept {
    quirks.failover_start_delay = std::min(quirks.failover_start_delay, bounded_ms(longest_delay_ms));
    return quirks;
  }

  // A subscription and its topic, looked up by name under the lock (a timer task's target may be
  // gone); {nullptr, nullptr} when either is.
  [[nodiscard]] std::pair<topic*, subscription*> find_subscription_(std::string_view topic_name,
                                                                    std::string_view subscription_name) {
    const auto owner = topics_.find(topic_name);
    if (owner == topics_.end()) {
      return {nullptr, nullptr};
    }
    const auto sub = owner->second.subscriptions.find(subscription_name);
    if (sub == owner->second.subscriptions.end()) {
      return {nullptr, nullptr};
    }
    return {&owner->second, &sub->second};
  }

  [[nodiscard]] consumer* find_consumer_(const subscription& sub, std::string_view name) {
    for (const std::uint64_t id : sub.consumers) {
      if (const auto found = consumers_.find(id); found != consumers_.end() && found->second.name == name) {
        return &found->second;
      }
    }
    return nullptr;
  }

  // Ack and Nack: routed by (msg_id.topic_name, subscription); the consumer is not checked.
  // `change(sub)` applies the request to a reliable subscription; a change runs its dispatch pass.
  template <class Change>
  [[nodiscard]] status_or<void> settle_(const wire::MsgID* msg_id, std::string_view subscription_name,
                                        std::string_view failure, const Change& change) {
    // The real broker panics without msg_id; see publish().
    if (msg_id == nullptr) {
      return reject(grpc::StatusCode::INVALID_ARGUMENT, "The request has no msg_id");
    }
    stream_effects effects;
    {
      const std::lock_guard lock(mutex_);
      const auto found = topics_.find(msg_id->topic_name());
      if (found == topics_.end()) {
        return reject(grpc::StatusCode::INTERNAL,
                      fmt::format("{}: Topic {} not found in registry", failure, msg_id->topic_name()));
      }
      const auto sub = found->second.subscriptions.find(subscription_name);
      if (sub == found->second.subscriptions.end()) {
        return reject(grpc::StatusCode::INTERNAL, fmt::format("{}: Subscription not found", failure));
      }
      if (change(sub->second)) {
        dispatch_reliable_(found->second, sub->second, effects);
        trim_log_(found->second);
      }
    }
    effects.run();
    return {};
  }

  // Removes `sub`'s consumers from the broker (HealthCheck then answers CLOSE for them) and ends
  // their open streams normally. Under the lock; the caller erases the subscription.
  void forget_consumers_(const subscription& sub, stream_effects& effects) {
    for (const std::uint64_t id : sub.consumers) {
      if (const auto gone = consumers_.find(id); gone != consumers_.end()) {
        if (gone->second.stream) {
          effects.end(std::exchange(gone->second.stream, nullptr), grpc::Status::OK);
        }
        consumers_.erase(gone);
      }
    }
  }

  [[nodiscard]] bool has_active_consumer_(const subscription& sub) const {
    return std::ranges::any_of(sub.consumers, [this](std::uint64_t id) {
      const auto found = consumers_.find(id);
      return found != consumers_.end() && found->second.active;
    });
  }

  // Idle non-reliable subscriptions (§6.8): the first message that finds no active consumer marks
  // the subscription idle; once idle longer than the grace with still no active consumer, it is
  // removed with its consumers. Upstream looks every 30 s (so up to 30 s late); here the check
  // runs when the grace ends, and again every half grace while a consumer is active.
  void mark_idle_(const std::string& topic_name, subscription& sub) {
    if (sub.idle_since || idle_subscription_grace_ <= std::chrono::milliseconds::zero()) {
      return;
    }
    const auto now = broker_clock::now();
    sub.idle_since = now;
    if (!sub.reap_scheduled) {  // at most one check per subscription is pending
      sub.reap_scheduled = true;
      schedule_reap_(topic_name, sub.name, now + idle_subscription_grace_ + std::chrono::milliseconds(1));
    }
  }

  void schedule_reap_(const std::string& topic_name, const std::string& subscription_name,
                      broker_clock::time_point when) {
    static_cast<void>(
        timer_.schedule(when, [this, topic_name, subscription_name] { reap_if_idle_(topic_name, subscription_name); }));
  }

  // Timer thread, no lock held.
  void reap_if_idle_(const std::string& topic_name, const std::string& subscription_name) {
    stream_effects effects;
    {
      const std::lock_guard lock(mutex_);
      const auto [owner, sub] = find_subscription_(topic_name, subscription_name);
      if (sub == nullptr || sub->reliable) {
        return;
      }
      if (!sub->idle_since) {
        sub->reap_scheduled = false;
        return;
      }
      const auto now = broker_clock::now();
      if (now - *sub->idle_since <= idle_subscription_grace_) {
        schedule_reap_(topic_name, subscription_name,
                       *sub->idle_since + idle_subscription_grace_ + std::chrono::milliseconds(1));
        return;
      }
      if (has_active_consumer_(*sub)) {
        // Still marked idle (upstream clears the mark only on Subscribe): looked at again later.
        schedule_reap_(topic_name, subscription_name, now + idle_subscription_grace_ / 2);
        return;
      }
      forget_consumers_(*sub, effects);
      owner->subscriptions.erase(subscription_name);
    }
    effects.run();
  }

  // A new topic's namespace (its second part; the name's form is already checked) must exist:
  // upstream's UNAVAILABLE, with its spelling (topic_cluster.rs, docs/protocol.md §2.2).
  [[nodiscard]] status_or<void> check_namespace_(std::string_view topic_name) const {
    const auto first = topic_name.find('/');
    const auto second = topic_name.find('/', first + 1);
    const std::string_view name = topic_name.substr(first + 1, second - first - 1);
    if (namespaces_.contains(name)) {
      return {};
    }
    return reject(
        grpc::StatusCode::UNAVAILABLE,
        fmt::format("Unable to find the namespace {}, the topic can be created only for an exisiting namespace", name));
  }

  const std::size_t consumer_buffer_;
  const std::set<std::string, std::less<>> namespaces_;
  const std::chrono::milliseconds idle_subscription_grace_;
  const broker_quirks quirks_;
  // One lock for the whole state: every operation is short and never blocks, and a single lock
  // makes dispatch decisions atomic across topics, subscriptions and consumers.
  mutable std::mutex mutex_;
  // Taken under mutex_ (never the other way round).
  std::shared_ptr<schema_registry_state> schemas_ = std::make_shared<schema_registry_state>();
  std::string advertised_url_;
  bool closed_ = false;
  std::uint64_t streams_without_subscribe_ = 0;
  id_generator ids_;
  std::map<std::string, topic, std::less<>> topics_;  // sorted: TopicPartitions answers in this order
  std::unordered_map<std::uint64_t, producer> producers_;
  consumer_table consumers_;
  // Failure policies by (topic, subscription), as set through set_failure_policy().
  std::map<std::pair<std::string, std::string>, failure_policy, std::less<>> failure_policies_;
  // The internal dead-letter producers; used from the timer thread only.
  dead_letter_replicator replicator_{id_generator().next([](std::uint64_t /*unused*/) { return false; })};
  // Declared last, stopped first (see the destructor): its tasks use everything above.
  timer_thread timer_;
};

}  // namespace danube::testing::detail
