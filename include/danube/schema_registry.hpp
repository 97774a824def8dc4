// danube::schema_registry: the broker's schema registry, all of its RPCs, with typed answers.
//
//   auto registry = client.schema_registry();
//   auto reg = registry.register_schema("orders-value")
//                  .type(danube::schema_type::json_schema)
//                  .definition(R"({"type":"object","properties":{"id":{"type":"string"}}})")
//                  .description("orders").tags({"team-a"})
//                  .execute();                                   // result<schema_registration>
//   auto latest = registry.latest("orders-value");               // result<schema_info>
//   std::string_view text = latest->definition();                 // the schema as registered
//
// Every call is a blocking unary RPC to the client's service URL with the client's call timeout,
// authentication and TLS; failures are errors with the broker's message (docs/errors.md).
// See docs/schema-registry.md.
#pragma once

#include <danube/detail/client_core.hpp>
#include <danube/detail/schema_wire.hpp>
#include <danube/detail/unary_call.hpp>
#include <danube/error.hpp>
#include <danube/schema_types.hpp>
#include <danube/topic_name.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace danube {

namespace detail {

// One registry RPC to the service URL. The registry is cluster-wide, so any broker answers.
template <class Request, class Response>
[[nodiscard]] result<Response> registry_call(client_core& core,
                                             sync_method<registry_wire::SchemaRegistry, Request, Response> method,
                                             const Request& request) {
  return unary_call<registry_wire::SchemaRegistry>(core, core.service_address(), method, request);
}

[[nodiscard]] inline result<void> check_subject(std::string_view subject) {
  if (subject.empty()) {
    return unexpected_error(errc::invalid_argument, "a schema subject must not be empty");
  }
  if (!is_valid_utf8(subject)) {
    return unexpected_error(errc::invalid_argument, "the schema subject is not valid UTF-8");
  }
  return {};
}

// {success, message} answers: the broker's message, or an error if it reports no success.
template <class Response>
[[nodiscard]] result<std::string> confirmation(result<Response> response) {
  if (!response) {
    return std::unexpected(std::move(response).error());
  }
  if (!response->success()) {
    return unexpected_error(errc::internal, response->message().empty() ? std::string("the broker reported a failure")
                                                                        : std::move(*response->mutable_message()));
  }
  return std::move(*response->mutable_message());
}

}  // namespace detail

// Collects a registration; execute() sends it. The definition is moved into the request, so a
// std::string handed over as an rvalue is never copied.
class register_schema_builder {
 public:
  register_schema_builder(std::shared_ptr<detail::client_core> core, std::string subject) : core_(std::move(core)) {
    request_.set_subject(std::move(subject));
    request_.set_created_by("danube-cpp");
  }

