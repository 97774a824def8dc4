// Strict parsing of broker URLs ("http://host:port", "https://host:port"). Every URL the client
// dials -- the service URL and each connect_url a lookup hands back -- goes through here.
#pragma once

#include <danube/error.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace danube::detail {

struct service_url {
  bool tls = false;
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 0;

  // "host:port".
  [[nodiscard]] std::string authority() const {
    const bool ipv6 = host.find(':') != std::string::npos;
    return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }
  // The gRPC target, with its resolver named: gRPC reads a bare "name:port" as "scheme:path" when
  // `name` is one of its resolvers (unix, unix-abstract, vsock, ...), and would dial that instead.
  [[nodiscard]] std::string grpc_target() const { return "dns:///" + authority(); }
  [[nodiscard]] std::string to_string() const { return (tls ? "https://" : "http://") + authority(); }
};

namespace url_detail {
constexpr bool is_host_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}
constexpr bool is_ipv6_char(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}
constexpr bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}
}  // namespace url_detail

// Accepts exactly scheme "://" host [":" port] ["/"]. The port defaults to 80 / 443; anything
// else (user info, paths, queries, other schemes, spaces) is an error naming the URL, and so are
// the hosts `unix` and `unix-abstract`, which gRPC takes for a local socket.
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
  if (rest.empty() || rest.front() == '/' || rest.front() == '?') {
    return fail("missing host");
  }
  // gRPC sends every call to /<package.Service>/<Method> on the host itself: a path (an ingress
  // that routes by path prefix) cannot be honoured, so it is refused rather than ignored.
  const auto host_end = rest.front() == '[' ? rest.find(']') : 0;
  if (const auto path = rest.find_first_of("/?", host_end == std::string_view::npos ? 0 : host_end);
      path != std::string_view::npos) {
    return fail("a path or query ('" + std::string(rest.substr(path)) +
                "') is not supported: gRPC calls go to /<service>/<method> on the host itself; point the client "
                "at the broker, or at a proxy that routes by host");
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
    if (url_detail::equals_ignoring_case(host, "unix") || url_detail::equals_ignoring_case(host, "unix-abstract")) {
      return fail("'" + std::string(host) + "' is what gRPC calls a local socket, not a host name");
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
