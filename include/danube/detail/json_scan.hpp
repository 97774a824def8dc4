// A small JSON scanner for the client: checks that text is one well-formed JSON value (depth
// limited), decodes strings (also in place, with no allocation) and escapes text the way the
// broker's serde_json does. No DOM: the client never needs one. Used by json_text, by the schema
// registry (unwrapping the broker's definition envelope) and by the embedded broker's parser.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace danube::detail::json {

// Nesting deeper than this is refused: recursion stays bounded whatever the input.
inline constexpr int max_depth = 64;

inline constexpr std::size_t npos = std::string_view::npos;

[[nodiscard]] constexpr bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

[[nodiscard]] constexpr std::size_t skip_space(std::string_view text, std::size_t pos) noexcept {
  while (pos < text.size() && is_space(text[pos])) {
    ++pos;
  }
  return pos;
}

[[nodiscard]] constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Appends the UTF-8 form of `code_point` (at most U+10FFFF, not a surrogate) through `put`.
template <class Put>
constexpr void put_utf8(char32_t code_point, Put&& put) {
  const auto byte = [](std::uint32_t value) { return static_cast<char>(static_cast<unsigned char>(value)); };
  const auto cp = static_cast<std::uint32_t>(code_point);
  if (cp < 0x80) {
    put(byte(cp));
  } else if (cp < 0x800) {
    put(byte(0xC0 | (cp >> 6)));
    put(byte(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    put(byte(0xE0 | (cp >> 12)));
    put(byte(0x80 | ((cp >> 6) & 0x3F)));
    put(byte(0x80 | (cp & 0x3F)));
  } else {
    put(byte(0xF0 | (cp >> 18)));
    put(byte(0x80 | ((cp >> 12) & 0x3F)));
    put(byte(0x80 | ((cp >> 6) & 0x3F)));
    put(byte(0x80 | (cp & 0x3F)));
  }
}

namespace scan_detail {

// Reads the 4 hex digits at text[pos..pos+4): the value, or -1.
[[nodiscard]] constexpr long hex4(std::string_view text, std::size_t pos) noexcept {
  if (pos + 4 > text.size()) {
    return -1;
  }
  long value = 0;
  for (std::size_t i = pos; i < pos + 4; ++i) {
    const int digit = hex_value(text[i]);
    if (digit < 0) {
      return -1;
    }
    value = value * 16 + digit;
  }
  return value;
}

// Decodes the string whose opening quote is text[pos], handing each decoded byte to `put`.
// Returns the position after the closing quote, or npos if the string is malformed. Never
// writes more bytes than it has read, so `put` may write into the buffer `text` views, behind
// the read position (in-place decoding).
template <class Put>
[[nodiscard]] constexpr std::size_t decode(std::string_view text, std::size_t pos, Put&& put) {
  if (pos >= text.size() || text[pos] != '"') {
    return npos;
  }
  ++pos;
  while (pos < text.size()) {
    const char c = text[pos];
    if (c == '"') {
      return pos + 1;
    }
    if (static_cast<unsigned char>(c) < 0x20) {
      return npos;  // control characters must be escaped
    }
    if (c != '\\') {
      put(c);
      ++pos;
      continue;
    }
    if (pos + 1 >= text.size()) {
      return npos;
    }
    const char e = text[pos + 1];
    pos += 2;
    switch (e) {
      case '"': put('"'); break;
      case '\\': put('\\'); break;
      case '/': put('/'); break;
      case 'b': put('\b'); break;
      case 'f': put('\f'); break;
      case 'n': put('\n'); break;
      case 'r': put('\r'); break;
      case 't': put('\t'); break;
      case 'u': {
        const long high = hex4(text, pos);
        if (high < 0) {
          return npos;
        }
        pos += 4;
        auto cp = static_cast<char32_t>(high);
        if (high >= 0xD800 && high <= 0xDBFF) {
          // A high surrogate must be followed by an escaped low surrogate.
          if (pos + 6 > text.size() || text[pos] != '\\' || text[pos + 1] != 'u') {
            return npos;
          }
          const long low = hex4(text, pos + 2);
          if (low < 0xDC00 || low > 0xDFFF) {
            return npos;
          }
          pos += 6;
          cp = static_cast<char32_t>(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00));
        } else if (high >= 0xDC00 && high <= 0xDFFF) {
          return npos;  // a lone low surrogate
        }
        put_utf8(cp, put);
        break;
      }
      default: return npos;
    }
  }
  return npos;
}

}  // namespace scan_detail

// Decodes the JSON string starting at text[pos] (its opening quote) and appends it to `out`.
// Returns the position after the closing quote, or npos if it is not a well-formed string.
[[nodiscard]] inline std::size_t decode_string(std::string_view text, std::size_t pos, std::string& out) {
  return scan_detail::decode(text, pos, [&](char c) { out.push_back(c); });
}

// The decoded text of the JSON string at buffer[pos], written over the buffer itself: the
// result is a view of `buffer` (starting at `pos`), and `end` receives the position after the
// closing quote. On a malformed string returns std::nullopt-like empty view with end == npos.
struct in_place_string {
  std::string_view text;
  std::size_t end = npos;
};
[[nodiscard]] inline in_place_string decode_string_in_place(std::string& buffer, std::size_t pos) {
  std::size_t write = pos;
  const std::string_view view(buffer);
  const std::size_t end = scan_detail::decode(view, pos, [&](char c) { buffer[write++] = c; });
  if (end == npos) {
    return {};
  }
  return {std::string_view(buffer).substr(pos, write - pos), end};
}

// The position after the number at text[pos], or npos (JSON grammar: -?int frac? exp?).
[[nodiscard]] constexpr std::size_t skip_number(std::string_view text, std::size_t pos) noexcept {
  const auto digit = [&](std::size_t i) { return i < text.size() && text[i] >= '0' && text[i] <= '9'; };
  if (pos < text.size() && text[pos] == '-') {
    ++pos;
  }
  if (!digit(pos)) {
    return npos;
  }
  if (text[pos] == '0') {
    ++pos;
  } else {
    while (digit(pos)) {
      ++pos;
    }
  }
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    if (!digit(pos)) {
      return npos;
    }
    while (digit(pos)) {
      ++pos;
    }
  }
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
      ++pos;
    }
    if (!digit(pos)) {
      return npos;
    }
    while (digit(pos)) {
      ++pos;
    }
  }
  return pos;
}

