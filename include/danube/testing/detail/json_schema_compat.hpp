// JSON Schema for the embedded broker's registry: whether a document is an acceptable schema,
// the broker's compatibility rules between two versions (docs/protocol.md
// §8.4, with its error texts), and payload validation against a schema (a practical subset of
// the JSON Schema vocabulary; see docs/schema-registry.md).
#pragma once

#include <danube/testing/detail/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace danube::testing::detail::json_schema {

using json::value;

// Whether `schema` can be compiled as a JSON Schema: a boolean or an object whose core keywords
// have the right shapes. The reason when it cannot.
[[nodiscard]] inline std::optional<std::string> check_schema(const value& schema, int depth = 0) {
  static constexpr std::string_view type_names[] = {"null",   "boolean", "object", "array",
                                                    "number", "string",  "integer"};
  const auto known_type = [](const value& v) {
    const std::string* name = v.as_string();
    return name != nullptr && std::find(std::begin(type_names), std::end(type_names), *name) != std::end(type_names);
  };
  if (depth > 32) {
    return std::string("schema nested too deeply");
  }
  if (schema.as_bool() != nullptr) {
    return std::nullopt;
  }
  if (schema.as_object() == nullptr) {
    return std::string("a schema must be an object or a boolean");
  }
  if (const value* type = schema.find("type")) {
    if (const json::array* many = type->as_array()) {
      if (!std::all_of(many->begin(), many->end(), known_type)) {
        return std::string("\"type\" lists an unknown type");
      }
    } else if (!known_type(*type)) {
      return std::string("\"type\" is not a valid type name");
    }
  }
  if (const value* required = schema.find("required")) {
    const json::array* names = required->as_array();
    if (names == nullptr ||
        !std::all_of(names->begin(), names->end(), [](const value& v) { return v.as_string() != nullptr; })) {
      return std::string("\"required\" must be an array of strings");
    }
  }
  if (const value* properties = schema.find("properties")) {
    const json::object* members = properties->as_object();
    if (members == nullptr) {
      return std::string("\"properties\" must be an object");
    }
    for (const auto& [name, sub] : *members) {
      if (auto bad = check_schema(sub, depth + 1)) {
        return "property '" + name + "': " + *bad;
      }
    }
  }
  if (const value* items = schema.find("items")) {
    if (auto bad = check_schema(*items, depth + 1)) {
      return "items: " + *bad;
    }
  }
  return std::nullopt;
}

namespace compat_detail {

[[nodiscard]] inline std::vector<std::string> required_of(const value& schema) {
  std::vector<std::string> names;
  if (const value* required = schema.find("required")) {
    if (const json::array* list = required->as_array()) {
      for (const auto& item : *list) {
        if (const std::string* name = item.as_string()) {
          names.push_back(*name);
        }
      }
    }
  }
  return names;
}

[[nodiscard]] inline const json::object* properties_of(const value& schema) {
  const value* properties = schema.find("properties");
  return properties == nullptr ? nullptr : properties->as_object();
}

[[nodiscard]] inline bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Both properties declare "type" and they differ.
[[nodiscard]] inline bool type_changed(const value& before, const value& after) {
  const value* old_type = before.find("type");
  const value* new_type = after.find("type");
  return old_type != nullptr && new_type != nullptr && !(*old_type == *new_type);
}

// Fields present in both property maps whose type changed, in the old map's (sorted) order.
inline void changed_types(const json::object* old_props, const json::object* new_props, std::string_view direction,
                          std::vector<std::string>& errors) {
  if (old_props == nullptr || new_props == nullptr) {
    return;
  }
  for (const auto& [name, old_prop] : *old_props) {
    if (const auto found = new_props->find(name); found != new_props->end() && type_changed(old_prop, found->second)) {
      errors.push_back(std::string(direction) + " incompatible: changed type of field '" + name + "'");
    }
  }
}

}  // namespace compat_detail

// New schema reads old data: no old required field disappears, no old optional field becomes
// required, no field changes type.
[[nodiscard]] inline std::vector<std::string> backward_errors(const value& old_schema, const value& new_schema) {
  using namespace compat_detail;
  std::vector<std::string> errors;
  const auto* old_props = properties_of(old_schema);
  const auto* new_props = properties_of(new_schema);
  const auto old_required = required_of(old_schema);
  const auto new_required = required_of(new_schema);
  for (const auto& field : old_required) {
    if (new_props == nullptr || !new_props->contains(field)) {
      errors.push_back("Backward incompatible: removed required field '" + field + "'");
    }
  }
  for (const auto& field : new_required) {
    if (old_props != nullptr && old_props->contains(field) && !contains(old_required, field)) {
      errors.push_back("Backward incompatible: made optional field '" + field + "' required");
    }
  }
  changed_types(old_props, new_props, "Backward", errors);
  return errors;
}

// Old schema reads new data: no new required field, no field changes type.
[[nodiscard]] inline std::vector<std::string> forward_errors(const value& old_schema, const value& new_schema) {
  using namespace compat_detail;
  std::vector<std::string> errors;
  const auto* old_props = properties_of(old_schema);
  const auto* new_props = properties_of(new_schema);
  for (const auto& field : required_of(new_schema)) {
    if (old_props == nullptr || !old_props->contains(field)) {
      errors.push_back("Forward incompatible: added new required field '" + field + "'");
    }
  }
  changed_types(old_props, new_props, "Forward", errors);
  return errors;
}

// ------------------------------------------------------------------------------------------------
// Payload validation

