// The HOST:PORT the embedded broker listens on, and the URL it advertises for it.
#pragma once

#include <danube/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace danube::testing::detail {

struct listen_address {
  std::string host;  // as given: a name, an IPv4 address or a bracketed IPv6 address
  std::uint16_t port = 0;

  // The form a real broker advertises for its bind address: http://HOST:PORT, or
  // https://HOST:PORT when it serves TLS.
  [[nodiscard]] std::string url(std::uint16_t actual_port, bool tls = false) const {
    return fmt::format("{}://{}:{}", tls ? "https" : "http", host, actual_port);
  }
};

[[nodiscard]] inline result<listen_address> parse_listen_address(std::string_view text) {
  const auto invalid = [&] {
    return unexpected_error(errc::invalid_argument,
                            fmt::format("Invalid listen address '{}': expected HOST:PORT (e.g. 127.0.0.1:0)", text));
  };
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return invalid();
  }
  const std::string_view host = text.substr(0, colon);
  const std::string_view digits = text.substr(colon + 1);
  // An IPv6 host must be bracketed, or its last ':' would be taken for the port separator.
  if (host.find(':') != std::string_view::npos && (host.front() != '[' || host.back() != ']')) {
    return invalid();
  }
  if (digits.empty() || digits.size() > 5) {
    return invalid();
  }
  std::uint32_t port = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') {
      return invalid();
    }
    port = port * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (port > 65535) {
    return invalid();
  }
  return listen_address{std::string(host), static_cast<std::uint16_t>(port)};
}

}  // namespace danube::testing::detail
