// Avro schemas for the embedded broker's registry, without an Avro library: the schema must be
// well-formed Avro (JSON with valid primitive, record, enum, array, map, fixed and union
// declarations, named references resolved), its fingerprint input is its Parsing Canonical Form,
// and compatibility follows Avro's schema-resolution rules (reader vs writer). A practical
// subset of apache-avro's behaviour; docs/schema-registry.md lists the differences.
#pragma once

#include <danube/testing/detail/json.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace danube::testing::detail::avro {

using json::value;

namespace avro_detail {

inline constexpr std::string_view primitives[] = {"null",  "boolean", "int",   "long",
                                                  "float", "double",  "bytes", "string"};

[[nodiscard]] inline bool is_primitive(std::string_view name) {
  return std::find(std::begin(primitives), std::end(primitives), name) != std::end(primitives);
}

[[nodiscard]] inline std::string full_name(const value& node, std::string_view enclosing) {
  const std::string* name = node.find_string("name");
  if (name == nullptr) {
    return {};
  }
  if (name->find('.') != std::string::npos) {
    return *name;
  }
  const std::string* ns = node.find_string("namespace");
  const std::string space = ns != nullptr ? *ns : std::string(enclosing);
  return space.empty() ? *name : space + "." + *name;
}

[[nodiscard]] inline std::string namespace_of(const std::string& full) {
  const auto dot = full.rfind('.');
  return dot == std::string::npos ? std::string() : full.substr(0, dot);
}

// A schema with its named types indexed by full name.
struct named_types {
  std::map<std::string, const value*, std::less<>> by_name;
};

// Checks `node`, registering the named types it declares; the reason when it is not valid Avro.
inline std::optional<std::string> walk(const value& node, const std::string& enclosing, named_types& names, int depth) {
  if (depth > 32) {
    return std::string("schema nested too deeply");
  }
  if (const std::string* reference = node.as_string()) {
    if (is_primitive(*reference)) {
      return std::nullopt;
    }
    const std::string full =
        reference->find('.') == std::string::npos && !enclosing.empty() ? enclosing + "." + *reference : *reference;
    if (names.by_name.contains(full) || names.by_name.contains(*reference)) {
      return std::nullopt;
    }
    return "Unknown type: " + *reference;
  }
  if (const json::array* branches = node.as_array()) {
    for (const auto& branch : *branches) {
      if (branch.as_array() != nullptr) {
        return std::string("Unions may not directly contain a union");
      }
      if (auto bad = walk(branch, enclosing, names, depth + 1)) {
        return bad;
      }
    }
    return std::nullopt;
  }
  if (node.as_object() == nullptr) {
    return std::string("A schema must be a JSON string, object or array");
  }
  const std::string* type = node.find_string("type");
  if (type == nullptr) {
    if (const value* nested = node.find("type")) {
      return walk(*nested, enclosing, names, depth + 1);  // {"type": {...}} or {"type": [...]}
    }
    return std::string("No `type` field in the schema");
  }
  if (is_primitive(*type)) {
    return std::nullopt;  // logical types ride on a primitive
  }
  if (*type == "record" || *type == "error" || *type == "enum" || *type == "fixed") {
    const std::string full = full_name(node, enclosing);
    if (full.empty()) {
      return "A " + *type + " needs a `name`";
    }
    if (!names.by_name.emplace(full, &node).second) {
      return "The name " + full + " is defined twice";
    }
    if (*type == "enum") {
      const value* symbols = node.find("symbols");
      const json::array* list = symbols == nullptr ? nullptr : symbols->as_array();
      if (list == nullptr || !std::all_of(list->begin(), list->end(), [](const value& s) { return s.as_string(); })) {
        return "The enum " + full + " needs `symbols`, an array of strings";
      }
      return std::nullopt;
    }
    if (*type == "fixed") {
      const value* size = node.find("size");
      if (size == nullptr || size->as_number() == nullptr) {
        return "The fixed " + full + " needs a `size`";
      }
      return std::nullopt;
    }
    const value* fields = node.find("fields");
    const json::array* list = fields == nullptr ? nullptr : fields->as_array();
    if (list == nullptr) {
      return "The record " + full + " needs `fields`, an array";
    }
    for (const auto& field : *list) {
      const value* field_type = field.find("type");
      if (field.find_string("name") == nullptr || field_type == nullptr) {
        return "Each field of the record " + full + " needs a `name` and a `type`";
      }
      if (auto bad = walk(*field_type, namespace_of(full), names, depth + 1)) {
        return bad;
      }
    }
    return std::nullopt;
  }
  if (*type == "array") {
    const value* items = node.find("items");
    if (items == nullptr) {
      return std::string("An array needs `items`");
    }
    return walk(*items, enclosing, names, depth + 1);
  }
  if (*type == "map") {
    const value* values = node.find("values");
    if (values == nullptr) {
      return std::string("A map needs `values`");
    }
    return walk(*values, enclosing, names, depth + 1);
  }
  return walk(value(*type), enclosing, names, depth + 1);  // a named reference written as {"type": "Name"}
}

// Parsing Canonical Form: full names, only the attributes that matter, in a fixed order.
inline void canonical(std::string& out, const value& node, const std::string& enclosing,
                      std::set<std::string, std::less<>>& written) {
  namespace scan = ::danube::detail::json;
  if (const std::string* reference = node.as_string()) {
    if (is_primitive(*reference) || reference->find('.') != std::string::npos || enclosing.empty()) {
      scan::append_quoted(out, *reference);
    } else {
      scan::append_quoted(out, enclosing + "." + *reference);
    }
    return;
  }
  if (const json::array* branches = node.as_array()) {
    out.push_back('[');
    for (std::size_t i = 0; i < branches->size(); ++i) {
      if (i != 0) {
        out.push_back(',');
      }
      canonical(out, (*branches)[i], enclosing, written);
    }
    out.push_back(']');
    return;
  }
  const std::string* type = node.find_string("type");
  if (type == nullptr) {
    if (const value* nested = node.find("type")) {
      canonical(out, *nested, enclosing, written);
    }
    return;
  }
  if (is_primitive(*type)) {
    scan::append_quoted(out, *type);
    return;
  }
  if (*type == "array" || *type == "map") {
    const bool array = *type == "array";
    out += array ? R"({"type":"array","items":)" : R"({"type":"map","values":)";
    canonical(out, *node.find(array ? "items" : "values"), enclosing, written);
    out.push_back('}');
    return;
  }
  if (*type != "record" && *type != "error" && *type != "enum" && *type != "fixed") {
    canonical(out, value(*type), enclosing, written);
    return;
  }
  const std::string full = full_name(node, enclosing);
  if (!written.insert(full).second) {
    scan::append_quoted(out, full);  // a later use of a named type is its name
    return;
  }
  out += R"({"name":)";
  scan::append_quoted(out, full);
  out += R"(,"type":)";
  scan::append_quoted(out, *type == "error" ? std::string("record") : *type);
  if (*type == "enum") {
    out += R"(,"symbols":)";
    json::write(out, *node.find("symbols"));
  } else if (*type == "fixed") {
    out += R"(,"size":)";
    json::write(out, *node.find("size"));
  } else {
    out += R"(,"fields":[)";
    const auto& fields = *node.find("fields")->as_array();
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i != 0) {
        out.push_back(',');
      }
      out += R"({"name":)";
      scan::append_quoted(out, *fields[i].find_string("name"));
      out += R"(,"type":)";
      canonical(out, *fields[i].find("type"), namespace_of(full), written);
      out.push_back('}');
    }
    out.push_back(']');
  }
  out.push_back('}');
}

