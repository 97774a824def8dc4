// HS256 JSON Web Tokens as the real broker issues and validates them (docs/protocol.md §7.3): signing for
// the token exchange and for tests, validation for the authentication gate. HMAC-SHA256 is
// OpenSSL's.
#pragma once

#include <danube/detail/json_scan.hpp>
#include <danube/detail/jwt.hpp>
#include <danube/testing/token.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace danube::testing::detail {

using ::danube::testing::token_claims;

// Why a token was refused. The broker answers "Invalid token" for every one of them.
enum class token_defect : std::uint8_t {
  malformed,        // not three base64url parts of JSON objects
  wrong_algorithm,  // the header's alg is not HS256
  bad_signature,    // not signed with the broker's secret
  missing_claim,    // one of iss, exp, sub, principal_type, principal_name absent or mistyped
  audience,         // an aud claim, which the broker has no audience to check against
  expired,          // exp (plus the leeway) has passed
};

// base64url without padding (RFC 4648 §5), as JWT segments are encoded.
[[nodiscard]] inline std::string base64url_encode(std::string_view in) {
  static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  std::uint32_t buffer = 0;
  unsigned bits = 0;
  for (const char c : in) {
    buffer = (buffer << 8U) | static_cast<std::uint32_t>(static_cast<unsigned char>(c));
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(buffer >> bits) & 0x3FU]);
    }
  }
  if (bits > 0) {
    out.push_back(alphabet[(buffer << (6U - bits)) & 0x3FU]);
  }
  return out;
}

// HMAC-SHA256 of `data` under `key` (32 raw bytes); std::nullopt if OpenSSL fails.
[[nodiscard]] inline std::optional<std::string> hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  // An empty key is valid for HMAC; OpenSSL wants a non-null pointer for it.
  static constexpr char no_key = 0;
  const void* key_data = key.empty() ? &no_key : key.data();
  if (HMAC(EVP_sha256(), key_data, static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()),  // NOLINT(*-reinterpret-cast): OpenSSL's byte API
           data.size(), digest.data(), &length) == nullptr) {
    return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(digest.data()), length);  // NOLINT(*-reinterpret-cast)
}

// A JSON string literal for `text` (the shared JSON writer's quoting).
[[nodiscard]] inline std::string json_string(std::string_view text) {
  std::string out;
  ::danube::detail::json::append_quoted(out, text);
  return out;
}

// "<header>.<payload>.<signature>" for `payload_json`, signed with `secret`; std::nullopt if
// OpenSSL fails.
[[nodiscard]] inline std::optional<std::string> sign_hs256(std::string_view secret, std::string_view payload_json) {
  std::string signing_input = base64url_encode(R"({"typ":"JWT","alg":"HS256"})") + "." + base64url_encode(payload_json);
  const auto signature = hmac_sha256(secret, signing_input);
  if (!signature) {
    return std::nullopt;
  }
  return signing_input + "." + base64url_encode(*signature);
}

// The payload of a token carrying `claims`.
[[nodiscard]] inline std::string claims_json(const token_claims& claims) {
  return fmt::format(R"({{"iss":{},"exp":{},"sub":{},"principal_type":{},"principal_name":{}}})",
                     json_string(claims.iss), claims.exp, json_string(claims.sub), json_string(claims.principal_type),
                     json_string(claims.principal_name));
}

