// Conversion between the SchemaRegistry wire messages (package danube_schema) and the public
// schema types, including the unwrapping of the broker's definition envelope
// (docs/protocol.md §8.3).
#pragma once

#include <danube/detail/json_scan.hpp>
#include <danube/detail/proto.hpp>
#include <danube/error.hpp>
#include <danube/schema_types.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace danube::detail {

// The generated registry names: their own protobuf package, so their own namespace.
namespace registry_wire = ::danube_schema;

// Where the schema text lies in a GetSchemaResponse.schema_definition, once unwrapped.
struct definition_span {
  std::size_t offset = 0;
  std::size_t size = 0;
};

// Unwraps the broker's envelope in place. v0.15.1 answers the JSON serialization of its internal
// definition enum rather than the registered bytes:
//   {"JsonSchema":{"raw_schema":"<text>","fingerprint":"…"}}   (also "Avro")
//   {"Protobuf":{"raw_proto":"<text>","message_name":"…","fingerprint":"…"}}
//   "Bytes" | "String" | "Number"                                (no definition)
// The escaped text is decoded over the buffer itself, so the definition is a slice of it: no
// allocation, no copy. Anything that is not such an envelope is taken as the definition itself
// (a broker that answers the registered bytes).
[[nodiscard]] inline definition_span unwrap_definition(std::string& body) {
  const definition_span whole{0, body.size()};
  const std::string_view text(body);
  if (!json::is_valid(text)) {
    return whole;  // checked first: in-place decoding must only run over well-formed text
  }
  std::size_t pos = json::skip_space(text, 0);
  if (text[pos] == '"') {
    std::string tag;
    if (json::decode_string(text, pos, tag) != json::npos && (tag == "Bytes" || tag == "String" || tag == "Number")) {
      return {};
    }
    return whole;
  }
  if (text[pos] != '{') {
    return whole;
  }
  // {"<Kind>": {...}}
  std::string kind;
  pos = json::decode_string(text, json::skip_space(text, pos + 1), kind);
  if (pos == json::npos) {
    return whole;
  }
  pos = json::skip_space(text, json::skip_space(text, pos) + 1);  // past ':'
  if (pos >= text.size() || text[pos] != '{') {
    return whole;
  }
  const std::string_view field = kind == "Protobuf" ? "raw_proto" : "raw_schema";
  pos = json::skip_space(text, pos + 1);
  while (pos < text.size() && text[pos] == '"') {
    std::string key;
    pos = json::decode_string(text, pos, key);
    pos = json::skip_space(text, json::skip_space(text, pos) + 1);  // past ':'
    if (key == field && pos < text.size() && text[pos] == '"') {
      const auto decoded = json::decode_string_in_place(body, pos);
      if (decoded.end == json::npos) {
        return whole;
      }
      return {pos, decoded.text.size()};
    }
    pos = json::skip_space(text, json::skip_value(text, pos));
    if (pos < text.size() && text[pos] == ',') {
      pos = json::skip_space(text, pos + 1);
    }
  }
  return whole;
}

[[nodiscard]] inline std::chrono::system_clock::time_point from_unix_seconds(std::uint64_t seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(static_cast<std::chrono::seconds::rep>(seconds)));
}

[[nodiscard]] inline std::vector<std::string> take_strings(google::protobuf::RepeatedPtrField<std::string>& field) {
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(field.size()));
  for (auto& value : field) {
    out.push_back(std::move(value));
  }
  return out;
}

[[nodiscard]] inline result<schema_type> schema_type_from_wire(std::string_view name) {
  if (const auto type = schema_type_from_string(name)) {
    return *type;
  }
  return unexpected_error(errc::schema, "the broker answered an unknown schema type '" + std::string(name) + "'");
}

// An unknown mode string (a newer broker) reads as the broker's default.
[[nodiscard]] inline compatibility_mode compatibility_from_wire(std::string_view name) {
  return compatibility_mode_from_string(name).value_or(compatibility_mode::backward);
}

}  // namespace danube::detail

namespace danube::detail {

// The one friend of schema_info: fills it from a GetSchemaResponse, moving every string out.
struct schema_info_access {
  [[nodiscard]] static result<schema_info> from_wire(registry_wire::GetSchemaResponse& wire) {
    auto type = schema_type_from_wire(wire.schema_type());
    if (!type) {
      return std::unexpected(std::move(type).error());
    }
    schema_info info;
    info.schema_id = wire.schema_id();
    info.version = wire.version();
    info.subject = std::move(*wire.mutable_subject());
    info.type = *type;
    info.description = std::move(*wire.mutable_description());
    info.created_at = from_unix_seconds(wire.created_at());
    info.created_by = std::move(*wire.mutable_created_by());
    info.tags = take_strings(*wire.mutable_tags());
    info.fingerprint = std::move(*wire.mutable_fingerprint());
    info.compatibility = compatibility_from_wire(wire.compatibility_mode());
    info.storage_ = std::move(*wire.mutable_schema_definition());
    const auto span = unwrap_definition(info.storage_);
    info.definition_offset_ = span.offset;
    info.definition_size_ = span.size;
    return info;
  }
};

[[nodiscard]] inline schema_version_info from_wire(registry_wire::SchemaVersionInfo& wire) {
  return schema_version_info{wire.version(),
                             from_unix_seconds(wire.created_at()),
                             std::move(*wire.mutable_created_by()),
                             std::move(*wire.mutable_description()),
                             std::move(*wire.mutable_fingerprint()),
                             wire.schema_id()};
}

[[nodiscard]] inline result<subject_summary> from_wire(registry_wire::SubjectSummary& wire) {
  auto type = schema_type_from_wire(wire.schema_type());
  if (!type) {
    return std::unexpected(std::move(type).error());
  }
  return subject_summary{std::move(*wire.mutable_subject()),
                         *type,
                         wire.latest_version(),
                         compatibility_from_wire(wire.compatibility_mode()),
                         wire.schema_id(),
                         take_strings(*wire.mutable_tags())};
}

}  // namespace danube::detail