// Schema resolution: can data written with `writer` be read with `reader`?
class resolver {
 public:
  resolver(const named_types& readers, const named_types& writers) : readers_(readers), writers_(writers) {}

  // Why not, or std::nullopt when it can.
  std::optional<std::string> can_read(const value& reader, const value& writer, int depth = 0) {
    if (depth > 32) {
      return std::nullopt;
    }
    const value& r = resolve_(reader, readers_);
    const value& w = resolve_(writer, writers_);
    if (const json::array* branches = w.as_array()) {
      for (const auto& branch : *branches) {
        if (auto bad = can_read(r, branch, depth + 1)) {
          return bad;
        }
      }
      return std::nullopt;
    }
    if (const json::array* branches = r.as_array()) {
      for (const auto& branch : *branches) {
        if (!can_read(branch, w, depth + 1)) {
          return std::nullopt;
        }
      }
      return "no branch of the reader's union can read the writer's " + kind_(w);
    }
    const std::string rk = kind_(r);
    const std::string wk = kind_(w);
    if (rk != wk && !promotable_(wk, rk)) {
      return "the reader's " + rk + " cannot read the writer's " + wk;
    }
    if (rk == "record") {
      const auto key = std::pair(full_name(r, {}), full_name(w, {}));
      if (!visiting_.insert(key).second) {
        return std::nullopt;  // recursive type, already being compared
      }
      const auto& writer_fields = *w.find("fields")->as_array();
      for (const auto& field : *r.find("fields")->as_array()) {
        const std::string& name = *field.find_string("name");
        const auto match = std::find_if(writer_fields.begin(), writer_fields.end(),
                                        [&](const value& f) { return *f.find_string("name") == name; });
        if (match == writer_fields.end()) {
          if (field.find("default") == nullptr) {
            return "field '" + name + "' is missing from the writer's schema and has no default";
          }
          continue;
        }
        if (auto bad = can_read(*field.find("type"), *match->find("type"), depth + 1)) {
          return "field '" + name + "': " + *bad;
        }
      }
      return std::nullopt;
    }
    if (rk == "enum") {
      if (r.find("default") != nullptr) {
        return std::nullopt;
      }
      const auto& symbols = *r.find("symbols")->as_array();
      for (const auto& symbol : *w.find("symbols")->as_array()) {
        if (std::find(symbols.begin(), symbols.end(), symbol) == symbols.end()) {
          return "the reader's enum lacks the symbol " + json::to_string(symbol);
        }
      }
      return std::nullopt;
    }
    if (rk == "fixed") {
      if (!(*r.find("size") == *w.find("size"))) {
        return std::string("the fixed sizes differ");
      }
      return std::nullopt;
    }
    if (rk == "array") {
      return can_read(*r.find("items"), *w.find("items"), depth + 1);
    }
    if (rk == "map") {
      return can_read(*r.find("values"), *w.find("values"), depth + 1);
    }
    return std::nullopt;
  }

