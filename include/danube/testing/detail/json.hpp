// A minimal JSON document model for the embedded broker's schema registry: parse (depth limited,
// strict grammar), look up, and serialize compactly with object keys sorted, as serde_json's
// default map re-serializes a document (the registry fingerprints that form). Numbers keep their
// source text. No third-party library.
#pragma once

#include <danube/detail/json_scan.hpp>

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace danube::testing::detail::json {

namespace scan = ::danube::detail::json;

class value;
using array = std::vector<value>;
using object = std::map<std::string, value, std::less<>>;  // duplicate keys: the last one wins

struct number {
  std::string text;  // as written
  friend bool operator==(const number&, const number&) = default;
};

class value {
 public:
  value() = default;
  explicit value(bool b) : data_(b) {}
  explicit value(number n) : data_(std::move(n)) {}
  explicit value(std::string s) : data_(std::move(s)) {}
  explicit value(array a) : data_(std::move(a)) {}
  explicit value(object o) : data_(std::move(o)) {}

  [[nodiscard]] bool is_null() const noexcept { return std::holds_alternative<std::monostate>(data_); }
  [[nodiscard]] const bool* as_bool() const noexcept { return std::get_if<bool>(&data_); }
  [[nodiscard]] const number* as_number() const noexcept { return std::get_if<number>(&data_); }
  [[nodiscard]] const std::string* as_string() const noexcept { return std::get_if<std::string>(&data_); }
  [[nodiscard]] const array* as_array() const noexcept { return std::get_if<array>(&data_); }
  [[nodiscard]] const object* as_object() const noexcept { return std::get_if<object>(&data_); }

  // The member `key` of an object; nullptr for a missing key or a non-object.
  [[nodiscard]] const value* find(std::string_view key) const noexcept {
    const object* members = as_object();
    if (members == nullptr) {
      return nullptr;
    }
    const auto found = members->find(key);
    return found == members->end() ? nullptr : &found->second;
  }

  // The member `key` if it is a string.
  [[nodiscard]] const std::string* find_string(std::string_view key) const noexcept {
    const value* member = find(key);
    return member == nullptr ? nullptr : member->as_string();
  }

  // JSON equality; numbers compare by their text.
  friend bool operator==(const value& a, const value& b) { return a.data_ == b.data_; }

 private:
  std::variant<std::monostate, bool, number, std::string, array, object> data_;
};

// Parses exactly one JSON value (whitespace around it allowed). The error names what is wrong
// and where, in the spirit of serde_json's messages.
struct parse_error {
  std::string message;
};

namespace parse_detail {

class parser {
 public:
  explicit parser(std::string_view text) : text_(text) {}

  [[nodiscard]] std::optional<value> document() {
    auto parsed = value_(0);
    if (!parsed) {
      return std::nullopt;
    }
    pos_ = scan::skip_space(text_, pos_);
    if (pos_ != text_.size()) {
      return fail_("trailing characters");
    }
    return parsed;
  }

  [[nodiscard]] const std::string& error() const noexcept { return error_; }

 private:
  std::nullopt_t fail_(std::string_view what) {
    if (error_.empty()) {
      error_ = std::string(what) + " at byte " + std::to_string(pos_);
    }
    return std::nullopt;
  }

  std::optional<value> value_(int depth) {
    if (depth >= scan::max_depth) {
      return fail_("recursion limit exceeded");
    }
    pos_ = scan::skip_space(text_, pos_);
    if (pos_ >= text_.size()) {
      return fail_("EOF while parsing a value");
    }
    const char c = text_[pos_];
    const auto literal = [&](std::string_view word, value v) -> std::optional<value> {
      if (text_.substr(pos_, word.size()) != word) {
        return fail_("expected value");
      }
      pos_ += word.size();
      return v;
    };
    switch (c) {
      case 'n': return literal("null", value());
      case 't': return literal("true", value(true));
      case 'f': return literal("false", value(false));
      case '"': {
        auto s = string_();
        if (!s) {
          return std::nullopt;
        }
        return value(std::move(*s));
      }
      case '[': {
        ++pos_;
        array items;
        pos_ = scan::skip_space(text_, pos_);
        if (pos_ < text_.size() && text_[pos_] == ']') {
          ++pos_;
          return value(std::move(items));
        }
        for (;;) {
          auto item = value_(depth + 1);
          if (!item) {
            return std::nullopt;
          }
          items.push_back(std::move(*item));
          if (!separator_(']')) {
            return std::nullopt;
          }
          if (done_) {
            done_ = false;
            return value(std::move(items));
          }
        }
      }
      case '{': {
        ++pos_;
        object members;
        pos_ = scan::skip_space(text_, pos_);
        if (pos_ < text_.size() && text_[pos_] == '}') {
          ++pos_;
          return value(std::move(members));
        }
        for (;;) {
          pos_ = scan::skip_space(text_, pos_);
          if (pos_ >= text_.size() || text_[pos_] != '"') {
            return fail_("key must be a string");
          }
          auto key = string_();
          if (!key) {
            return std::nullopt;
          }
          pos_ = scan::skip_space(text_, pos_);
          if (pos_ >= text_.size() || text_[pos_] != ':') {
            return fail_("expected `:`");
          }
          ++pos_;
          auto member = value_(depth + 1);
          if (!member) {
            return std::nullopt;
          }
          members.insert_or_assign(std::move(*key), std::move(*member));
          if (!separator_('}')) {
            return std::nullopt;
          }
          if (done_) {
            done_ = false;
            return value(std::move(members));
          }
        }
      }
      default: {
        const std::size_t end = scan::skip_number(text_, pos_);
        if (end == scan::npos) {
          return fail_("expected value");
        }
        number n{std::string(text_.substr(pos_, end - pos_))};
        pos_ = end;
        return value(std::move(n));
      }
    }
  }

  std::optional<std::string> string_() {
    std::string out;
    const std::size_t end = scan::decode_string(text_, pos_, out);
    if (end == scan::npos) {
      fail_("invalid string");
      return std::nullopt;
    }
    pos_ = end;
    return out;
  }

  // After an element: ',' continues, `close` ends (done_), anything else is an error.
  bool separator_(char close) {
    pos_ = scan::skip_space(text_, pos_);
    if (pos_ < text_.size() && text_[pos_] == ',') {
      ++pos_;
      return true;
    }
    if (pos_ < text_.size() && text_[pos_] == close) {
      ++pos_;
      done_ = true;
      return true;
    }
    fail_(close == ']' ? "expected `,` or `]`" : "expected `,` or `}`");
    return false;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  bool done_ = false;
  std::string error_;
};

}  // namespace parse_detail

// The document, or why it is not one.
[[nodiscard]] inline std::variant<value, parse_error> parse(std::string_view text) {
  parse_detail::parser p(text);
  auto parsed = p.document();
  if (!parsed) {
    return parse_error{p.error()};
  }
  return std::move(*parsed);
}

// Compact serialization, object keys in byte order.
inline void write(std::string& out, const value& v) {
  if (v.is_null()) {
    out += "null";
  } else if (const bool* b = v.as_bool()) {
    out += *b ? "true" : "false";
  } else if (const number* n = v.as_number()) {
    out += n->text;
  } else if (const std::string* s = v.as_string()) {
    scan::append_quoted(out, *s);
  } else if (const array* a = v.as_array()) {
    out.push_back('[');
    bool first = true;
    for (const auto& item : *a) {
      if (!first) {
        out.push_back(',');
      }
      first = false;
      write(out, item);
    }
    out.push_back(']');
  } else if (const object* o = v.as_object()) {
    out.push_back('{');
    bool first = true;
    for (const auto& [key, member] : *o) {
      if (!first) {
        out.push_back(',');
      }
      first = false;
      scan::append_quoted(out, key);
      out.push_back(':');
      write(out, member);
    }
    out.push_back('}');
  }
}

[[nodiscard]] inline std::string to_string(const value& v) {
  std::string out;
  write(out, v);
  return out;
}

}  // namespace danube::testing::detail::json
