// The client-port RPCs of the embedded broker, as named by its fault-injection and call-counting
// API (embedded_broker::fail_next, delay, never_answer, calls).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace danube::testing {

enum class rpc : std::uint8_t {
  create_producer,   // /danube.ProducerService/CreateProducer
  send_message,      // /danube.ProducerService/SendMessage
  subscribe,         // /danube.ConsumerService/Subscribe
  receive_messages,  // /danube.ConsumerService/ReceiveMessages (server stream)
  ack,               // /danube.ConsumerService/Ack
  nack,              // /danube.ConsumerService/Nack
  topic_lookup,      // /danube.Discovery/TopicLookup
  topic_partitions,  // /danube.Discovery/TopicPartitions
  health_check,      // /danube.HealthCheck/HealthCheck
  authenticate,      // /danube.AuthService/Authenticate (legacy)
  // /danube_schema.SchemaRegistry/...
  register_schema,
  get_schema,
  get_latest_schema,
  list_versions,
  check_compatibility,
  delete_schema_version,
  set_compatibility_mode,
  configure_topic_schema,
  update_topic_validation_policy,
  get_topic_schema_config,
  list_subjects,
};

inline constexpr std::size_t rpc_count = 21;

inline constexpr std::array<rpc, rpc_count> all_rpcs{
    rpc::create_producer,
    rpc::send_message,
    rpc::subscribe,
    rpc::receive_messages,
    rpc::ack,
    rpc::nack,
    rpc::topic_lookup,
    rpc::topic_partitions,
    rpc::health_check,
    rpc::authenticate,
    rpc::register_schema,
    rpc::get_schema,
    rpc::get_latest_schema,
    rpc::list_versions,
    rpc::check_compatibility,
    rpc::delete_schema_version,
    rpc::set_compatibility_mode,
    rpc::configure_topic_schema,
    rpc::update_topic_validation_policy,
    rpc::get_topic_schema_config,
    rpc::list_subjects,
};

// The gRPC method path, e.g. "/danube.Discovery/TopicLookup".
[[nodiscard]] constexpr std::string_view to_string(rpc method) noexcept {
  switch (method) {
    case rpc::create_producer: return "/danube.ProducerService/CreateProducer";
    case rpc::send_message: return "/danube.ProducerService/SendMessage";
    case rpc::subscribe: return "/danube.ConsumerService/Subscribe";
    case rpc::receive_messages: return "/danube.ConsumerService/ReceiveMessages";
    case rpc::ack: return "/danube.ConsumerService/Ack";
    case rpc::nack: return "/danube.ConsumerService/Nack";
    case rpc::topic_lookup: return "/danube.Discovery/TopicLookup";
    case rpc::topic_partitions: return "/danube.Discovery/TopicPartitions";
    case rpc::health_check: return "/danube.HealthCheck/HealthCheck";
    case rpc::authenticate: return "/danube.AuthService/Authenticate";
    case rpc::register_schema: return "/danube_schema.SchemaRegistry/RegisterSchema";
    case rpc::get_schema: return "/danube_schema.SchemaRegistry/GetSchema";
    case rpc::get_latest_schema: return "/danube_schema.SchemaRegistry/GetLatestSchema";
    case rpc::list_versions: return "/danube_schema.SchemaRegistry/ListVersions";
    case rpc::check_compatibility: return "/danube_schema.SchemaRegistry/CheckCompatibility";
    case rpc::delete_schema_version: return "/danube_schema.SchemaRegistry/DeleteSchemaVersion";
    case rpc::set_compatibility_mode: return "/danube_schema.SchemaRegistry/SetCompatibilityMode";
    case rpc::configure_topic_schema: return "/danube_schema.SchemaRegistry/ConfigureTopicSchema";
    case rpc::update_topic_validation_policy: return "/danube_schema.SchemaRegistry/UpdateTopicValidationPolicy";
    case rpc::get_topic_schema_config: return "/danube_schema.SchemaRegistry/GetTopicSchemaConfig";
    case rpc::list_subjects: return "/danube_schema.SchemaRegistry/ListSubjects";
  }
  return "unknown";
}

}  // namespace danube::testing
