// danube.AuthService: the legacy Authenticate RPC as a token exchange (docs/protocol.md §1.3; removed
// from v0.15.1). Not behind authentication, as upstream; injected faults still apply.
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/broker_options.hpp>
#include <danube/testing/detail/call_gate.hpp>
#include <danube/testing/detail/jwt_hs256.hpp>
#include <danube/testing/detail/status.hpp>
#include <danube/testing/detail/unary_answer.hpp>
#include <danube/testing/rpc.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

// A token signed with the broker's secret: iss = the broker's issuer, exp = now + ttl (a negative
// ttl gives an already expired token), sub = principal_name = `subject`.
[[nodiscard]] inline status_or<std::string> issue_token(const broker_auth& options, const std::string& subject,
                                                        std::chrono::seconds ttl,
                                                        const std::string& principal_type = "service_account") {
  if (options.jwt_secret.empty()) {
    return reject(grpc::StatusCode::FAILED_PRECONDITION, "JWT support is not enabled");
  }
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  const auto exp = now + ttl;
  token_claims claims;
  claims.iss = options.jwt_issuer;
  claims.exp = exp.count() < 0 ? 0 : static_cast<std::uint64_t>(exp.count());
  claims.sub = subject;
  claims.principal_type = principal_type;
  claims.principal_name = subject;
  auto token = sign_hs256(options.jwt_secret, claims_json(claims));
  if (!token) {
    return reject(grpc::StatusCode::INVALID_ARGUMENT, "Unable to create JWT token: signing failed");
  }
  return std::move(*token);
}

class auth_service final : public wire::AuthService::CallbackService {
 public:
  auth_service(call_gate& gate, broker_auth options) : gate_(gate), options_(std::move(options)) {}

  // A configured api key is exchanged for a fresh token (sub "api-key-<its index>"). As in the
  // exchange era, a valid token of this broker is accepted too and re-issued with a fresh exp,
  // keeping its subject. Anything else is "Invalid token".
  grpc::ServerUnaryReactor* Authenticate(grpc::CallbackServerContext* context, const wire::AuthRequest* request,
                                         wire::AuthResponse* response) override {
    return answer(gate_, rpc::authenticate, context, *request, [&]() -> grpc::Status {
      if (options_.jwt_secret.empty()) {
        return {grpc::StatusCode::FAILED_PRECONDITION, "JWT support is not enabled"};
      }
      std::string subject;
      std::string principal_type = "service_account";
      for (std::size_t i = 0; i < options_.api_keys.size(); ++i) {
        if (options_.api_keys[i] == request->api_key()) {
          subject = fmt::format("api-key-{}", i);
          break;
        }
      }
      if (subject.empty()) {
        auto claims =
            verify_hs256(request->api_key(), options_.jwt_secret, options_.leeway, std::chrono::system_clock::now());
        if (!claims) {
          return {grpc::StatusCode::UNAUTHENTICATED, "Invalid token"};
        }
        subject = std::move(claims->sub);
        principal_type = std::move(claims->principal_type);
      }
      auto token = issue_token(options_, subject, options_.token_ttl, principal_type);
      if (!token) {
        return std::move(token.error());
      }
      response->set_token(std::move(*token));
      return grpc::Status::OK;
    });
  }

 private:
  call_gate& gate_;
  const broker_auth options_;
};

}  // namespace danube::testing::detail
