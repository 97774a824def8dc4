// One registered schema definition in the embedded broker: parsed and checked per type, its
// fingerprint, the broker's GetSchema envelope, compatibility between two definitions and
// payload validation (docs/protocol.md §8.2-§8.4, §8.7).
#pragma once

#include <danube/detail/json_scan.hpp>
#include <danube/schema_types.hpp>
#include <danube/testing/detail/avro_schema.hpp>
#include <danube/testing/detail/json.hpp>
#include <danube/testing/detail/json_schema_compat.hpp>
#include <danube/topic_name.hpp>

#include <array>
#include <cstddef>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <openssl/evp.h>

namespace danube::testing::detail {

// "sha256:<lower-case hex>" of `text` (OpenSSL EVP).
[[nodiscard]] inline std::string sha256_fingerprint(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) {
    return "sha256:";
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(hex[digest[i] >> 4U]);
    out.push_back(hex[digest[i] & 0xFU]);
  }
  return out;
}

// The Debug name of a mode, as the broker's registration error spells it.
[[nodiscard]] constexpr std::string_view debug_name(compatibility_mode mode) noexcept {
  switch (mode) {
    case compatibility_mode::none: return "None";
    case compatibility_mode::backward: return "Backward";
    case compatibility_mode::forward: return "Forward";
    case compatibility_mode::full: return "Full";
  }
  return "Backward";
}

[[nodiscard]] constexpr std::string_view debug_name(validation_policy policy) noexcept {
  switch (policy) {
    case validation_policy::none: return "None";
    case validation_policy::warn: return "Warn";
    case validation_policy::enforce: return "Enforce";
  }
  return "Warn";
}

class schema_definition {
 public:
  // Parses `raw` as a schema of type `type_name` (the broker's names and aliases, any case), or
  // answers the broker's reason ("Unknown schema type: x", "Invalid JSON in schema: ...", ...).
  [[nodiscard]] static std::expected<std::shared_ptr<const schema_definition>, std::string> parse(
      std::string_view type_name, std::string_view raw) {
    const auto type = schema_type_from_string(type_name);
    if (!type) {
      return std::unexpected("Unknown schema type: " + std::string(type_name));
    }
    auto def = std::shared_ptr<schema_definition>(new schema_definition(*type));
    switch (*type) {
      case schema_type::bytes:
      case schema_type::string:
      case schema_type::number: def->fingerprint_ = std::string(to_string(*type)); break;
      case schema_type::json_schema: {
        if (!is_valid_utf8(raw)) {
          return std::unexpected(std::string("Invalid UTF-8 in JSON schema: invalid utf-8 sequence"));
        }
        auto parsed = json::parse(raw);
        if (auto* failure = std::get_if<json::parse_error>(&parsed)) {
          return std::unexpected("Invalid JSON in schema: " + failure->message);
        }
        def->json_ = std::move(std::get<json::value>(parsed));
        if (auto bad = json_schema::check_schema(def->json_)) {
          return std::unexpected("Invalid JSON Schema: " + *bad);
        }
        def->raw_ = std::string(raw);
        def->fingerprint_ = sha256_fingerprint(json::to_string(def->json_));
        break;
      }
      case schema_type::avro: {
        if (!is_valid_utf8(raw)) {
          return std::unexpected(std::string("Invalid UTF-8 in Avro schema: invalid utf-8 sequence"));
        }
        def->avro_ = std::make_shared<avro::schema>();
        if (auto bad = avro::parse(raw, *def->avro_)) {
          return std::unexpected("Invalid Avro schema: " + *bad);
        }
        def->raw_ = std::string(raw);
        def->fingerprint_ = sha256_fingerprint(def->avro_->canonical_form);
        break;
      }
      case schema_type::protobuf: {
        if (!is_valid_utf8(raw)) {
          return std::unexpected(std::string("Invalid UTF-8 in Protobuf schema: invalid utf-8 sequence"));
        }
        def->raw_ = std::string(raw);
        def->fingerprint_ = sha256_fingerprint(raw);
        break;
      }
    }
    return std::shared_ptr<const schema_definition>(std::move(def));
  }

  [[nodiscard]] schema_type type() const noexcept { return type_; }
  [[nodiscard]] const std::string& fingerprint() const noexcept { return fingerprint_; }
  [[nodiscard]] const std::string& raw() const noexcept { return raw_; }

