// Reads the `exp` claim of a JWT (RFC 7519) without checking its signature: the client only needs
// to know when to fetch a fresh token; the broker is the one that verifies it.
#pragma once

#include <danube/error.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace danube::detail {

// base64url without padding (RFC 4648 §5), as JWT segments are encoded. Padding is tolerated.
[[nodiscard]] inline std::optional<std::string> base64url_decode(std::string_view in) {
  while (!in.empty() && in.back() == '=') {
    in.remove_suffix(1);
  }
  if (in.size() % 4 == 1) {
    return std::nullopt;
  }
  const auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : in) {
    const int v = value(c);
    if (v < 0) {
      return std::nullopt;
    }
    buffer = (buffer << 6U) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> static_cast<unsigned>(bits)) & 0xFFU));
    }
  }
  return out;
}

namespace jwt_detail {

// A minimal JSON reader: enough to walk one object and skip any value. Depth-limited, so hostile
// input cannot exhaust the stack.
class json_cursor {
 public:
  explicit json_cursor(std::string_view text) : text_(text) {}

  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  [[nodiscard]] bool consume(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  [[nodiscard]] bool at_end() {
    skip_space();
    return pos_ == text_.size();
  }

  // A string's raw content (escapes left as they are: claim names never need them).
  [[nodiscard]] std::optional<std::string_view> string() {
    if (!consume('"')) {
      return std::nullopt;
    }
    const auto start = pos_;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      pos_ += text_[pos_] == '\\' ? 2U : 1U;
    }
    if (pos_ >= text_.size()) {
      return std::nullopt;
    }
    return text_.substr(start, pos_++ - start);
  }

  [[nodiscard]] std::optional<std::string_view> number() {
    skip_space();
    const auto start = pos_;
    while (pos_ < text_.size() && (std::string_view("+-0123456789.eE").find(text_[pos_]) != std::string_view::npos)) {
      ++pos_;
    }
    if (pos_ == start) {
      return std::nullopt;
    }
    return text_.substr(start, pos_ - start);
  }

  [[nodiscard]] bool skip_value(int depth = 0) {
    if (depth > 32) {
      return false;
    }
    skip_space();
    if (pos_ >= text_.size()) {
      return false;
    }
    const char c = text_[pos_];
    if (c == '"') {
      return string().has_value();
    }
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++pos_;
      if (consume(close)) {
        return true;
      }
      do {
        if (c == '{' && (!string() || !consume(':'))) {
          return false;
        }
        if (!skip_value(depth + 1)) {
          return false;
        }
      } while (consume(','));
      return consume(close);
    }
    for (const std::string_view word : {"true", "false", "null"}) {
      if (text_.substr(pos_).starts_with(word)) {
        pos_ += word.size();
        return true;
      }
    }
    return number().has_value();
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace jwt_detail

// When the token expires, from its `exp` claim (seconds since the Unix epoch); std::nullopt when
// the payload has no `exp`. Errors (errc::unauthenticated) name what is wrong but never echo the
// token itself.
[[nodiscard]] inline result<std::optional<std::chrono::system_clock::time_point>> jwt_expiry_claim(
    std::string_view token) {
  const auto fail = [](std::string_view why) {
    return unexpected_error(errc::unauthenticated, "unusable token: " + std::string(why));
  };
  const auto first = token.find('.');
  const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return fail("not a JWT (expected three dot-separated parts)");
  }
  const auto payload = base64url_decode(token.substr(first + 1, second - first - 1));
  if (!payload) {
    return fail("the JWT payload is not base64url");
  }
  jwt_detail::json_cursor json(*payload);
  if (!json.consume('{')) {
    return fail("the JWT payload is not a JSON object");
  }
  std::optional<std::int64_t> exp;
  if (!json.consume('}')) {
    do {
      const auto name = json.string();
      if (!name || !json.consume(':')) {
        return fail("the JWT payload is not a JSON object");
      }
      if (*name == "exp") {
        const auto number = json.number();
        if (!number) {
          return fail("the exp claim is not a number");
        }
        double seconds = 0;
        const auto [end, ec] = std::from_chars(number->data(), number->data() + number->size(), seconds);
        if (ec != std::errc{} || end != number->data() + number->size() || seconds < 0 || seconds > 1e12) {
          return fail("the exp claim is not a valid time");
        }
        // The clock holds nanoseconds up to the year 2262: a later exp (valid for the broker) is
        // clamped there (never due for a refresh) rather than overflowing the conversion.
        constexpr auto latest =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::duration::max()).count();
        exp = std::min(static_cast<std::int64_t>(seconds), static_cast<std::int64_t>(latest));
      } else if (!json.skip_value()) {
        return fail("the JWT payload is not a JSON object");
      }
    } while (json.consume(','));
    if (!json.consume('}')) {
      return fail("the JWT payload is not a JSON object");
    }
  }
  if (!json.at_end()) {
    return fail("the JWT payload is not a JSON object");
  }
  if (!exp) {
    return std::optional<std::chrono::system_clock::time_point>();
  }
  return std::chrono::system_clock::time_point(std::chrono::seconds(*exp));
}

// The same, for a token that must have an `exp`: its absence is an error too.
[[nodiscard]] inline result<std::chrono::system_clock::time_point> jwt_expiry(std::string_view token) {
  auto claim = jwt_expiry_claim(token);
  if (!claim) {
    return std::unexpected(std::move(claim).error());
  }
  if (!*claim) {
    return unexpected_error(errc::unauthenticated, "unusable token: the JWT has no exp claim");
  }
  return **claim;
}

}  // namespace danube::detail
