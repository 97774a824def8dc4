// Built-in TLS policies (namespace danube::tls). Each models danube::tls_policy.
#pragma once

#include <danube/error.hpp>
#include <danube/policies/concepts.hpp>

namespace danube::tls {

// No TLS (http:// service URLs). Refuses, at compile time, auth policies that send credentials.
struct plaintext {
  static constexpr bool is_plaintext = true;
  static constexpr bool allows_credentials_in_clear = false;
  [[nodiscard]] result<tls_configuration> configuration() const { return tls_configuration{}; }
};

// No TLS, and the explicit opt-in to send credentials in clear (a trusted loopback or a sidecar
// that terminates TLS). Never the default.
struct plaintext_insecure {
  static constexpr bool is_plaintext = true;
  static constexpr bool allows_credentials_in_clear = true;
  [[nodiscard]] result<tls_configuration> configuration() const { return tls_configuration{}; }
};

static_assert(tls_policy<plaintext>);
static_assert(tls_policy<plaintext_insecure>);

}  // namespace danube::tls
