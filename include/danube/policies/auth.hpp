// Built-in auth policies (namespace danube::auth). Each models danube::auth_policy.
#pragma once

#include <danube/error.hpp>
#include <danube/policies/concepts.hpp>

#include <optional>
#include <string>
#include <utility>

namespace danube::auth {

// No authorization header: for brokers running with `auth.mode: none`.
struct none {
  static constexpr bool sends_credentials = false;
  [[nodiscard]] result<std::optional<std::string>> authorization(const auth_context& /*unused*/) const {
    return std::optional<std::string>{};
  }
};

// A fixed JWT, sent as `authorization: Bearer <token>` on every call.
class static_token {
 public:
  static constexpr bool sends_credentials = true;
  explicit static_token(std::string token) : header_("Bearer " + std::move(token)) {}
  [[nodiscard]] result<std::optional<std::string>> authorization(const auth_context& /*unused*/) const {
    return std::optional<std::string>{header_};
  }

 private:
  std::string header_;
};

static_assert(auth_policy<none>);
static_assert(auth_policy<static_token>);

}  // namespace danube::auth