 private:
  // A named reference (or {"type": <nested>}) replaced by what it names.
  [[nodiscard]] static const value& resolve_(const value& node, const named_types& names) {
    const value* current = &node;
    for (int hops = 0; hops < 8; ++hops) {
      if (const std::string* name = current->as_string(); name != nullptr && !is_primitive(*name)) {
        const auto found = std::find_if(names.by_name.begin(), names.by_name.end(), [&](const auto& entry) {
          return entry.first == *name || entry.first.ends_with("." + *name);
        });
        if (found == names.by_name.end()) {
          return *current;
        }
        current = found->second;
        continue;
      }
      if (current->as_object() != nullptr && current->find_string("type") == nullptr && current->find("type")) {
        current = current->find("type");
        continue;
      }
      return *current;
    }
    return *current;
  }

  [[nodiscard]] static std::string kind_(const value& node) {
    if (const std::string* name = node.as_string()) {
      return *name;
    }
    if (const std::string* type = node.find_string("type")) {
      return *type == "error" ? std::string("record") : *type;
    }
    return "union";
  }

  // Avro's promotions: int → long, float, double; long → float, double; float → double;
  // string ↔ bytes.
  [[nodiscard]] static bool promotable_(const std::string& from, const std::string& to) {
    return (from == "int" && (to == "long" || to == "float" || to == "double")) ||
           (from == "long" && (to == "float" || to == "double")) || (from == "float" && to == "double") ||
           (from == "string" && to == "bytes") || (from == "bytes" && to == "string");
  }

  const named_types& readers_;
  const named_types& writers_;
  std::set<std::pair<std::string, std::string>> visiting_;
};

}  // namespace avro_detail

// A parsed Avro schema: the document, its named types and its canonical form.
struct schema {
  value document;
  avro_detail::named_types names;
  std::string canonical_form;

  schema() = default;
  schema(const schema&) = delete;  // names points into document
  schema& operator=(const schema&) = delete;
  schema(schema&&) = delete;
  schema& operator=(schema&&) = delete;
};

// Fills `out` from `text`; the reason when it is not valid Avro.
[[nodiscard]] inline std::optional<std::string> parse(std::string_view text, schema& out) {
  auto parsed = json::parse(text);
  if (auto* failure = std::get_if<json::parse_error>(&parsed)) {
    return "Failed to parse schema from JSON: " + failure->message;
  }
  out.document = std::move(std::get<value>(parsed));
  if (auto bad = avro_detail::walk(out.document, {}, out.names, 0)) {
    return bad;
  }
  std::set<std::string, std::less<>> written;
  out.canonical_form.clear();
  avro_detail::canonical(out.canonical_form, out.document, {}, written);
  return std::nullopt;
}

// Why data written with `writer` cannot be read with `reader` (std::nullopt: it can).
[[nodiscard]] inline std::optional<std::string> incompatibility(const schema& reader, const schema& writer) {
  avro_detail::resolver r(reader.names, writer.names);
  return r.can_read(reader.document, writer.document);
}

}  // namespace danube::testing::detail::avro
