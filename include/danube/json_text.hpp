// danube::json_text: a payload that is JSON text. Holds the text as given (no DOM, no JSON
// library); parse() checks that it is one well-formed JSON value.
#pragma once

#include <danube/detail/json_scan.hpp>
#include <danube/error.hpp>

#include <string>
#include <string_view>
#include <utility>

namespace danube {

class json_text {
 public:
  json_text() : text_("null") {}
  // Takes the text unchecked (json_serializer checks it when encoding, unless told not to).
  explicit json_text(std::string text) noexcept : text_(std::move(text)) {}

  // The text if it is one well-formed JSON value (depth at most 64), else errc::schema.
  [[nodiscard]] static result<json_text> parse(std::string text) {
    if (!is_valid(text)) {
      return unexpected_error(errc::schema, "the payload is not well-formed JSON");
    }
    return json_text(std::move(text));
  }

  [[nodiscard]] static bool is_valid(std::string_view text) { return detail::json::is_valid(text); }

  // `text` as a JSON string literal: quoted, with '"', '\\' and control characters escaped. For
  // writing JSON text by hand.
  [[nodiscard]] static std::string quote(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    detail::json::append_quoted(out, text);
    return out;
  }

  [[nodiscard]] std::string_view text() const noexcept { return text_; }
  [[nodiscard]] const std::string& str() const noexcept { return text_; }
  // Moves the text out.
  [[nodiscard]] std::string take() && noexcept { return std::move(text_); }

  friend bool operator==(const json_text&, const json_text&) = default;

 private:
  std::string text_;
};

}  // namespace danube
