// The broker's authentication interceptor in `auth.mode: tls` (docs/protocol.md §7.2), in its decision
// order: the internal-broker header, then the bearer token (validation cache, JWT support,
// "Bearer " prefix, HS256 validation), then "credentials are missing".
#pragma once

#include <danube/testing/broker_options.hpp>
#include <danube/testing/detail/jwt_hs256.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

class authenticator {
 public:
  explicit authenticator(broker_auth options) : options_(std::move(options)) {}

  using client_metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

  // std::nullopt when the call may proceed; otherwise the status the broker refuses it with.
  [[nodiscard]] std::optional<grpc::Status> check(const grpc::ServerContextBase& context) {
    return check(context.client_metadata());
  }

  // The same for the call's metadata alone (what the tests hand it: a gRPC C++ client cannot send
  // the non-visible-ASCII values other clients can).
  [[nodiscard]] std::optional<grpc::Status> check(const client_metadata& metadata) {
    if (!options_.require_token) {
      return std::nullopt;  // auth.mode: none: every call is anonymous and allowed
    }
    // 1. A broker-to-broker call: trusted without a token. Reproduces the real broker, which does
    //    not verify client certificates on this port either (the documented bypass).
    if (const auto internal = metadata.find("x-danube-internal-broker"); internal != metadata.end()) {
      if (!visible_ascii_(internal->second)) {
        return invalid_metadata_();
      }
      return std::nullopt;
    }
    // 2. A bearer token.
    if (const auto found = metadata.find("authorization"); found != metadata.end()) {
      const std::string_view header(found->second.data(), found->second.size());
      if (!visible_ascii_(found->second)) {
        return invalid_metadata_();
      }
      const auto now = std::chrono::system_clock::now();
      if (cached_(header, now)) {
        return std::nullopt;
      }
      if (options_.jwt_secret.empty()) {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "JWT support is not enabled");
      }
      if (!header.starts_with("Bearer ") && !header.starts_with("bearer ")) {
        return invalid_token_();
      }
      if (!verify_hs256(header.substr(7), options_.jwt_secret, options_.leeway, now)) {
        return invalid_token_();
      }
      remember_(header, now);
      return std::nullopt;
    }
    // 3. Nothing at all.
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "Authentication credentials are missing");
  }

 private:
  // How many validated headers the cache keeps before it drops the stale ones.
  static constexpr std::size_t cache_prune_threshold = 1024;

  [[nodiscard]] static bool visible_ascii_(const grpc::string_ref& value) {
    for (const char c : value) {
      const auto byte = static_cast<unsigned char>(c);
      if ((byte < 0x20U || byte > 0x7EU) && byte != '\t') {
        return false;
      }
    }
    return true;
  }

  [[nodiscard]] static grpc::Status invalid_metadata_() {
    return {grpc::StatusCode::UNAUTHENTICATED, "Authentication metadata is invalid"};
  }
  [[nodiscard]] static grpc::Status invalid_token_() { return {grpc::StatusCode::UNAUTHENTICATED, "Invalid token"}; }

  [[nodiscard]] bool cached_(std::string_view header, std::chrono::system_clock::time_point now) {
    if (options_.validation_cache.count() <= 0) {
      return false;
    }
    const std::lock_guard lock(mutex_);
    const auto found = cache_.find(header);
    return found != cache_.end() && now < found->second + options_.validation_cache;
  }

  void remember_(std::string_view header, std::chrono::system_clock::time_point now) {
    if (options_.validation_cache.count() <= 0) {
      return;
    }
    const std::lock_guard lock(mutex_);
    if (cache_.size() >= cache_prune_threshold) {
      std::erase_if(cache_, [&](const auto& entry) { return now >= entry.second + options_.validation_cache; });
    }
    cache_.insert_or_assign(std::string(header), now);
  }

  const broker_auth options_;
  std::mutex mutex_;
  // Validated header → when it was validated.
  std::map<std::string, std::chrono::system_clock::time_point, std::less<>> cache_;
};

}  // namespace danube::testing::detail
