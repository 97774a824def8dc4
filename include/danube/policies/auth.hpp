// Built-in auth policies (namespace danube::auth). Each models danube::auth_policy.
// Tokens and keys are never logged and never appear in error messages.
#pragma once

#include <danube/detail/jwt.hpp>
#include <danube/detail/metadata_value.hpp>
#include <danube/error.hpp>
#include <danube/policies/concepts.hpp>

#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace danube::auth {

// No authorization header: for brokers running with `auth.mode: none`.
struct none {
  static constexpr bool sends_credentials = false;
  [[nodiscard]] result<std::optional<std::string>> authorization(const auth_context& /*unused*/) const {
    return std::optional<std::string>{};
  }
};

namespace detail {
// "Bearer <token>", or why gRPC could not carry it: "<source> an empty token" / "<source> a token
// with a byte ...". The message never contains the token.
[[nodiscard]] inline result<std::string> bearer_header(std::string_view token, std::string_view source) {
  if (token.empty()) {
    return unexpected_error(errc::unauthenticated, std::string(source) + " an empty token");
  }
  if (!danube::detail::is_legal_metadata_value(token)) {
    return unexpected_error(errc::unauthenticated,
                            std::string(source) +
                                " a token with a byte gRPC cannot send in a header (a control character such as a "
                                "trailing newline, or non-ASCII)");
  }
  return "Bearer " + std::string(token);
}
}  // namespace detail

// A fixed JWT, sent as `authorization: Bearer <token>` on every call. A token gRPC cannot carry
// (empty, a control character such as a trailing newline, non-ASCII) fails every call with
// errc::unauthenticated, before any I/O.
class static_token {
 public:
  static constexpr bool sends_credentials = true;
  explicit static_token(std::string token)
      : header_(std::make_shared<const result<std::string>>(detail::bearer_header(token, "static_token was given"))) {}
  [[nodiscard]] result<std::optional<std::string>> authorization(const auth_context& /*unused*/) const {
    if (!*header_) {
      return std::unexpected(header_->error());
    }
    return std::optional<std::string>{**header_};
  }

 private:
  std::shared_ptr<const result<std::string>> header_;
};

// A callable asked for the current JWT on every call (rotation is the supplier's business). It
// may return std::string (or anything convertible, such as const char*) or
// danube::result<std::string>; an error, a null pointer, an empty token or one gRPC cannot carry
// fails that call with errc::unauthenticated.
class token_supplier {
 public:
  static constexpr bool sends_credentials = true;

  template <class Supplier>
  requires std::invocable<Supplier&> &&
      (std::convertible_to<std::invoke_result_t<Supplier&>, std::string> ||
       std::same_as<std::invoke_result_t<Supplier&>, result<std::string>>)explicit token_supplier(Supplier supplier) {
    using supplied = std::invoke_result_t<Supplier&>;
    if constexpr (std::same_as<supplied, result<std::string>>) {
      supply_ = std::move(supplier);
    } else if constexpr (std::is_pointer_v<std::decay_t<supplied>>) {
      supply_ = [s = std::move(supplier)]() mutable -> result<std::string> {
        const auto* token = s();
        if (token == nullptr) {
          return unexpected_error(errc::unauthenticated, "the token supplier returned a null pointer");
        }
        return std::string(token);
      };
    } else {
      supply_ = [s = std::move(supplier)]() mutable -> result<std::string> { return std::string(s()); };
    }
  }

  [[nodiscard]] result<std::optional<std::string>> authorization(const auth_context& /*unused*/) const {
    auto token = supply_();
    if (!token) {
      return std::unexpected(error(errc::unauthenticated, "the token supplier failed: " + token.error().message()));
    }
    auto header = detail::bearer_header(*token, "the token supplier returned");
    if (!header) {
      return std::unexpected(std::move(header).error());
    }
    return std::optional<std::string>(std::move(*header));
  }

 private:
  std::function<result<std::string>()> supply_;
};

// For brokers that still serve `/danube.AuthService/Authenticate`: exchanges the key for a JWT and
// reuses it until its own `exp` claim minus `margin`. Concurrent callers share one exchange
// (single flight); no lock is held while it runs. A failed exchange is errc::unauthenticated.
// (A v0.15 broker no longer has this RPC: the exchange then fails with the broker's UNIMPLEMENTED.)
class api_key_exchange {
 public:
  static constexpr bool sends_credentials = true;

  explicit api_key_exchange(std::string api_key, std::chrono::seconds margin = std::chrono::seconds(30))
      : shared_(std::make_shared<shared_state>(std::move(api_key), margin)) {}

  [[nodiscard]] result<std::optional<std::string>> authorization(const auth_context& context) const {
    auto& s = *shared_;
    std::unique_lock lock(s.mu);
    for (;;) {
      if (!s.header.empty() && std::chrono::system_clock::now() + s.margin < s.expires) {
        return std::optional<std::string>(s.header);
      }
      if (!s.refreshing) {
        break;
      }
      // Someone else is exchanging: wait for that one result rather than start another.
      const auto generation = s.generation;
      s.done.wait(lock, [&] { return s.generation != generation; });
      if (s.failure) {
        return std::unexpected(*s.failure);
      }
    }
    s.refreshing = true;
    lock.unlock();
    auto outcome = exchange_(context);
    lock.lock();
    s.refreshing = false;
    ++s.generation;
    if (outcome) {
      s.failure.reset();
      s.header = "Bearer " + outcome->token;
      s.expires = outcome->expires;
    } else {
      s.failure = outcome.error();
    }
    lock.unlock();
    s.done.notify_all();
    if (!outcome) {
      return std::unexpected(std::move(outcome).error());
    }
    return std::optional<std::string>("Bearer " + std::move(outcome->token));
  }

  // How many exchanges have run (for tests and metrics).
  [[nodiscard]] std::uint64_t exchanges() const {
    std::lock_guard lock(shared_->mu);
    return shared_->generation;
  }

 private:
  struct fresh_token {
    std::string token;
    std::chrono::system_clock::time_point expires;
  };

  [[nodiscard]] result<fresh_token> exchange_(const auth_context& context) const {
    if (!context.exchange_api_key) {
      return unexpected_error(errc::unauthenticated, "api key exchange is not available on this client");
    }
    auto token = context.exchange_api_key(shared_->api_key);
    if (!token) {
      return std::unexpected(
          error(errc::unauthenticated, "the api key exchange failed: " + std::string(to_string(token.error().code())) +
                                           ": " + token.error().message()));
    }
    auto expires = danube::detail::jwt_expiry(*token);
    if (!expires) {
      return std::unexpected(error(errc::unauthenticated, "the broker's token is " + expires.error().message()));
    }
    if (auto header = detail::bearer_header(*token, "the api key exchange returned"); !header) {
      return std::unexpected(std::move(header).error());
    }
    return fresh_token{std::move(*token), *expires};
  }

  struct shared_state {
    shared_state(std::string key, std::chrono::seconds m) : api_key(std::move(key)), margin(m) {}
    const std::string api_key;
    const std::chrono::seconds margin;
    mutable std::mutex mu;
    std::condition_variable done;
    std::string header;
    std::chrono::system_clock::time_point expires{};
    bool refreshing = false;
    std::uint64_t generation = 0;
    std::optional<error> failure;
  };
  std::shared_ptr<shared_state> shared_;
};

static_assert(auth_policy<none>);
static_assert(auth_policy<static_token>);
static_assert(auth_policy<token_supplier>);
static_assert(auth_policy<api_key_exchange>);

}  // namespace danube::auth