  // GetSchemaResponse.schema_definition: the JSON serialization of the broker's definition enum.
  [[nodiscard]] std::string envelope() const {
    namespace scan = ::danube::detail::json;
    std::string out;
    switch (type_) {
      case schema_type::bytes: return R"("Bytes")";
      case schema_type::string: return R"("String")";
      case schema_type::number: return R"("Number")";
      case schema_type::json_schema:
      case schema_type::avro:
        out = type_ == schema_type::avro ? R"({"Avro":{"raw_schema":)" : R"({"JsonSchema":{"raw_schema":)";
        scan::append_quoted(out, raw_);
        break;
      case schema_type::protobuf:
        out = R"({"Protobuf":{"raw_proto":)";
        scan::append_quoted(out, raw_);
        out += R"(,"message_name":"DefaultMessage")";
        break;
    }
    out += R"(,"fingerprint":)";
    scan::append_quoted(out, fingerprint_);
    out += "}}";
    return out;
  }

  // Why `next` cannot follow `latest` in `mode` (empty: it can). The first failing direction's
  // errors for full, as upstream.
  [[nodiscard]] static std::vector<std::string> incompatibilities(const schema_definition& latest,
                                                                  const schema_definition& next,
                                                                  compatibility_mode mode) {
    if (mode == compatibility_mode::none) {
      return {};
    }
    if (latest.type_ != next.type_) {
      return {"Schema types must match (cannot change from Avro to JSON, etc.)"};
    }
    const bool backward = mode == compatibility_mode::backward || mode == compatibility_mode::full;
    const bool forward = mode == compatibility_mode::forward || mode == compatibility_mode::full;
    if (latest.type_ == schema_type::json_schema) {
      if (backward) {
        if (auto errors = json_schema::backward_errors(latest.json_, next.json_); !errors.empty()) {
          return errors;
        }
      }
      return forward ? json_schema::forward_errors(latest.json_, next.json_) : std::vector<std::string>{};
    }
    if (latest.type_ == schema_type::avro) {
      if (backward) {
        if (auto why = avro::incompatibility(*next.avro_, *latest.avro_)) {
          return {"Backward incompatible: " + *why};
        }
      }
      if (forward) {
        if (auto why = avro::incompatibility(*latest.avro_, *next.avro_)) {
          return {"Forward incompatible: " + *why};
        }
      }
    }
    return {};  // bytes, string, number and (as upstream) protobuf are always compatible
  }

  // Payload validation (enable_payload_validation): the reason a payload does not fit.
  [[nodiscard]] std::optional<std::string> validate_payload(std::string_view payload) const {
    switch (type_) {
      case schema_type::bytes:
      case schema_type::protobuf: return std::nullopt;
      case schema_type::string:
        if (!is_valid_utf8(payload)) {
          return std::string("Invalid UTF-8 string: invalid utf-8 sequence");
        }
        return std::nullopt;
      case schema_type::number:
        if (payload.size() != 4 && payload.size() != 8) {
          return "Invalid number: expected 4 or 8 bytes, got " + std::to_string(payload.size());
        }
        return std::nullopt;
      case schema_type::json_schema: {
        auto parsed = json::parse(payload);
        if (auto* failure = std::get_if<json::parse_error>(&parsed)) {
          return "Invalid JSON data: " + failure->message;
        }
        const auto errors = json_schema::validate(std::get<json::value>(parsed), json_);
        if (errors.empty()) {
          return std::nullopt;
        }
        std::string joined;
        for (const auto& e : errors) {
          joined += (joined.empty() ? "" : ", ") + e;
        }
        return "JSON Schema validation failed: " + joined;
      }
      case schema_type::avro:
        // Upstream reads an Avro object container file; its header is checked here.
        if (payload.size() < 4 || payload.substr(0, 4) != std::string_view("Obj\x01", 4)) {
          return std::string("Avro validation failed: not an Avro object container file");
        }
        return std::nullopt;
    }
    return std::nullopt;
  }

 private:
  explicit schema_definition(schema_type type) : type_(type) {}

  schema_type type_;
  std::string raw_;
  std::string fingerprint_;
  json::value json_;                    // JSON Schema documents
  std::shared_ptr<avro::schema> avro_;  // Avro schemas
};

}  // namespace danube::testing::detail