namespace validate_detail {

[[nodiscard]] inline std::optional<double> to_double(const json::number& n) {
  double out = 0;
  const auto* first = n.text.data();
  const auto* last = n.text.data() + n.text.size();
  const auto [end, ec] = std::from_chars(first, last, out);
  if (ec != std::errc() || end != last) {
    return std::nullopt;
  }
  return out;
}

[[nodiscard]] inline bool is_integer(const json::number& n) {
  const auto d = to_double(n);
  return d && *d == static_cast<double>(static_cast<long long>(*d));
}

[[nodiscard]] inline bool has_type(const value& v, std::string_view type) {
  if (type == "null") {
    return v.is_null();
  }
  if (type == "boolean") {
    return v.as_bool() != nullptr;
  }
  if (type == "object") {
    return v.as_object() != nullptr;
  }
  if (type == "array") {
    return v.as_array() != nullptr;
  }
  if (type == "string") {
    return v.as_string() != nullptr;
  }
  if (type == "number") {
    return v.as_number() != nullptr;
  }
  if (type == "integer") {
    return v.as_number() != nullptr && is_integer(*v.as_number());
  }
  return false;
}

[[nodiscard]] inline std::size_t code_points(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

[[nodiscard]] inline std::optional<double> number_keyword(const value& schema, std::string_view key) {
  const value* v = schema.find(key);
  return v != nullptr && v->as_number() != nullptr ? to_double(*v->as_number()) : std::nullopt;
}

// Appends what is wrong with `instance` under `schema`, in the style of the jsonschema crate.
inline void check(const value& instance, const value& schema, std::vector<std::string>& errors, int depth) {
  if (depth > 32) {
    return;
  }
  if (const bool* b = schema.as_bool()) {
    if (!*b) {
      errors.push_back("False schema does not allow " + json::to_string(instance));
    }
    return;
  }
  if (const value* type = schema.find("type")) {
    bool ok = false;
    if (const std::string* name = type->as_string()) {
      ok = has_type(instance, *name);
    } else if (const json::array* names = type->as_array()) {
      ok = std::any_of(names->begin(), names->end(),
                       [&](const value& n) { return n.as_string() != nullptr && has_type(instance, *n.as_string()); });
    }
    if (!ok) {
      errors.push_back(json::to_string(instance) + " is not of type " + json::to_string(*type));
      return;
    }
  }
  if (const value* allowed = schema.find("enum")) {
    if (const json::array* options = allowed->as_array();
        options != nullptr && std::find(options->begin(), options->end(), instance) == options->end()) {
      errors.push_back(json::to_string(instance) + " is not one of " + json::to_string(*allowed));
    }
  }
  if (const value* constant = schema.find("const"); constant != nullptr && !(*constant == instance)) {
    errors.push_back(json::to_string(*constant) + " was expected");
  }
  if (const json::number* n = instance.as_number()) {
    const auto x = to_double(*n);
    if (const auto min = number_keyword(schema, "minimum"); x && min && *x < *min) {
      errors.push_back(n->text + " is less than the minimum of " + schema.find("minimum")->as_number()->text);
    }
    if (const auto max = number_keyword(schema, "maximum"); x && max && *x > *max) {
      errors.push_back(n->text + " is greater than the maximum of " + schema.find("maximum")->as_number()->text);
    }
  }
  if (const std::string* s = instance.as_string()) {
    if (const auto min = number_keyword(schema, "minLength"); min && static_cast<double>(code_points(*s)) < *min) {
      errors.push_back(json::to_string(instance) + " is shorter than " + schema.find("minLength")->as_number()->text +
                       " characters");
    }
    if (const auto max = number_keyword(schema, "maxLength"); max && static_cast<double>(code_points(*s)) > *max) {
      errors.push_back(json::to_string(instance) + " is longer than " + schema.find("maxLength")->as_number()->text +
                       " characters");
    }
  }
  if (const json::array* items = instance.as_array()) {
    if (const value* item_schema = schema.find("items"); item_schema != nullptr && item_schema->as_array() == nullptr) {
      for (const auto& item : *items) {
        check(item, *item_schema, errors, depth + 1);
      }
    }
  }
  if (const json::object* members = instance.as_object()) {
    for (const auto& name : compat_detail::required_of(schema)) {
      if (!members->contains(name)) {
        errors.push_back("\"" + name + "\" is a required property");
      }
    }
    const json::object* properties = compat_detail::properties_of(schema);
    const value* additional = schema.find("additionalProperties");
    for (const auto& [name, member] : *members) {
      if (properties != nullptr) {
        if (const auto sub = properties->find(name); sub != properties->end()) {
          check(member, sub->second, errors, depth + 1);
          continue;
        }
      }
      if (additional != nullptr) {
        if (const bool* allowed = additional->as_bool(); allowed != nullptr && !*allowed) {
          errors.push_back("Additional properties are not allowed ('" + name + "' was unexpected)");
        } else if (additional->as_object() != nullptr) {
          check(member, *additional, errors, depth + 1);
        }
      }
    }
  }
}

}  // namespace validate_detail

// What is wrong with `instance` under `schema` (empty: valid). Supports type, enum, const,
// minimum, maximum, minLength, maxLength, items, required, properties and additionalProperties.
[[nodiscard]] inline std::vector<std::string> validate(const value& instance, const value& schema) {
  std::vector<std::string> errors;
  validate_detail::check(instance, schema, errors, 0);
  return errors;
}

}  // namespace danube::testing::detail::json_schema
