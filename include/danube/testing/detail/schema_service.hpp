// danube_schema.SchemaRegistry: the 11 registry RPCs over schema_registry_state. Each call is
// counted, faulted and authenticated by the call gate like every other RPC (unary_answer.hpp).
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/detail/broker_state.hpp>
#include <danube/testing/detail/call_gate.hpp>
#include <danube/testing/detail/schema_registry_state.hpp>
#include <danube/testing/detail/unary_answer.hpp>
#include <danube/testing/rpc.hpp>

#include <optional>
#include <string>
#include <utility>

#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

class schema_service final : public registry_wire::SchemaRegistry::CallbackService {
 public:
  schema_service(broker_state& state, call_gate& gate) : state_(state), gate_(gate) {}

  grpc::ServerUnaryReactor* RegisterSchema(grpc::CallbackServerContext* context,
                                           const registry_wire::RegisterSchemaRequest* request,
                                           registry_wire::RegisterSchemaResponse* response) override {
    return answer(gate_, rpc::register_schema, context, *request,
                  [&] { return status_of_(registry_().register_schema(*request, *response)); });
  }

  grpc::ServerUnaryReactor* GetSchema(grpc::CallbackServerContext* context,
                                      const registry_wire::GetSchemaRequest* request,
                                      registry_wire::GetSchemaResponse* response) override {
    return answer(gate_, rpc::get_schema, context, *request, [&] {
      const auto version = request->has_version() ? std::optional(request->version()) : std::nullopt;
      return status_of_(registry_().get_schema(request->schema_id(), version, *response));
    });
  }

  grpc::ServerUnaryReactor* GetLatestSchema(grpc::CallbackServerContext* context,
                                            const registry_wire::GetLatestSchemaRequest* request,
                                            registry_wire::GetSchemaResponse* response) override {
    return answer(gate_, rpc::get_latest_schema, context, *request,
                  [&] { return status_of_(registry_().get_latest(request->subject(), *response)); });
  }

  grpc::ServerUnaryReactor* ListVersions(grpc::CallbackServerContext* context,
                                         const registry_wire::ListVersionsRequest* request,
                                         registry_wire::ListVersionsResponse* response) override {
    return answer(gate_, rpc::list_versions, context, *request,
                  [&] { return status_of_(registry_().list_versions(request->subject(), *response)); });
  }

  grpc::ServerUnaryReactor* CheckCompatibility(grpc::CallbackServerContext* context,
                                               const registry_wire::CheckCompatibilityRequest* request,
                                               registry_wire::CheckCompatibilityResponse* response) override {
    return answer(gate_, rpc::check_compatibility, context, *request,
                  [&] { return status_of_(registry_().check_compatibility(*request, *response)); });
  }

  grpc::ServerUnaryReactor* DeleteSchemaVersion(grpc::CallbackServerContext* context,
                                                const registry_wire::DeleteSchemaVersionRequest* request,
                                                registry_wire::DeleteSchemaVersionResponse* response) override {
    return answer(gate_, rpc::delete_schema_version, context, *request, [&] {
      response->set_message(registry_().delete_version(request->subject(), request->version()));
      response->set_success(true);
      return grpc::Status::OK;
    });
  }

  grpc::ServerUnaryReactor* SetCompatibilityMode(grpc::CallbackServerContext* context,
                                                 const registry_wire::SetCompatibilityModeRequest* request,
                                                 registry_wire::SetCompatibilityModeResponse* response) override {
    return answer(gate_, rpc::set_compatibility_mode, context, *request, [&] {
      return confirm_(registry_().set_compatibility_mode(request->subject(), request->compatibility_mode()), *response);
    });
  }

  grpc::ServerUnaryReactor* ConfigureTopicSchema(grpc::CallbackServerContext* context,
                                                 const registry_wire::ConfigureTopicSchemaRequest* request,
                                                 registry_wire::ConfigureTopicSchemaResponse* response) override {
    return answer(gate_, rpc::configure_topic_schema, context, *request, [&] {
      return confirm_(
          registry_().configure_topic(request->topic_name(), request->schema_subject(), request->validation_policy(),
                                      request->enable_payload_validation(), served_here_(request->topic_name())),
          *response);
    });
  }

  grpc::ServerUnaryReactor* UpdateTopicValidationPolicy(
      grpc::CallbackServerContext* context, const registry_wire::UpdateTopicValidationPolicyRequest* request,
      registry_wire::UpdateTopicValidationPolicyResponse* response) override {
    return answer(gate_, rpc::update_topic_validation_policy, context, *request, [&] {
      return confirm_(
          registry_().update_topic_policy(request->topic_name(), request->validation_policy(),
                                          request->enable_payload_validation(), served_here_(request->topic_name())),
          *response);
    });
  }

  grpc::ServerUnaryReactor* GetTopicSchemaConfig(grpc::CallbackServerContext* context,
                                                 const registry_wire::GetTopicSchemaConfigRequest* request,
                                                 registry_wire::GetTopicSchemaConfigResponse* response) override {
    return answer(gate_, rpc::get_topic_schema_config, context, *request, [&] {
      return status_of_(
          registry_().topic_config(request->topic_name(), served_here_(request->topic_name()), *response));
    });
  }

  grpc::ServerUnaryReactor* ListSubjects(grpc::CallbackServerContext* context,
                                         const registry_wire::ListSubjectsRequest* request,
                                         registry_wire::ListSubjectsResponse* response) override {
    return answer(gate_, rpc::list_subjects, context, *request, [&] {
      registry_().list_subjects(*response);
      return grpc::Status::OK;
    });
  }

 private:
  [[nodiscard]] static grpc::Status status_of_(const status_or<void>& outcome) {
    return outcome ? grpc::Status::OK : outcome.error();
  }

  template <class Response>
  [[nodiscard]] static grpc::Status confirm_(status_or<std::string> outcome, Response& response) {
    if (!outcome) {
      return outcome.error();
    }
    response.set_success(true);
    response.set_message(std::move(*outcome));
    return grpc::Status::OK;
  }

  [[nodiscard]] schema_registry_state& registry_() { return state_.schema_registry(); }

  // Whether the topic is loaded on this broker (topic schema settings are per broker upstream).
  [[nodiscard]] bool served_here_(const std::string& topic_name) const { return state_.lookup(topic_name).has_value(); }

  broker_state& state_;
  call_gate& gate_;
};

}  // namespace danube::testing::detail
