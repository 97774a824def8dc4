// The embedded broker's schema registry (docs/protocol.md §8): subjects
// with one schema_id each and numbered versions, compatibility modes, and the schema settings of
// topics (subject binding, validation policy) that CreateProducer and SendMessage consult.
//
// Thread-safe (one mutex, never held while calling out). The brokers of an embedded_cluster and a
// restarted broker share one instance, as the real registry lives in the cluster's metadata.
// Answers carry the gRPC status the real broker gives; schema_service.hpp only carries them.
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/policies/routing.hpp>
#include <danube/schema_types.hpp>
#include <danube/testing/detail/schema_definition.hpp>
#include <danube/testing/detail/status.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <grpcpp/support/status.h>

namespace danube::testing::detail {

namespace registry_wire = ::danube_schema;

class schema_registry_state {
 public:
  // ---------------------------------------------------------------------------------------------
  // Subjects and versions

  // RegisterSchema (§8.2): idempotent by fingerprint; a new version is checked against the latest
  // one in the subject's mode; a new subject gets the next schema_id and version 1.
  [[nodiscard]] status_or<void> register_schema(const registry_wire::RegisterSchemaRequest& request,
                                                registry_wire::RegisterSchemaResponse& response) {
    const auto failed = [](const std::string& why) {
      return reject(grpc::StatusCode::INTERNAL, "Failed to register schema: " + why);
    };
    auto parsed = schema_definition::parse(request.schema_type(), request.schema_definition());
    if (!parsed) {
      return failed(parsed.error());
    }
    const std::lock_guard lock(mutex_);
    auto found = subjects_.find(request.subject());
    if (found != subjects_.end()) {
      subject_record& subject = found->second;
      for (const auto& [number, version] : subject.versions) {
        if (version.definition->fingerprint() == (*parsed)->fingerprint()) {
          fill_registration_(response, subject.id, number, false, version.definition->fingerprint());
          return {};
        }
      }
      if (subject.mode != compatibility_mode::none) {
        const stored_version* latest = latest_(subject);
        if (latest == nullptr) {
          return failed("No existing versions found");
        }
        const auto errors = schema_definition::incompatibilities(*latest->definition, **parsed, subject.mode);
        if (!errors.empty()) {
          std::string joined;
          for (const auto& e : errors) {
            joined += (joined.empty() ? "" : "; ") + e;
          }
          return failed(fmt::format("Schema is not compatible with subject '{}' (mode: {}): {}", request.subject(),
                                    debug_name(subject.mode), joined));
        }
      }
    } else {
      subject_record created;
      created.id = next_schema_id_++;
      subject_by_id_.emplace(created.id, request.subject());
      found = subjects_.emplace(request.subject(), std::move(created)).first;
    }
    subject_record& subject = found->second;
    const std::uint32_t number = ++subject.last_version;
    stored_version version;
    version.definition = *parsed;
    version.created_at = now_();
    version.created_by = request.created_by();
    version.description = request.description();
    version.tags.assign(request.tags().begin(), request.tags().end());
    subject.last_type = (*parsed)->type();
    subject.versions.emplace(number, std::move(version));
    fill_registration_(response, subject.id, number, true, (*parsed)->fingerprint());
    return {};
  }

  // GetSchema (§8.3): the requested id echoed; unknown id or version → NOT_FOUND.
  [[nodiscard]] status_or<void> get_schema(std::uint64_t schema_id, std::optional<std::uint32_t> version,
                                           registry_wire::GetSchemaResponse& response) const {
    const std::lock_guard lock(mutex_);
    const auto not_found = [&] {
      return reject(grpc::StatusCode::NOT_FOUND, fmt::format("Schema not found for ID: {}", schema_id));
    };
    const auto name = subject_by_id_.find(schema_id);
    if (name == subject_by_id_.end()) {
      return not_found();
    }
    const subject_record& subject = subjects_.at(name->second);
    const stored_version* chosen = nullptr;
    std::uint32_t number = 0;
    if (version) {
      if (const auto found = subject.versions.find(*version); found != subject.versions.end()) {
        chosen = &found->second;
        number = *version;
      }
    } else if (!subject.versions.empty()) {
      chosen = &subject.versions.rbegin()->second;
      number = subject.versions.rbegin()->first;
    }
    if (chosen == nullptr) {
      return not_found();
    }
    fill_schema_(response, schema_id, name->second, subject, number, *chosen);
    return {};
  }

