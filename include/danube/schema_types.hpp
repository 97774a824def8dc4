// The vocabulary of the schema registry: schema types, compatibility modes, validation policies,
// and what the registry answers. See docs/schema-registry.md.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace danube {

namespace detail {
struct schema_info_access;
}  // namespace detail

// What a subject's schemas describe. The broker names them in lower case on the wire.
enum class schema_type : std::uint8_t { bytes, string, number, avro, json_schema, protobuf };

// How a new version of a subject must relate to the latest one.
enum class compatibility_mode : std::uint8_t {
  none,      // anything goes, even another schema type
  backward,  // the new schema reads data written with the old one (the broker's default)
  forward,   // the old schema reads data written with the new one
  full,      // both
};

// What a topic's broker does with a message whose schema does not match the topic's subject.
enum class validation_policy : std::uint8_t {
  none,     // no checks
  warn,     // logs and accepts (the broker's default); an unknown schema id is still refused
  enforce,  // refuses: the producer gets errc::permission_denied with the broker's reason
};

namespace schema_detail {
[[nodiscard]] constexpr char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
[[nodiscard]] constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}
}  // namespace schema_detail

// The broker's canonical (wire) names.
[[nodiscard]] constexpr std::string_view to_string(schema_type type) noexcept {
  switch (type) {
    case schema_type::bytes: return "bytes";
    case schema_type::string: return "string";
    case schema_type::number: return "number";
    case schema_type::avro: return "avro";
    case schema_type::json_schema: return "json_schema";
    case schema_type::protobuf: return "protobuf";
  }
  return "bytes";
}

[[nodiscard]] constexpr std::string_view to_string(compatibility_mode mode) noexcept {
  switch (mode) {
    case compatibility_mode::none: return "none";
    case compatibility_mode::backward: return "backward";
    case compatibility_mode::forward: return "forward";
    case compatibility_mode::full: return "full";
  }
  return "backward";
}

[[nodiscard]] constexpr std::string_view to_string(validation_policy policy) noexcept {
  switch (policy) {
    case validation_policy::none: return "none";
    case validation_policy::warn: return "warn";
    case validation_policy::enforce: return "enforce";
  }
  return "warn";
}

// Parses a schema type as the broker does: case-insensitive, with its aliases (int64, int, float,
// double for number; json for json_schema; proto for protobuf). std::nullopt if unknown.
[[nodiscard]] constexpr std::optional<schema_type> schema_type_from_string(std::string_view name) noexcept {
  using schema_detail::iequals;
  if (iequals(name, "bytes")) {
    return schema_type::bytes;
  }
  if (iequals(name, "string")) {
    return schema_type::string;
  }
  if (iequals(name, "number") || iequals(name, "int64") || iequals(name, "int") || iequals(name, "float") ||
      iequals(name, "double")) {
    return schema_type::number;
  }
  if (iequals(name, "avro")) {
    return schema_type::avro;
  }
  if (iequals(name, "json_schema") || iequals(name, "json")) {
    return schema_type::json_schema;
  }
  if (iequals(name, "protobuf") || iequals(name, "proto")) {
    return schema_type::protobuf;
  }
  return std::nullopt;
}

// Case-insensitive, as the broker parses modes and policies.
[[nodiscard]] constexpr std::optional<compatibility_mode> compatibility_mode_from_string(
    std::string_view name) noexcept {
  for (const auto mode : {compatibility_mode::none, compatibility_mode::backward, compatibility_mode::forward,
                          compatibility_mode::full}) {
    if (schema_detail::iequals(name, to_string(mode))) {
      return mode;
    }
  }
  return std::nullopt;
}

[[nodiscard]] constexpr std::optional<validation_policy> validation_policy_from_string(std::string_view name) noexcept {
  for (const auto policy : {validation_policy::none, validation_policy::warn, validation_policy::enforce}) {
    if (schema_detail::iequals(name, to_string(policy))) {
      return policy;
    }
  }
  return std::nullopt;
}

