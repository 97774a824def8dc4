// JSON Web Tokens as the embedded broker (and the real one, docs/protocol.md §7.3) validates them: HS256,
// with the five claims the broker requires. For tests that need a token the broker must accept
// (embedded_broker::issue_token is simpler) or refuse (another secret, an exp in the past).
#pragma once

#include <cstdint>
#include <string>

namespace danube::testing {

// The claims the broker requires; a token missing any of them is refused.
struct token_claims {
  std::string iss;
  std::uint64_t exp = 0;  // seconds since the Unix epoch
  std::string sub;
  std::string principal_type = "service_account";  // "user", "broker_internal", or a service account
  std::string principal_name;
};

}  // namespace danube::testing
