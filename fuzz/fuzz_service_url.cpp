// libFuzzer target: the service URL parser (danube::detail::parse_service_url), which every URL
// the client dials goes through (the service URL and each connect_url a lookup hands back).
// Checked besides "no crash, no UB": failures are errc::invalid_argument naming the URL; an
// accepted URL has a host and a port in 1..65535, and printing it back parses to the same URL.
#include <danube/detail/service_url.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {
void require(bool condition) {
  if (!condition) {
    std::abort();
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);  // NOLINT
  const auto url = danube::detail::parse_service_url(text);
  if (!url) {
    require(url.error() == danube::errc::invalid_argument);
    require(url.error().message().find(text) != std::string::npos);
    return 0;
  }
  require(!url->host.empty());
  require(url->port >= 1);
  const auto again = danube::detail::parse_service_url(url->to_string());
  require(again.has_value());
  require(again->tls == url->tls && again->host == url->host && again->port == url->port);
  require(again->to_string() == url->to_string());
  return 0;
}
