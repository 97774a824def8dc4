// The embedded broker's HS256 tokens (testing/detail/jwt_hs256.hpp): signing, and validation as
// the real broker's jsonwebtoken settings decide (docs/protocol.md §7.3), and its interceptor (§7.2).
#include <danube/testing/detail/authenticator.hpp>
#include <danube/testing/detail/jwt_hs256.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

// A named namespace: the unit tests are one unity-built translation unit.
namespace broker_jwt_test {

namespace jwt = danube::testing::detail;
using namespace std::chrono_literals;

constexpr std::string_view secret = "broker secret";
const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
constexpr std::uint64_t now_seconds = 1'800'000'000;

std::string hex(std::string_view bytes) {
  std::string out;
  for (const char c : bytes) {
    out += fmt::format("{:02x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
  }
  return out;
}

danube::testing::token_claims claims(std::uint64_t exp = now_seconds + 3600) {
  danube::testing::token_claims c;
  c.iss = "danube";
  c.exp = exp;
  c.sub = "app";
  c.principal_type = "service_account";
  c.principal_name = "app";
  return c;
}

std::string token_for(std::string_view payload_json, std::string_view key = secret) {
  return jwt::sign_hs256(key, payload_json).value_or("");
}

// A token with any header (for algorithms the broker must refuse), signed with HS256.
std::string token_with_header(std::string_view header_json, std::string_view payload_json) {
  const auto input = jwt::base64url_encode(header_json) + "." + jwt::base64url_encode(payload_json);
  return input + "." + jwt::base64url_encode(jwt::hmac_sha256(secret, input).value_or(""));
}

jwt::token_defect defect_of(const std::string& token, std::chrono::seconds leeway = 60s) {
  const auto verified = jwt::verify_hs256(token, secret, leeway, now);
  REQUIRE_FALSE(verified);
  return verified.error();
}

}  // namespace broker_jwt_test

TEST_SUITE("broker_jwt") {
  using namespace broker_jwt_test;

  TEST_CASE("base64url without padding and HMAC-SHA256 (RFC 4648, RFC 4231 test case 2)") {
    CHECK(jwt::base64url_encode("") == "");
    CHECK(jwt::base64url_encode("f") == "Zg");
    CHECK(jwt::base64url_encode("fo") == "Zm8");
    CHECK(jwt::base64url_encode("foo") == "Zm9v");
    CHECK(jwt::base64url_encode("\xfb\xff") == "-_8");
    CHECK(hex(jwt::hmac_sha256("Jefe", "what do ya want for nothing?").value_or("")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  }

  TEST_CASE("JSON strings are escaped in the claims") {
    CHECK(jwt::json_string(R"(a"b\c)") == R"("a\"b\\c")");
    CHECK(jwt::json_string(std::string_view("\n\x01", 2)) == R"("\n\u0001")");
  }

  TEST_CASE("a signed token verifies and carries its claims") {
    const auto token = token_for(jwt::claims_json(claims()));
    const auto verified = jwt::verify_hs256(token, secret, 60s, now);
    REQUIRE(verified);
    CHECK(verified->iss == "danube");
    CHECK(verified->exp == now_seconds + 3600);
    CHECK(verified->sub == "app");
    CHECK(verified->principal_type == "service_account");
    CHECK(verified->principal_name == "app");
  }

  TEST_CASE("another secret, or a changed payload, is a bad signature") {
    CHECK(defect_of(token_for(jwt::claims_json(claims()), "other secret")) == jwt::token_defect::bad_signature);
    auto token = token_for(jwt::claims_json(claims()));
    const auto first = token.find('.');
    const auto second = token.find('.', first + 1);
    auto forged = claims();
    forged.sub = "admin";
    token.replace(first + 1, second - first - 1, jwt::base64url_encode(jwt::claims_json(forged)));
    CHECK(defect_of(token) == jwt::token_defect::bad_signature);
  }

  TEST_CASE("only HS256 is accepted") {
    const auto payload = jwt::claims_json(claims());
    CHECK(defect_of(token_with_header(R"({"alg":"none","typ":"JWT"})", payload)) == jwt::token_defect::wrong_algorithm);
    CHECK(defect_of(token_with_header(R"({"alg":"HS512"})", payload)) == jwt::token_defect::wrong_algorithm);
    CHECK(defect_of(token_with_header(R"({"typ":"JWT"})", payload)) == jwt::token_defect::wrong_algorithm);
    CHECK(jwt::verify_hs256(token_with_header(R"({"alg":"HS256"})", payload), secret, 60s, now).has_value());
  }

  TEST_CASE("all five claims must be present and well typed, aud is refused") {
    const auto exp = now_seconds + 60;
    CHECK(defect_of(token_for(fmt::format(R"({{"iss":"i","exp":{},"sub":"s","principal_type":"user"}})", exp))) ==
          jwt::token_defect::missing_claim);
    CHECK(defect_of(token_for(R"({"iss":"i","sub":"s","principal_type":"user","principal_name":"s"})")) ==
          jwt::token_defect::missing_claim);
    CHECK(defect_of(token_for(fmt::format(
              R"({{"iss":"i","exp":"{}","sub":"s","principal_type":"user","principal_name":"s"}})", exp))) ==
          jwt::token_defect::missing_claim);
    CHECK(defect_of(token_for(
              fmt::format(R"({{"iss":7,"exp":{},"sub":"s","principal_type":"user","principal_name":"s"}})", exp))) ==
          jwt::token_defect::missing_claim);
    CHECK(defect_of(token_for(fmt::format(
              R"({{"iss":"i","exp":{},"sub":"s","principal_type":"user","principal_name":"s","aud":"x"}})", exp))) ==
          jwt::token_defect::audience);
    // Extra claims are fine.
    CHECK(
        jwt::verify_hs256(
            token_for(fmt::format(
                R"({{"iss":"i","exp":{},"sub":"s","principal_type":"user","principal_name":"s","x":[1,{{"y":null}}]}})",
                exp)),
            secret, 60s, now)
            .has_value());
  }

  TEST_CASE("exp: expired once exp + leeway is before now, in whole seconds") {
    CHECK(jwt::verify_hs256(token_for(jwt::claims_json(claims(now_seconds - 60))), secret, 60s, now).has_value());
    CHECK(defect_of(token_for(jwt::claims_json(claims(now_seconds - 61)))) == jwt::token_defect::expired);
    CHECK(jwt::verify_hs256(token_for(jwt::claims_json(claims(now_seconds))), secret, 0s, now).has_value());
    CHECK(defect_of(token_for(jwt::claims_json(claims(now_seconds - 1))), 0s) == jwt::token_defect::expired);
  }

  TEST_CASE("anything that is not three base64url parts of JSON is malformed") {
    CHECK(defect_of("") == jwt::token_defect::malformed);
    CHECK(defect_of("a.b") == jwt::token_defect::malformed);
    CHECK(defect_of("a.b.c.d") == jwt::token_defect::malformed);
    CHECK(defect_of("!!.??.**") == jwt::token_defect::malformed);
    CHECK(defect_of(jwt::base64url_encode("not json") + "." + jwt::base64url_encode("{}") + ".") ==
          jwt::token_defect::malformed);
    CHECK(defect_of(token_with_header(R"({"alg":"HS256"})", "[1,2]")) == jwt::token_defect::malformed);
  }

  // The interceptor's metadata checks (§7.2). A gRPC C++ client cannot send these bytes (gRPC
  // refuses them before sending), a Rust or Go client can: the checks run on the metadata alone.
  TEST_CASE("interceptor: an authorization or internal-broker value that is not visible ASCII is invalid metadata") {
    danube::testing::broker_auth options;
    options.require_token = true;
    options.jwt_secret = std::string(secret);
    jwt::authenticator interceptor(options);
    const auto refusal = [&](std::string_view key, std::string_view value) {
      jwt::authenticator::client_metadata metadata;
      metadata.emplace(grpc::string_ref(key.data(), key.size()), grpc::string_ref(value.data(), value.size()));
      return interceptor.check(metadata);
    };
    for (const std::string_view value : {std::string_view("Bearer caf\xc3\xa9"), std::string_view("Bearer \x7f"),
                                         std::string_view("Bearer a\nb"), std::string_view("\x01")}) {
      CAPTURE(hex(value));
      const auto refused = refusal("authorization", value);
      REQUIRE(refused.has_value());
      CHECK(refused->error_code() == grpc::StatusCode::UNAUTHENTICATED);
      CHECK(refused->error_message() == "Authentication metadata is invalid");
      const auto internal = refusal("x-danube-internal-broker", value);
      REQUIRE(internal.has_value());
      CHECK(internal->error_message() == "Authentication metadata is invalid");
    }
    // Tab is visible ASCII to the http crate: the value gets as far as the token check.
    const auto tab = refusal("authorization", "Bearer\tabc");
    REQUIRE(tab.has_value());
    CHECK(tab->error_message() == "Invalid token");
    CHECK_FALSE(refusal("x-danube-internal-broker", "broker/\t1").has_value());
    const auto missing = interceptor.check(jwt::authenticator::client_metadata{});
    REQUIRE(missing.has_value());
    CHECK(missing->error_message() == "Authentication credentials are missing");
  }

  TEST_CASE("interceptor: a validated header is accepted again from the cache after its token expired") {
    // The real broker caches a validated header for 30 s, so with the 60 s leeway a token works up
    // to ~90 s past exp (§7.3). Here leeway 0 and a 3 s cache make that visible in ~3 s.
    danube::testing::broker_auth options;
    options.require_token = true;
    options.jwt_secret = std::string(secret);
    options.leeway = 0s;
    options.validation_cache = 3s;
    jwt::authenticator interceptor(options);
    const auto started = std::chrono::system_clock::now();
    const auto exp = static_cast<std::uint64_t>(
                         std::chrono::duration_cast<std::chrono::seconds>(started.time_since_epoch()).count()) +
                     1;
    const auto token = token_for(fmt::format(
        R"({{"iss":"danube","exp":{},"sub":"app","principal_type":"service_account","principal_name":"app"}})", exp));
    REQUIRE_FALSE(token.empty());
    const auto check = [&](const std::string& header) {
      jwt::authenticator::client_metadata metadata;
      metadata.emplace("authorization", grpc::string_ref(header.data(), header.size()));
      return interceptor.check(metadata);
    };
    const std::string bearer = "Bearer " + token;
    REQUIRE_FALSE(check(bearer).has_value());
    // Past exp (whole seconds, so up to 2 s): the same header is served from the cache...
    std::this_thread::sleep_until(std::chrono::system_clock::time_point(std::chrono::seconds(exp + 1)) + 50ms);
    CHECK_FALSE(check(bearer).has_value());
    // ...while another spelling of the same token is validated, and is expired.
    const auto other = check("bearer " + token);
    REQUIRE(other.has_value());
    CHECK(other->error_message() == "Invalid token");
    // Once the cache entry is older than validation_cache, the header is validated again.
    std::this_thread::sleep_until(started + options.validation_cache + 100ms);
    const auto stale = check(bearer);
    REQUIRE(stale.has_value());
    CHECK(stale->error_message() == "Invalid token");
  }
}