  // GetLatestSchema (§8.3).
  [[nodiscard]] status_or<void> get_latest(const std::string& subject_name,
                                           registry_wire::GetSchemaResponse& response) const {
    const std::lock_guard lock(mutex_);
    const auto found = subjects_.find(subject_name);
    if (found == subjects_.end() || found->second.versions.empty()) {
      return reject(grpc::StatusCode::NOT_FOUND, fmt::format("Schema not found for subject: {}", subject_name));
    }
    const subject_record& subject = found->second;
    const auto latest = subject.versions.rbegin();
    fill_schema_(response, subject.id, subject_name, subject, latest->first, latest->second);
    return {};
  }

  // ListVersions (§8.3): ascending, deleted versions omitted.
  [[nodiscard]] status_or<void> list_versions(const std::string& subject_name,
                                              registry_wire::ListVersionsResponse& response) const {
    const std::lock_guard lock(mutex_);
    const auto found = subjects_.find(subject_name);
    if (found == subjects_.end()) {
      return reject(grpc::StatusCode::NOT_FOUND, fmt::format("Subject not found: {}", subject_name));
    }
    for (const auto& [number, version] : found->second.versions) {
      auto& info = *response.add_versions();
      info.set_version(number);
      info.set_created_at(version.created_at);
      info.set_created_by(version.created_by);
      info.set_description(version.description);
      info.set_fingerprint(version.definition->fingerprint());
      info.set_schema_id(found->second.id);
    }
    return {};
  }

  // CheckCompatibility (§8.4): an invalid mode override is ignored.
  [[nodiscard]] status_or<void> check_compatibility(const registry_wire::CheckCompatibilityRequest& request,
                                                    registry_wire::CheckCompatibilityResponse& response) const {
    const auto failed = [](const std::string& why) {
      return reject(grpc::StatusCode::INTERNAL, "Failed to check compatibility: " + why);
    };
    auto parsed = schema_definition::parse(request.schema_type(), request.new_schema_definition());
    if (!parsed) {
      return failed(parsed.error());
    }
    const std::lock_guard lock(mutex_);
    const auto found = subjects_.find(request.subject());
    if (found == subjects_.end()) {
      return failed(metadata_missing_(request.subject()));
    }
    const subject_record& subject = found->second;
    std::optional<compatibility_mode> mode;
    if (request.has_compatibility_mode()) {
      mode = compatibility_mode_from_string(request.compatibility_mode());
    }
    const compatibility_mode effective = mode.value_or(subject.mode);
    std::vector<std::string> errors;
    if (effective != compatibility_mode::none) {
      const stored_version* latest = latest_(subject);
      if (latest == nullptr) {
        return failed("No existing versions found");
      }
      errors = schema_definition::incompatibilities(*latest->definition, **parsed, effective);
    }
    response.set_is_compatible(errors.empty());
    for (auto& e : errors) {
      response.add_errors(std::move(e));
    }
    return {};
  }

  // DeleteSchemaVersion (§8.4): always answers success; the version (if any) is gone for good.
  [[nodiscard]] std::string delete_version(const std::string& subject_name, std::uint32_t version) {
    const std::lock_guard lock(mutex_);
    if (const auto found = subjects_.find(subject_name); found != subjects_.end()) {
      found->second.versions.erase(version);
    }
    return fmt::format("Deleted version {} for subject {}", version, subject_name);
  }

  // SetCompatibilityMode (§8.4).
  [[nodiscard]] status_or<std::string> set_compatibility_mode(const std::string& subject_name,
                                                              std::string_view mode_name) {
    const auto mode = compatibility_mode_from_string(mode_name);
    if (!mode) {
      return reject(grpc::StatusCode::INVALID_ARGUMENT, fmt::format("Invalid compatibility mode: {}", mode_name));
    }
    const std::lock_guard lock(mutex_);
    const auto found = subjects_.find(subject_name);
    if (found == subjects_.end()) {
      return reject(grpc::StatusCode::INTERNAL, "Failed to set compatibility mode: " + metadata_missing_(subject_name));
    }
    found->second.mode = *mode;
    // The request's own spelling, as upstream echoes it ("FULL" stays "FULL").
    return fmt::format("Set compatibility mode to {} for subject {}", mode_name, subject_name);
  }

