// The error model: every fallible operation returns danube::result<T>, a std::expected whose error
// carries a code, a message, the gRPC status it came from (if any) and whether retrying can help.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

namespace danube {

// What went wrong, in terms a caller can act on. The gRPC mapping is in detail/grpc_status.hpp
// and documented in docs/errors.md.
enum class errc : int {
  invalid_argument = 1,  // a malformed request: bad topic name, bad URL, bad option
  not_found,             // topic, producer or consumer unknown to the broker
  already_exists,
  unauthenticated,      // missing, invalid or expired credentials
  permission_denied,    // authenticated but not allowed (and the broker's publish failures)
  unavailable,          // broker unreachable or the topic moved: look up again and retry
  timeout,              // a deadline passed (gRPC DEADLINE_EXCEEDED or a client-side timeout)
  resource_exhausted,   // a broker limit was hit
  failed_precondition,  // the request conflicts with the topic's state (dispatch strategy, schema)
  lookup_failed,        // the broker answered a lookup with Failed
  closed,               // the client, producer or consumer was closed
  queue_full,           // a bounded client-side queue is full and the policy is to fail
  schema,               // schema resolution or validation failed
  internal,             // a broker or library fault; not retryable
  cancelled,            // the operation was cancelled
  unimplemented,        // the broker does not offer this RPC (e.g. the legacy AuthService)
};

[[nodiscard]] constexpr std::string_view to_string(errc code) noexcept {
  switch (code) {
    case errc::invalid_argument: return "invalid_argument";
    case errc::not_found: return "not_found";
    case errc::already_exists: return "already_exists";
    case errc::unauthenticated: return "unauthenticated";
    case errc::permission_denied: return "permission_denied";
    case errc::unavailable: return "unavailable";
    case errc::timeout: return "timeout";
    case errc::resource_exhausted: return "resource_exhausted";
    case errc::failed_precondition: return "failed_precondition";
    case errc::lookup_failed: return "lookup_failed";
    case errc::closed: return "closed";
    case errc::queue_full: return "queue_full";
    case errc::schema: return "schema";
    case errc::internal: return "internal";
    case errc::cancelled: return "cancelled";
    case errc::unimplemented: return "unimplemented";
  }
  return "unknown";
}

// Codes a retry can fix: the broker's own retry set (UNAVAILABLE, DEADLINE_EXCEEDED,
// RESOURCE_EXHAUSTED), see docs/protocol.md §2.1.
[[nodiscard]] constexpr bool is_retryable(errc code) noexcept {
  return code == errc::unavailable || code == errc::timeout || code == errc::resource_exhausted;
}

namespace detail {
class error_category_impl final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "danube"; }
  [[nodiscard]] std::string message(int value) const override {
    return std::string(to_string(static_cast<errc>(value)));
  }
};
}  // namespace detail

[[nodiscard]] inline const std::error_category& error_category() noexcept {
  static const detail::error_category_impl category;
  return category;
}

[[nodiscard]] inline std::error_code make_error_code(errc code) noexcept {
  return {static_cast<int>(code), error_category()};
}

class error {
 public:
  error(errc code, std::string message) : error(code, std::move(message), std::nullopt) {}

  error(errc code, std::string message, std::optional<int> grpc_status)
      : code_(code), retryable_(is_retryable(code)), grpc_status_(grpc_status), message_(std::move(message)) {}

  [[nodiscard]] errc code() const noexcept { return code_; }
  [[nodiscard]] const std::string& message() const noexcept { return message_; }
  // The numeric grpc::StatusCode this error was mapped from, when it came from an RPC.
  [[nodiscard]] std::optional<int> grpc_status() const noexcept { return grpc_status_; }
  // Whether the same request may succeed when tried again (after a fresh lookup).
  [[nodiscard]] bool retryable() const noexcept { return retryable_; }
  [[nodiscard]] std::error_code error_code() const noexcept { return make_error_code(code_); }

  friend bool operator==(const error& e, errc code) noexcept { return e.code_ == code; }

 private:
  errc code_;
  bool retryable_;
  std::optional<int> grpc_status_;
  std::string message_;
};

template <class T>
using result = std::expected<T, error>;

// Shorthand for `return std::unexpected(error(code, message));`.
[[nodiscard]] inline std::unexpected<error> unexpected_error(errc code, std::string message) {
  return std::unexpected(error(code, std::move(message)));
}

namespace detail {
// What a callback-taking call returns for an empty std::function: refused up front, since the
// library would otherwise call it later, on one of its own threads (std::bad_function_call there
// ends the process).
[[nodiscard]] inline std::unexpected<error> empty_callback(std::string_view call) {
  return unexpected_error(errc::invalid_argument, fmt::format("{}: the callback is empty", call));
}
}  // namespace detail

}  // namespace danube

template <>
struct std::is_error_code_enum<danube::errc> : std::true_type {};

template <>
struct fmt::formatter<danube::errc> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(danube::errc code, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(danube::to_string(code), ctx);
  }
};

// Formats as "<code>: <message>", the form the CLI prints after "error: ".
template <>
struct fmt::formatter<danube::error> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const danube::error& e, FormatContext& ctx) const {
    return fmt::format_to(ctx.out(), "{}: {}", danube::to_string(e.code()), e.message());
  }
};