// The position after the JSON value starting at text[pos] (leading whitespace skipped), or npos
// when it is malformed or nested deeper than max_depth.
[[nodiscard]] inline std::size_t skip_value(std::string_view text, std::size_t pos, int depth = 0) {
  if (depth >= max_depth) {
    return npos;
  }
  pos = skip_space(text, pos);
  if (pos >= text.size()) {
    return npos;
  }
  const auto literal = [&](std::string_view word) {
    return text.substr(pos, word.size()) == word ? pos + word.size() : npos;
  };
  switch (text[pos]) {
    case '"': return scan_detail::decode(text, pos, [](char /*unused*/) {});
    case 't': return literal("true");
    case 'f': return literal("false");
    case 'n': return literal("null");
    case '[':
    case '{': {
      const bool object = text[pos] == '{';
      const char close = object ? '}' : ']';
      pos = skip_space(text, pos + 1);
      if (pos < text.size() && text[pos] == close) {
        return pos + 1;
      }
      for (;;) {
        if (object) {
          pos = skip_space(text, pos);
          pos = scan_detail::decode(text, pos, [](char /*unused*/) {});
          if (pos == npos) {
            return npos;
          }
          pos = skip_space(text, pos);
          if (pos >= text.size() || text[pos] != ':') {
            return npos;
          }
          ++pos;
        }
        pos = skip_value(text, pos, depth + 1);
        if (pos == npos) {
          return npos;
        }
        pos = skip_space(text, pos);
        if (pos >= text.size()) {
          return npos;
        }
        if (text[pos] == close) {
          return pos + 1;
        }
        if (text[pos] != ',') {
          return npos;
        }
        ++pos;
      }
    }
    default: return skip_number(text, pos);
  }
}

// Whether `text` is exactly one JSON value, with optional whitespace around it.
[[nodiscard]] inline bool is_valid(std::string_view text) {
  const std::size_t end = skip_value(text, 0);
  return end != npos && skip_space(text, end) == text.size();
}

// Appends `text` as a JSON string, quotes included, escaped as serde_json does: '"', '\\' and
// control characters only (\b \f \n \r \t, else \u00XX); everything else, non-ASCII included,
// is copied as is.
inline void append_quoted(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out.push_back(hex[(static_cast<unsigned char>(c) >> 4) & 0xF]);
          out.push_back(hex[static_cast<unsigned char>(c) & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

}  // namespace danube::detail::json