// The outcome of register_schema(): registering content a subject already has is not an error,
// it answers that version with is_new_version == false.
struct schema_registration {
  std::uint64_t schema_id = 0;  // one per subject, shared by all its versions
  std::uint32_t version = 0;    // 1, 2, 3, ... per subject
  bool is_new_version = false;
  std::string fingerprint;  // "sha256:<hex>" (or the type name for bytes, string, number)
};

// One version of a subject, as GetSchema / GetLatestSchema answer it. Owns the definition (the
// broker's answer, unwrapped in place) and hands out views of it: no copy beyond the one the
// broker's answer arrives in.
class schema_info {
 public:
  schema_info() = default;

  std::uint64_t schema_id = 0;
  std::uint32_t version = 0;
  std::string subject;
  schema_type type = schema_type::bytes;
  std::string description;
  std::chrono::system_clock::time_point created_at{};  // whole seconds
  std::string created_by;
  std::vector<std::string> tags;
  std::string fingerprint;
  compatibility_mode compatibility = compatibility_mode::backward;  // the subject's current mode

  // The schema text as registered (the broker's JSON envelope removed); empty for bytes, string
  // and number, which have no definition. Valid while this schema_info lives.
  [[nodiscard]] std::string_view definition() const noexcept {
    return std::string_view(storage_).substr(definition_offset_, definition_size_);
  }
  [[nodiscard]] std::span<const std::byte> definition_bytes() const noexcept {
    const auto text = definition();
    return std::as_bytes(std::span(text.data(), text.size()));
  }
  // Moves the definition out of this schema_info (no allocation: the bytes are shifted to the
  // front of the buffer they were decoded in); definition() is empty afterwards.
  [[nodiscard]] std::string take_definition() noexcept {
    storage_.erase(0, definition_offset_);
    storage_.resize(definition_size_);
    definition_offset_ = 0;
    definition_size_ = 0;
    return std::move(storage_);
  }

  friend bool operator==(const schema_info& a, const schema_info& b) {
    return a.schema_id == b.schema_id && a.version == b.version && a.subject == b.subject && a.type == b.type &&
           a.description == b.description && a.created_at == b.created_at && a.created_by == b.created_by &&
           a.tags == b.tags && a.fingerprint == b.fingerprint && a.compatibility == b.compatibility &&
           a.definition() == b.definition();
  }

 private:
  friend struct detail::schema_info_access;

  std::string storage_;
  std::size_t definition_offset_ = 0;
  std::size_t definition_size_ = 0;
};

// One entry of versions(subject): every field of the broker's SchemaVersionInfo.
struct schema_version_info {
  std::uint32_t version = 0;
  std::chrono::system_clock::time_point created_at{};
  std::string created_by;
  std::string description;
  std::string fingerprint;
  std::uint64_t schema_id = 0;
};

struct compatibility_result {
  bool compatible = false;
  std::vector<std::string> errors;  // the broker's reasons when not compatible
};

// One entry of list_subjects().
struct subject_summary {
  std::string subject;
  schema_type type = schema_type::bytes;  // of the latest version
  std::uint32_t latest_version = 0;
  compatibility_mode compatibility = compatibility_mode::backward;
  std::uint64_t schema_id = 0;
  std::vector<std::string> tags;
};

// A topic's schema settings (topic_schema_config()).
struct topic_schema_settings {
  std::string subject;  // empty when the topic has none
  validation_policy policy = validation_policy::warn;
  bool payload_validation = false;
  std::uint64_t schema_id = 0;  // the subject's id as the broker reports it (v0.15.1 reports 0)
};

// Which schema a producer publishes with: a registered subject and which of its versions.
// Only the subject reaches the broker (it binds the topic to it); the version is resolved by the
// client at create() and stamped on every message.
struct schema_reference {
  std::string subject;
  std::optional<std::uint32_t> pinned_version;  // exactly this version (it must exist)
  std::optional<std::uint32_t> min_version;     // the latest version, which must be at least this
  // Neither set: the latest version at create().

  friend bool operator==(const schema_reference&, const schema_reference&) = default;
};

// The schema a producer resolved at create(): stamped on every message it sends.
struct resolved_schema {
  std::uint64_t schema_id = 0;
  std::uint32_t version = 0;

  friend bool operator==(const resolved_schema&, const resolved_schema&) = default;
};

}  // namespace danube
