// What may go into gRPC metadata. gRPC C++ does not report an illegal header value as an error: it
// aborts the process (`validate_metadata: Illegal header value`). Every value the client puts into
// metadata -- the authorization header from the auth policy, the proxy header from a lookup
// answer -- is checked here first.
#pragma once

#include <string>
#include <string_view>

namespace danube::detail {

// gRPC's rule for a non-binary header value: bytes 0x20 (space) to 0x7E ('~'), nothing else (no
// tab, no control byte, no UTF-8).
[[nodiscard]] constexpr bool is_legal_metadata_value(std::string_view value) noexcept {
  for (const char c : value) {
    if (c < 0x20 || c > 0x7E) {
      return false;
    }
  }
  return true;
}

// The `x-danube-broker-url` value for a lookup's broker_url, byte for byte what the Rust client
// sends: the text of the broker URL parsed as an http::Uri. So `http` and `https` are written in
// lower case (other schemes as given), the authority as given, an empty path becomes "/", a query
// stays and a fragment is dropped; text without "scheme://" is an authority, sent as is.
[[nodiscard]] inline std::string proxy_header_value(std::string_view broker_url) {
  const auto separator = broker_url.find("://");
  if (separator == std::string_view::npos || separator == 0) {
    return std::string(broker_url);
  }
  std::string scheme(broker_url.substr(0, separator));
  for (const char c : scheme) {
    const bool scheme_char =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
    if (!scheme_char) {
      return std::string(broker_url);  // not a scheme: an authority (or garbage), as is
    }
  }
  const auto lower = [](std::string text) {
    for (auto& c : text) {
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
      }
    }
    return text;
  };
  if (const auto lowered = lower(scheme); lowered == "http" || lowered == "https") {
    scheme = lowered;
  }
  auto rest = broker_url.substr(separator + 3);
  rest = rest.substr(0, rest.find('#'));
  const auto authority_end = rest.find_first_of("/?");
  const auto authority = rest.substr(0, authority_end);
  auto path_and_query = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  std::string out = scheme + "://" + std::string(authority);
  if (path_and_query.empty() || path_and_query.front() == '?') {
    out += '/';
  }
  out += path_and_query;
  return out;
}

}  // namespace danube::detail