  // ListSubjects (§8.3). Upstream collects the names in a hash set, so its order is arbitrary;
  // here it is arbitrary too (a hash of each name under a seed drawn when the registry is
  // created), so that no client or test comes to rely on one. Stable while the subjects are.
  void list_subjects(registry_wire::ListSubjectsResponse& response) const {
    const std::lock_guard lock(mutex_);
    std::vector<std::pair<std::uint64_t, const std::pair<const std::string, subject_record>*>> order;
    order.reserve(subjects_.size());
    for (const auto& entry : subjects_) {
      order.emplace_back(seeded_hash_(entry.first), &entry);
    }
    std::ranges::sort(order, {}, [](const auto& item) { return item.first; });
    for (const auto& [hash, entry] : order) {
      const auto& [name, subject] = *entry;
      auto& summary = *response.add_subjects();
      summary.set_subject(name);
      const stored_version* latest = latest_(subject);
      summary.set_schema_type(
          std::string(to_string(latest != nullptr ? latest->definition->type() : subject.last_type)));
      summary.set_latest_version(subject.versions.empty() ? 0 : subject.versions.rbegin()->first);
      summary.set_compatibility_mode(std::string(to_string(subject.mode)));
      summary.set_schema_id(subject.id);
      if (latest != nullptr) {
        for (const auto& tag : latest->tags) {
          summary.add_tags(tag);
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Topics (§8.6, §8.7). `served_here`: the topic is loaded on the broker answering the call.

  // ConfigureTopicSchema: policy, then subject, then topic are checked, in the broker's order.
  [[nodiscard]] status_or<std::string> configure_topic(const std::string& topic_name, const std::string& subject_name,
                                                       std::string_view policy_name, bool payload_validation,
                                                       bool served_here) {
    const auto policy = parse_policy_(policy_name);
    if (!policy) {
      return std::unexpected(policy.error());
    }
    const std::lock_guard lock(mutex_);
    if (!subjects_.contains(subject_name)) {
      return reject(grpc::StatusCode::NOT_FOUND, fmt::format("Schema subject '{}' not found in registry: {}",
                                                             subject_name, metadata_missing_(subject_name)));
    }
    if (!served_here) {
      return reject(grpc::StatusCode::NOT_FOUND, fmt::format("Topic '{}' not found on this broker", topic_name));
    }
    topic_settings& settings = topics_[topic_name];
    settings.subject = subject_name;
    settings.policy = *policy;
    settings.payload_validation = payload_validation;
    return fmt::format("Topic '{}' configured with schema '{}', validation policy '{}', payload validation {}",
                       topic_name, subject_name, debug_name(*policy), payload_validation ? "enabled" : "disabled");
  }

  // UpdateTopicValidationPolicy: the policy is applied before the subject is checked, and stays
  // applied when that check fails (upstream's order).
  [[nodiscard]] status_or<std::string> update_topic_policy(const std::string& topic_name, std::string_view policy_name,
                                                           bool payload_validation, bool served_here) {
    const auto policy = parse_policy_(policy_name);
    if (!policy) {
      return std::unexpected(policy.error());
    }
    if (!served_here) {
      return reject(grpc::StatusCode::NOT_FOUND, fmt::format("Topic '{}' not found on this broker", topic_name));
    }
    const std::lock_guard lock(mutex_);
    topic_settings& settings = topics_[topic_name];
    settings.policy = *policy;
    settings.payload_validation = payload_validation;
    if (!settings.subject) {
      return reject(
          grpc::StatusCode::FAILED_PRECONDITION,
          fmt::format("Topic '{}' has no schema subject configured. Use ConfigureTopicSchema first.", topic_name));
    }
    return fmt::format("Validation policy updated to '{}', payload validation {}", debug_name(*policy),
                       payload_validation ? "enabled" : "disabled");
  }

  // GetTopicSchemaConfig: subject ("" if none), lower-case policy, payload flag, and the subject's
  // schema_id (upstream v0.15.1 answers 0 here; see docs/schema-registry.md).
  [[nodiscard]] status_or<void> topic_config(const std::string& topic_name, bool served_here,
                                             registry_wire::GetTopicSchemaConfigResponse& response) const {
    if (!served_here) {
      return reject(grpc::StatusCode::NOT_FOUND, fmt::format("Topic '{}' not found on this broker", topic_name));
    }
    const std::lock_guard lock(mutex_);
    const topic_settings settings = settings_of_(topic_name);
    response.set_schema_subject(settings.subject.value_or(""));
    response.set_validation_policy(std::string(to_string(settings.policy)));
    response.set_enable_payload_validation(settings.payload_validation);
    if (settings.subject) {
      if (const auto found = subjects_.find(*settings.subject); found != subjects_.end()) {
        response.set_schema_id(found->second.id);
      }
    }
    return {};
  }

  // CreateProducer with a schema reference (§2.2, §8.6): binds a topic without a subject (the
  // subject must be registered); a topic bound to another subject refuses the producer.
  [[nodiscard]] status_or<void> bind_topic(const std::string& topic_name, const std::string& subject_name) {
    const std::lock_guard lock(mutex_);
    topic_settings& settings = topics_[topic_name];
    if (settings.subject) {
      if (*settings.subject != subject_name) {
        return reject(grpc::StatusCode::FAILED_PRECONDITION,
                      fmt::format("Topic '{}' uses schema subject '{}', cannot use '{}'. Only admin can change "
                                  "topic schema.",
                                  topic_name, *settings.subject, subject_name));
      }
      return {};
    }
    if (!subjects_.contains(subject_name)) {
      return reject(grpc::StatusCode::FAILED_PRECONDITION,
                    fmt::format("Failed to assign schema '{0}' to topic '{1}': Schema subject '{0}' not found in "
                                "registry. Please register schema first.. Ensure schema is registered first.",
                                subject_name, topic_name));
    }
    settings.subject = subject_name;
    return {};
  }

  // SendMessage (§8.7): why the topic's policy refuses `message` (the caller prefixes "Unable to
  // publish the message: "), or nothing when it is accepted. Warn logs nothing here: the
  // embedded broker has no log. As upstream, the topic remembers the subject and version of the
  // first accepted message of each schema id, and later messages of that id are checked against
  // that subject and validated against that version, whatever their schema_version says.
  [[nodiscard]] std::expected<void, std::string> validate_message(const std::string& topic_name,
                                                                  const ::danube::StreamMessage& message) {
    const std::lock_guard lock(mutex_);
    const auto configured = topics_.find(topic_name);
    topic_settings* const settings = configured == topics_.end() ? nullptr : &configured->second;
    const validation_policy policy = settings != nullptr ? settings->policy : topic_settings{}.policy;
    const bool enforce = policy == validation_policy::enforce;
    if (policy == validation_policy::none) {
      return {};
    }
    if (settings == nullptr || !settings->subject) {
      if (enforce) {
        return std::unexpected(fmt::format("Topic {} requires schema but none is configured", topic_name));
      }
      return {};
    }
    const std::string& expected = *settings->subject;
    if (!message.has_schema_id()) {
      if (enforce) {
        return std::unexpected(
            fmt::format("Message missing schema_id for topic {} (expected subject: {})", topic_name, expected));
      }
      return {};
    }
    auto seen = settings->seen.find(message.schema_id());
    if (seen == settings->seen.end()) {
      const auto owner = subject_by_id_.find(message.schema_id());
      if (owner == subject_by_id_.end()) {
        return std::unexpected(fmt::format("Schema ID {} not found in registry", message.schema_id()));
      }
      if (owner->second != expected) {
        return subject_mismatch_(enforce, topic_name, message.schema_id(), owner->second, expected);
      }
      seen = settings->seen
                 .emplace(message.schema_id(),
                          seen_schema{owner->second, message.has_schema_version() ? message.schema_version() : 1})
                 .first;
    } else if (seen->second.subject != expected) {
      return subject_mismatch_(enforce, topic_name, message.schema_id(), seen->second.subject, expected);
    }
    if (!settings->payload_validation) {
      return {};
    }
    const seen_schema& schema = seen->second;
    const auto subject = subjects_.find(schema.subject);
    const auto version = subject == subjects_.end() ? std::map<std::uint32_t, stored_version>::const_iterator{}
                                                    : subject->second.versions.find(schema.version);
    if (subject == subjects_.end() || version == subject->second.versions.end()) {
      return std::unexpected(
          fmt::format("Schema version not found: {}/{} - Schema version {} not found for subject: {}", schema.subject,
                      schema.version, schema.version, schema.subject));
    }
    if (auto why = version->second.definition->validate_payload(message.payload())) {
      return std::unexpected("Payload validation failed: " + *why);
    }
    return {};
  }

 private:
  struct stored_version {
    std::shared_ptr<const schema_definition> definition;
    std::uint64_t created_at = 0;  // Unix seconds
    std::string created_by;
    std::string description;
    std::vector<std::string> tags;
  };

  struct subject_record {
    std::uint64_t id = 0;
    compatibility_mode mode = compatibility_mode::backward;
    std::map<std::uint32_t, stored_version> versions;  // deleted ones removed
    std::uint32_t last_version = 0;                    // the highest number ever given out
    schema_type last_type = schema_type::bytes;
  };

  // The subject and version a topic saw first for a schema id (upstream's per-topic cache).
  struct seen_schema {
    std::string subject;
    std::uint32_t version = 1;
  };

  struct topic_settings {
    std::optional<std::string> subject;
    std::map<std::uint64_t, seen_schema> seen;
    validation_policy policy = validation_policy::warn;  // the broker's default
    bool payload_validation = false;
  };

  [[nodiscard]] static const stored_version* latest_(const subject_record& subject) {
    return subject.versions.empty() ? nullptr : &subject.versions.rbegin()->second;
  }

  [[nodiscard]] topic_settings settings_of_(const std::string& topic_name) const {
    const auto found = topics_.find(topic_name);
    return found == topics_.end() ? topic_settings{} : found->second;
  }

  [[nodiscard]] static std::expected<void, std::string> subject_mismatch_(bool enforce, std::string_view topic_name,
                                                                          std::uint64_t schema_id,
                                                                          std::string_view owner,
                                                                          std::string_view expected) {
    if (!enforce) {
      return {};
    }
    return std::unexpected(fmt::format(
        "Schema subject mismatch for topic {}: message schema_id={} belongs to subject '{}', but topic requires '{}'",
        topic_name, schema_id, owner, expected));
  }

  [[nodiscard]] static std::string metadata_missing_(std::string_view subject_name) {
    return fmt::format("Schema metadata not found for subject: {}", subject_name);
  }

  [[nodiscard]] static status_or<validation_policy> parse_policy_(std::string_view name) {
    if (const auto policy = validation_policy_from_string(name)) {
      return *policy;
    }
    return reject(grpc::StatusCode::INVALID_ARGUMENT,
                  fmt::format("Invalid validation policy: '{}'. Must be 'none', 'warn', or 'enforce'", name));
  }

  [[nodiscard]] static std::uint64_t now_() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  }

  static void fill_registration_(registry_wire::RegisterSchemaResponse& response, std::uint64_t id,
                                 std::uint32_t version, bool is_new, const std::string& fingerprint) {
    response.set_schema_id(id);
    response.set_version(version);
    response.set_is_new_version(is_new);
    response.set_fingerprint(fingerprint);
  }

  static void fill_schema_(registry_wire::GetSchemaResponse& response, std::uint64_t schema_id,
                           const std::string& subject_name, const subject_record& subject, std::uint32_t number,
                           const stored_version& version) {
    response.set_schema_id(schema_id);
    response.set_version(number);
    response.set_subject(subject_name);
    response.set_schema_type(std::string(to_string(version.definition->type())));
    response.set_schema_definition(version.definition->envelope());
    response.set_description(version.description);
    response.set_created_at(version.created_at);
    response.set_created_by(version.created_by);
    for (const auto& tag : version.tags) {
      response.add_tags(tag);
    }
    response.set_fingerprint(version.definition->fingerprint());
    response.set_compatibility_mode(std::string(to_string(subject.mode)));
  }

  // The name's FNV-1a mixed with the seed by murmur3's fmix64 finalizer.
  [[nodiscard]] std::uint64_t seeded_hash_(std::string_view name) const noexcept {
    std::uint64_t hash = ::danube::route::fnv1a_64(name) ^ order_seed_;
    hash ^= hash >> 33U;
    hash *= 0xff51afd7ed558ccdULL;
    hash ^= hash >> 33U;
    return hash;
  }

  const std::uint64_t order_seed_ = (std::uint64_t{std::random_device{}()} << 32U) ^ std::random_device{}();
  mutable std::mutex mutex_;
  std::map<std::string, subject_record, std::less<>> subjects_;
  std::map<std::uint64_t, std::string> subject_by_id_;
  std::uint64_t next_schema_id_ = 1;
  std::map<std::string, topic_settings, std::less<>> topics_;
};

}  // namespace danube::testing::detail