  register_schema_builder& type(schema_type type) {
    type_ = type;
    request_.set_schema_type(std::string(to_string(type)));
    return *this;
  }
  // The schema text: JSON Schema, Avro (JSON), or .proto text. Ignored by the broker for bytes,
  // string and number.
  register_schema_builder& definition(std::string text) {
    *request_.mutable_schema_definition() = std::move(text);
    return *this;
  }
  register_schema_builder& definition(std::span<const std::byte> bytes) {
    request_.set_schema_definition(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return *this;
  }
  register_schema_builder& description(std::string text) {
    *request_.mutable_description() = std::move(text);
    return *this;
  }
  // Who registered it (default "danube-cpp").
  register_schema_builder& created_by(std::string name) {
    *request_.mutable_created_by() = std::move(name);
    return *this;
  }
  register_schema_builder& tags(std::vector<std::string> tags) {
    request_.clear_tags();
    for (auto& tag : tags) {
      request_.add_tags(std::move(tag));
    }
    return *this;
  }
  register_schema_builder& tag(std::string tag) {
    request_.add_tags(std::move(tag));
    return *this;
  }

  // Registers the schema: a new subject gets a new schema_id and version 1; new content a new
  // version (checked against the latest one in the subject's compatibility mode: an incompatible
  // schema is errc::internal "Failed to register schema: Schema is not compatible ..."); content
  // the subject already has answers that version with is_new_version == false.
  [[nodiscard]] result<schema_registration> execute() const {
    if (auto ok = detail::check_subject(request_.subject()); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    if (!type_) {
      return unexpected_error(errc::invalid_argument, "a schema registration needs a type: call type(...)");
    }
    const bool has_text =
        *type_ == schema_type::avro || *type_ == schema_type::json_schema || *type_ == schema_type::protobuf;
    if (has_text && request_.schema_definition().empty()) {
      return unexpected_error(errc::invalid_argument, "a " + std::string(to_string(*type_)) +
                                                          " schema needs a definition: call definition(...)");
    }
    if (!is_valid_utf8(request_.description()) || !is_valid_utf8(request_.created_by())) {
      return unexpected_error(errc::invalid_argument, "the description and created_by must be valid UTF-8");
    }
    for (const auto& tag : request_.tags()) {
      if (!is_valid_utf8(tag)) {
        return unexpected_error(errc::invalid_argument, "schema tags must be valid UTF-8");
      }
    }
    auto response =
        detail::registry_call(*core_, &detail::registry_wire::SchemaRegistry::Stub::RegisterSchema, request_);
    if (!response) {
      return std::unexpected(std::move(response).error());
    }
    return schema_registration{response->schema_id(), response->version(), response->is_new_version(),
                               std::move(*response->mutable_fingerprint())};
  }

 private:
  std::shared_ptr<detail::client_core> core_;
  detail::registry_wire::RegisterSchemaRequest request_;
  std::optional<schema_type> type_;
};

// A handle to the registry of the client it came from (cheap to copy; it shares the client's
// connections and fails with errc::closed once the client is closed).
class schema_registry {
 public:
  explicit schema_registry(std::shared_ptr<detail::client_core> core) : core_(std::move(core)) {}

  // Starts a registration of a new schema (version) for `subject`.
  [[nodiscard]] register_schema_builder register_schema(std::string subject) const {
    return {core_, std::move(subject)};
  }

  // A version of the subject with this id, the latest when `version` is not given.
  // errc::not_found "Schema not found for ID: {id}" when either is unknown.
  [[nodiscard]] result<schema_info> get_schema(std::uint64_t schema_id,
                                               std::optional<std::uint32_t> version = std::nullopt) const {
    if (schema_id == 0) {
      return unexpected_error(errc::invalid_argument, "schema ids start at 1");
    }
    if (version && *version == 0) {
      return unexpected_error(errc::invalid_argument, "schema versions start at 1");
    }
    detail::registry_wire::GetSchemaRequest request;
    request.set_schema_id(schema_id);
    if (version) {
      request.set_version(*version);
    }
    return info_(detail::registry_call(*core_, &detail::registry_wire::SchemaRegistry::Stub::GetSchema, request));
  }

  // The latest version of `subject`; errc::not_found "Schema not found for subject: {s}".
  [[nodiscard]] result<schema_info> latest(std::string_view subject) const {
    if (auto ok = detail::check_subject(subject); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    detail::registry_wire::GetLatestSchemaRequest request;
    request.set_subject(std::string(subject));
    return info_(detail::registry_call(*core_, &detail::registry_wire::SchemaRegistry::Stub::GetLatestSchema, request));
  }

  // Every version of `subject`, ascending; errc::not_found "Subject not found: {s}".
  [[nodiscard]] result<std::vector<schema_version_info>> versions(std::string_view subject) const {
    if (auto ok = detail::check_subject(subject); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    detail::registry_wire::ListVersionsRequest request;
    request.set_subject(std::string(subject));
    auto response = detail::registry_call(*core_, &detail::registry_wire::SchemaRegistry::Stub::ListVersions, request);
    if (!response) {
      return std::unexpected(std::move(response).error());
    }
    std::vector<schema_version_info> out;
    out.reserve(static_cast<std::size_t>(response->versions_size()));
    for (auto& version : *response->mutable_versions()) {
      out.push_back(detail::from_wire(version));
    }
    return out;
  }

  // Whether `definition` could be registered as the next version of `subject`, in the subject's
  // mode or in `mode` for this check only; nothing is registered. A broker-side failure (unknown
  // subject, unparsable schema) is errc::internal "Failed to check compatibility: ...".
  [[nodiscard]] result<compatibility_result> check_compatibility(
      std::string_view subject, std::string definition, schema_type type,
      std::optional<compatibility_mode> mode = std::nullopt) const {
    if (auto ok = detail::check_subject(subject); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    detail::registry_wire::CheckCompatibilityRequest request;
    request.set_subject(std::string(subject));
    *request.mutable_new_schema_definition() = std::move(definition);
    request.set_schema_type(std::string(to_string(type)));
    if (mode) {
      request.set_compatibility_mode(std::string(to_string(*mode)));
    }
    auto response =
        detail::registry_call(*core_, &detail::registry_wire::SchemaRegistry::Stub::CheckCompatibility, request);
    if (!response) {
      return std::unexpected(std::move(response).error());
    }
    return compatibility_result{response->is_compatible(), detail::take_strings(*response->mutable_errors())};
  }

  // Sets the subject's compatibility mode; answers the broker's confirmation
  // ("Set compatibility mode to {m} for subject {s}").
  [[nodiscard]] result<std::string> set_compatibility_mode(std::string_view subject, compatibility_mode mode) const {
    if (auto ok = detail::check_subject(subject); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    detail::registry_wire::SetCompatibilityModeRequest request;
    request.set_subject(std::string(subject));
    request.set_compatibility_mode(std::string(to_string(mode)));
    return detail::confirmation(
        detail::registry_call(*core_, &detail::registry_wire::SchemaRegistry::Stub::SetCompatibilityMode, request));
  }

  // Deletes one version of a subject; answers the broker's confirmation. v0.15.1 answers success
  // for a version that does not exist too.
  [[nodiscard]] result<std::string> delete_version(std::string_view subject, std::uint32_t version) const {
    if (auto ok = detail::check_subject(subject); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    if (version == 0) {
      return unexpected_error(errc::invalid_argument, "schema versions start at 1");
    }
    detail::registry_wire::DeleteSchemaVersionRequest request;
    request.set_subject(std::string(subject));
    request.set_version(version);
    return detail::confirmation(
        detail::registry_call(*core_, &detail::registry_wire::SchemaRegistry::Stub::DeleteSchemaVersion, request));
  }

  // Every subject with a summary of its latest version.
  [[nodiscard]] result<std::vector<subject_summary>> list_subjects() const {
    const detail::registry_wire::ListSubjectsRequest request;
    auto response = detail::registry_call(*core_, &detail::registry_wire::SchemaRegistry::Stub::ListSubjects, request);
    if (!response) {
      return std::unexpected(std::move(response).error());
    }
    std::vector<subject_summary> out;
    out.reserve(static_cast<std::size_t>(response->subjects_size()));
    for (auto& summary : *response->mutable_subjects()) {
      auto converted = detail::from_wire(summary);
      if (!converted) {
        return std::unexpected(std::move(converted).error());
      }
      out.push_back(std::move(*converted));
    }
    return out;
  }

  // Admin: binds `topic` to `subject` (replacing any subject it has) with a validation policy and
  // optional payload validation. The topic must be served by the broker at the service URL.
  [[nodiscard]] result<std::string> configure_topic_schema(std::string_view topic, std::string_view subject,
                                                           validation_policy policy,
                                                           bool payload_validation = false) const {
    if (auto ok = validate_topic_name(topic); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    if (auto ok = detail::check_subject(subject); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    detail::registry_wire::ConfigureTopicSchemaRequest request;
    request.set_topic_name(std::string(topic));
    request.set_schema_subject(std::string(subject));
    request.set_validation_policy(std::string(to_string(policy)));
    request.set_enable_payload_validation(payload_validation);
    return detail::confirmation(
        detail::registry_call(*core_, &detail::registry_wire::SchemaRegistry::Stub::ConfigureTopicSchema, request));
  }

  // Admin: changes a topic's validation policy, keeping its subject. A topic without a subject
  // is errc::failed_precondition (and, as upstream, the new policy has been applied anyway).
  [[nodiscard]] result<std::string> update_topic_validation_policy(std::string_view topic, validation_policy policy,
                                                                   bool payload_validation = false) const {
    if (auto ok = validate_topic_name(topic); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    detail::registry_wire::UpdateTopicValidationPolicyRequest request;
    request.set_topic_name(std::string(topic));
    request.set_validation_policy(std::string(to_string(policy)));
    request.set_enable_payload_validation(payload_validation);
    return detail::confirmation(detail::registry_call(
        *core_, &detail::registry_wire::SchemaRegistry::Stub::UpdateTopicValidationPolicy, request));
  }

  // A topic's subject (empty if none), validation policy and payload-validation flag.
  [[nodiscard]] result<topic_schema_settings> topic_schema_config(std::string_view topic) const {
    if (auto ok = validate_topic_name(topic); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    detail::registry_wire::GetTopicSchemaConfigRequest request;
    request.set_topic_name(std::string(topic));
    auto response =
        detail::registry_call(*core_, &detail::registry_wire::SchemaRegistry::Stub::GetTopicSchemaConfig, request);
    if (!response) {
      return std::unexpected(std::move(response).error());
    }
    auto policy = validation_policy_from_string(response->validation_policy());
    if (!policy) {
      return unexpected_error(
          errc::schema, "the broker answered an unknown validation policy '" + response->validation_policy() + "'");
    }
    return topic_schema_settings{std::move(*response->mutable_schema_subject()), *policy,
                                 response->enable_payload_validation(), response->schema_id()};
  }

 private:
  [[nodiscard]] static result<schema_info> info_(result<detail::registry_wire::GetSchemaResponse> response) {
    if (!response) {
      return std::unexpected(std::move(response).error());
    }
    return detail::schema_info_access::from_wire(*response);
  }

  std::shared_ptr<detail::client_core> core_;
};

}  // namespace danube