namespace jwt_validation_detail {

using cursor = ::danube::detail::jwt_detail::json_cursor;

// Walks a JSON object, calling `member(name, cursor)` for each member; the callback consumes the
// value (or returns false to reject). False for anything that is not one well-formed object.
template <class Member>
[[nodiscard]] bool for_each_member(std::string_view json, Member member) {
  cursor in(json);
  if (!in.consume('{')) {
    return false;
  }
  if (!in.consume('}')) {
    do {
      const auto name = in.string();
      if (!name || !in.consume(':') || !member(*name, in)) {
        return false;
      }
    } while (in.consume(','));
    if (!in.consume('}')) {
      return false;
    }
  }
  return in.at_end();
}

// An unsigned integer written as plain digits (what a u64 claim deserializes from).
[[nodiscard]] inline std::optional<std::uint64_t> unsigned_number(std::string_view digits) {
  if (digits.empty() || digits.size() > 19) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

}  // namespace jwt_validation_detail

// Validates `token` as jsonwebtoken's Validation::default() does for the broker: HS256 only, a
// valid signature under `secret`, all five claims present, no aud, and exp + leeway not before
// `now` (whole seconds). iss is not checked.
[[nodiscard]] inline std::expected<token_claims, token_defect> verify_hs256(std::string_view token,
                                                                            std::string_view secret,
                                                                            std::chrono::seconds leeway,
                                                                            std::chrono::system_clock::time_point now) {
  using namespace jwt_validation_detail;
  const auto fail = [](token_defect defect) { return std::unexpected(defect); };
  const auto first = token.find('.');
  const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return fail(token_defect::malformed);
  }
  const auto header = ::danube::detail::base64url_decode(token.substr(0, first));
  const auto payload = ::danube::detail::base64url_decode(token.substr(first + 1, second - first - 1));
  const auto signature = ::danube::detail::base64url_decode(token.substr(second + 1));
  if (!header || !payload || !signature) {
    return fail(token_defect::malformed);
  }

  std::optional<std::string_view> algorithm;
  if (!for_each_member(*header, [&](std::string_view name, cursor& value) {
        if (name == "alg") {
          algorithm = value.string();
          return algorithm.has_value();
        }
        return value.skip_value();
      })) {
    return fail(token_defect::malformed);
  }
  if (algorithm != std::optional<std::string_view>("HS256")) {
    return fail(token_defect::wrong_algorithm);
  }

  const auto expected = hmac_sha256(secret, token.substr(0, second));
  if (!expected || expected->size() != signature->size() ||
      CRYPTO_memcmp(expected->data(), signature->data(), expected->size()) != 0) {
    return fail(token_defect::bad_signature);
  }

  token_claims claims;
  bool has_iss = false;
  bool has_exp = false;
  bool has_sub = false;
  bool has_type = false;
  bool has_name = false;
  bool has_audience = false;
  bool well_typed = true;
  const auto take_string = [&](cursor& value, std::string& into, bool& seen) {
    const auto text = value.string();
    if (!text) {
      well_typed = false;
      return value.skip_value();
    }
    into = std::string(*text);
    seen = true;
    return true;
  };
  if (!for_each_member(*payload, [&](std::string_view name, cursor& value) {
        if (name == "iss") {
          return take_string(value, claims.iss, has_iss);
        }
        if (name == "sub") {
          return take_string(value, claims.sub, has_sub);
        }
        if (name == "principal_type") {
          return take_string(value, claims.principal_type, has_type);
        }
        if (name == "principal_name") {
          return take_string(value, claims.principal_name, has_name);
        }
        if (name == "exp") {
          const auto number = value.number();
          if (!number) {
            well_typed = false;
            return value.skip_value();
          }
          const auto seconds = unsigned_number(*number);
          if (!seconds) {
            well_typed = false;
            return true;
          }
          claims.exp = *seconds;
          has_exp = true;
          return true;
        }
        if (name == "aud") {
          has_audience = true;
        }
        return value.skip_value();
      })) {
    return fail(token_defect::malformed);
  }
  if (!well_typed || !has_iss || !has_exp || !has_sub || !has_type || !has_name) {
    return fail(token_defect::missing_claim);
  }
  if (has_audience) {
    return fail(token_defect::audience);
  }
  // Expired when exp < now - leeway (in whole seconds), as jsonwebtoken decides.
  const auto now_seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const auto grace = leeway.count() < 0 ? std::int64_t{0} : static_cast<std::int64_t>(leeway.count());
  if (now_seconds > grace && claims.exp < static_cast<std::uint64_t>(now_seconds - grace)) {
    return fail(token_defect::expired);
  }
  return claims;
}

}  // namespace danube::testing::detail
