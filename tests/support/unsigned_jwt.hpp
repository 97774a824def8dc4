// A JWT with the given claims, a well-formed HS256 header and a placeholder signature: what the
// client's claim reader (detail::jwt_expiry) is given in tests. It reads exp and never checks the
// signature, so none is made.
#pragma once

#include <danube/testing/detail/jwt_hs256.hpp>

#include <string>
#include <string_view>

namespace danube_test {

[[nodiscard]] inline std::string jwt_with_payload(std::string_view claims_json) {
  using danube::testing::detail::base64url_encode;
  return base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(claims_json) + ".c2lnbmF0dXJl";
}

}  // namespace danube_test
