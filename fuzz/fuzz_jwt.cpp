// libFuzzer target: the JWT claim reader (danube::detail::jwt_expiry) and its base64url decoder.
// The first byte picks what the rest is: a whole token, or the JSON payload of one (wrapped in a
// well-formed header and signature, so the fuzzer spends its time in the JSON reader).
// Checked besides "no crash, no UB": failures are errc::unauthenticated with one of a fixed set of messages (so they
// never echo the token); an accepted exp is a time the clock can hold; base64url decoding inverts encoding.
#include <danube/detail/jwt.hpp>
#include <danube/testing/detail/jwt_hs256.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string>
#include <string_view>

namespace {

using danube::testing::detail::base64url_encode;

void require(bool condition) {
  if (!condition) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);  // NOLINT
  const std::string token = (data[0] & 1U) != 0
                                ? std::string(rest)
                                : base64url_encode(R"({"alg":"HS256"})") + "." + base64url_encode(rest) + ".c2ln";

  const auto expiry = danube::detail::jwt_expiry(token);
  if (expiry) {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(expiry->time_since_epoch()).count();
    require(seconds >= 0);
  } else {
    // The message is one of a fixed set, so it can never carry any of the token's bytes.
    require(expiry.error() == danube::errc::unauthenticated);
    static constexpr std::string_view reasons[] = {
        "unusable token: not a JWT (expected three dot-separated parts)",
        "unusable token: the JWT payload is not base64url",
        "unusable token: the JWT payload is not a JSON object",
        "unusable token: the exp claim is not a number",
        "unusable token: the exp claim is not a valid time",
        "unusable token: the JWT has no exp claim",
    };
    require(std::find(std::begin(reasons), std::end(reasons), expiry.error().message()) != std::end(reasons));
  }

  const auto decoded = danube::detail::base64url_decode(base64url_encode(rest));
  require(decoded.has_value() && *decoded == rest);
  return 0;
}
