// The logging hook: a sink the application sets on the client builder. Without one the library
// is silent. Messages never contain tokens, keys or payloads.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace danube {

enum class log_level : std::uint8_t { debug, info, warn, error };

using log_sink = std::function<void(log_level level, std::string_view message)>;

[[nodiscard]] constexpr std::string_view to_string(log_level level) noexcept {
  switch (level) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
  }
  return "unknown";
}

}  // namespace danube
