// Strict parsing of broker URLs ("http://host:port", "https://host:port"). Every URL the client
// dials -- the service URL and each connect_url a lookup hands back -- goes through here.
#pragma once

#include <danube/error.hpp>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace danube::detail {

struct service_url {
  bool tls = false;
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 0;

  // "host:port", the gRPC target.
  [[nodiscard]] std::string authority() const {
    const bool ipv6 = host.find(':') != std::string::npos;
    return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }
  [[nodiscard]] std::string to_string() const { return (tls ? "https://" : "http://") + authority(); }
};

namespace url_detail {
constexpr bool is_host_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}
constexpr bool is_ipv6_char(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}
}  // namespace url_detail

// Accepts exactly scheme "://" host [":" port] ["/"]. The port defaults to 80 / 443; anything
// else (user info, paths, queries, other schemes, spaces) is an error naming the URL.
[[nodiscard]] inline result<service_url> parse_service_url(std::string_view text) {
  const auto fail = [&](std::string_view why) {
    return unexpected_error(errc::invalid_argument,
                            "invalid service URL '" + std::string(text) + "': " + std::string(why));
  };
  service_url out;
  std::string_view rest;
  if (text.starts_with("http://")) {
    rest = text.substr(7);
  } else if (text.starts_with("https://")) {
    out.tls = true;
    rest = text.substr(8);
  } else {
    return fail("expected http://host:port or https://host:port");
  }
  if (rest.ends_with('/')) {
    rest.remove_suffix(1);
  }
  if (rest.empty()) {
    return fail("missing host");
  }
  std::string_view port_text;
  if (rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close == 1) {
      return fail("malformed IPv6 address");
    }
    const auto host = rest.substr(1, close - 1);
    for (const char c : host) {
      if (!url_detail::is_ipv6_char(c)) {
        return fail("malformed IPv6 address");
      }
    }
    out.host = std::string(host);
    rest.remove_prefix(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return fail("unexpected text after the host");
      }
      port_text = rest.substr(1);
      if (port_text.empty()) {
        return fail("empty port");
      }
    }
  } else {
    const auto colon = rest.find(':');
    const auto host = rest.substr(0, colon);
    if (host.empty()) {
      return fail("missing host");
    }
    for (const char c : host) {
      if (!url_detail::is_host_char(c)) {
        return fail("unexpected character in the host");
      }
    }
    out.host = std::string(host);
    if (colon != std::string_view::npos) {
      port_text = rest.substr(colon + 1);
      if (port_text.empty()) {
        return fail("empty port");
      }
    }
  }
  if (port_text.empty()) {
    out.port = out.tls ? 443 : 80;
    return out;
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 || value > 65535) {
    return fail("the port must be a number from 1 to 65535");
  }
  out.port = static_cast<std::uint16_t>(value);
  return out;
}

}  // namespace danube::detail
