// What `danube-cpp-cli consume` prints: the JSON line of --json, its string escaping and base64.
// Pure functions of plain fields, unit-tested in tests/unit/test_cli_output.cpp.
#pragma once

#include <danube/message.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace danube_cli {

namespace detail {

// Length of the well-formed UTF-8 sequence at text[i] (1-4), or 0 when it is malformed
// (overlong forms, surrogates and code points above U+10FFFF included).
[[nodiscard]] inline std::size_t utf8_sequence_length(std::string_view text, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const auto continuation = [&](std::size_t k) { return k < text.size() && (byte(k) & 0xC0U) == 0x80U; };
  const unsigned lead = byte(i);
  if (lead < 0x80U) {
    return 1;
  }
  if (lead >= 0xC2U && lead <= 0xDFU) {
    return continuation(i + 1) ? 2 : 0;
  }
  if (lead >= 0xE0U && lead <= 0xEFU) {
    if (!continuation(i + 1) || !continuation(i + 2)) {
      return 0;
    }
    const unsigned second = byte(i + 1);
    if ((lead == 0xE0U && second < 0xA0U) || (lead == 0xEDU && second >= 0xA0U)) {
      return 0;  // overlong, or a UTF-16 surrogate
    }
    return 3;
  }
  if (lead >= 0xF0U && lead <= 0xF4U) {
    if (!continuation(i + 1) || !continuation(i + 2) || !continuation(i + 3)) {
      return 0;
    }
    const unsigned second = byte(i + 1);
    if ((lead == 0xF0U && second < 0x90U) || (lead == 0xF4U && second >= 0x90U)) {
      return 0;  // overlong, or above U+10FFFF
    }
    return 4;
  }
  return 0;
}

}  // namespace detail

[[nodiscard]] inline bool is_utf8(std::string_view text) noexcept {
  for (std::size_t i = 0; i < text.size();) {
    const auto n = detail::utf8_sequence_length(text, i);
    if (n == 0) {
      return false;
    }
    i += n;
  }
  return true;
}

// Appends `text` as a JSON string literal (RFC 8259): quotes, backslash and control characters
// escaped, other UTF-8 kept as is, malformed bytes replaced by U+FFFD so the line stays valid JSON.
inline void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20U) {
          out += "\\u00";
          out += hex[c >> 4U];
          out += hex[c & 0xFU];
        } else if (c < 0x80U) {
          out += static_cast<char>(c);
        } else if (const auto n = detail::utf8_sequence_length(text, i); n > 0) {
          out += text.substr(i, n);
          i += n;
          continue;
        } else {
          out += "\\ufffd";
        }
    }
    ++i;
  }
  out += '"';
}

[[nodiscard]] inline std::string json_string(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

// Standard base64 (RFC 4648 §4) with padding.
[[nodiscard]] inline std::string base64(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto at = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (at(i) << 16U) | (at(i + 1) << 8U) | at(i + 2);
    out += alphabet[(v >> 18U) & 0x3FU];
    out += alphabet[(v >> 12U) & 0x3FU];
    out += alphabet[(v >> 6U) & 0x3FU];
    out += alphabet[v & 0x3FU];
  }
  if (const auto rest = bytes.size() - i; rest > 0) {
    const std::uint32_t v = (at(i) << 16U) | (rest == 2 ? at(i + 1) << 8U : 0U);
    out += alphabet[(v >> 18U) & 0x3FU];
    out += alphabet[(v >> 12U) & 0x3FU];
    out += rest == 2 ? alphabet[(v >> 6U) & 0x3FU] : '=';
    out += '=';
  }
  return out;
}

// The fields of one received message, as --json prints them.
struct message_fields {
  std::string_view payload;
  std::string_view topic;
  std::uint64_t offset = 0;
  std::string_view producer;
  std::optional<std::string_view> key;
  const danube::attributes* attributes = nullptr;
  std::int64_t publish_time_ms = 0;  // milliseconds since the Unix epoch, as the producer stamped it
  std::optional<std::uint64_t> schema_id;
  std::optional<std::uint32_t> schema_version;
};

// One JSON object, no trailing newline, keys in this order:
//   {"payload":"...","payload_encoding":"utf8"|"base64","topic":"...","offset":N,"producer":"...",
//    "key":"..."|null,"attributes":{...},"publish_time":MS,"schema_id":N|null,"schema_version":N|null}
[[nodiscard]] inline std::string json_line(const message_fields& m) {
  std::string out = "{\"payload\":";
  if (is_utf8(m.payload)) {
    append_json_string(out, m.payload);
    out += R"(,"payload_encoding":"utf8")";
  } else {
    append_json_string(out, base64(m.payload));
    out += R"(,"payload_encoding":"base64")";
  }
  out += ",\"topic\":";
  append_json_string(out, m.topic);
  out += ",\"offset\":" + std::to_string(m.offset);
  out += ",\"producer\":";
  append_json_string(out, m.producer);
  out += ",\"key\":";
  if (m.key) {
    append_json_string(out, *m.key);
  } else {
    out += "null";
  }
  out += ",\"attributes\":{";
  if (m.attributes != nullptr) {
    bool first = true;
    for (const auto& [name, value] : *m.attributes) {
      if (!first) {
        out += ',';
      }
      first = false;
      append_json_string(out, name);
      out += ':';
      append_json_string(out, value);
    }
  }
  out += "},\"publish_time\":" + std::to_string(m.publish_time_ms);
  out += ",\"schema_id\":" + (m.schema_id ? std::to_string(*m.schema_id) : std::string("null"));
  out += ",\"schema_version\":" + (m.schema_version ? std::to_string(*m.schema_version) : std::string("null"));
  out += '}';
  return out;
}

// The fields of a received message.
[[nodiscard]] inline message_fields fields_of(const danube::message& m) {
  return message_fields{
      .payload = m.payload_string(),
      .topic = m.topic(),
      .offset = m.offset(),
      .producer = m.producer_name(),
      .key = m.routing_key(),
      .attributes = &m.attributes(),
      .publish_time_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(m.publish_time().time_since_epoch()).count(),
      .schema_id = m.schema_id(),
      .schema_version = m.schema_version(),
  };
}

}  // namespace danube_cli
