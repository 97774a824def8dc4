// Definitions of embedded_broker.hpp: included by it (header-only) or compiled once by
// src/danube_testing.cpp (DANUBE_SEPARATE_COMPILATION; see danube/detail/config.hpp).
#pragma once

#include <danube/detail/grpc_status.hpp>
#include <danube/testing/detail/auth_service.hpp>
#include <danube/testing/detail/broker_server.hpp>
#include <danube/testing/detail/jwt_hs256.hpp>
#include <danube/testing/embedded_broker.hpp>

#include <grpcpp/support/status.h>

#include <danube/detail/config.hpp>

namespace danube::testing {

namespace detail {

[[nodiscard]] DANUBE_DECL result<void> as_result(const status_or<void>& outcome) {
  if (outcome) {
    return {};
  }
  return std::unexpected(::danube::detail::error_from_grpc(outcome.error()));
}

}  // namespace detail

DANUBE_DECL result<std::string> sign_token(std::string_view secret, const token_claims& claims) {
  auto token = detail::sign_hs256(secret, detail::claims_json(claims));
  if (!token) {
    return unexpected_error(errc::internal, "OpenSSL could not sign the token");
  }
  return std::move(*token);
}

DANUBE_DECL result<embedded_broker> embedded_broker::start(const broker_options& options) {
  auto server = detail::broker_server::start(options);
  if (!server) {
    return std::unexpected(std::move(server.error()));
  }
  return embedded_broker(std::move(*server));
}

DANUBE_DECL embedded_broker::embedded_broker(std::unique_ptr<detail::broker_server> impl) noexcept
    : impl_(std::move(impl)) {}

DANUBE_DECL embedded_broker::embedded_broker(embedded_broker&& other) noexcept = default;

DANUBE_DECL embedded_broker& embedded_broker::operator=(embedded_broker&& other) noexcept {
  if (this != &other) {
    stop();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

DANUBE_DECL embedded_broker::~embedded_broker() { stop(); }

DANUBE_DECL std::string embedded_broker::url() const { return impl_ ? impl_->url() : std::string(); }

DANUBE_DECL std::uint16_t embedded_broker::port() const noexcept { return impl_ ? impl_->port() : std::uint16_t{0}; }

DANUBE_DECL void embedded_broker::stop() {
  if (impl_) {
    impl_->stop();
  }
}

DANUBE_DECL result<void> embedded_broker::restart() {
  if (!impl_) {
    return unexpected_error(errc::closed, "this embedded_broker was moved from");
  }
  impl_->stop();
  auto options = impl_->options();
  const auto address = detail::parse_listen_address(options.listen_address);
  if (!address) {
    return std::unexpected(address.error());
  }
  options.listen_address = address->host + ":" + std::to_string(impl_->port());
  std::vector<detail::broker_server::adopted_topic> adopted;
  for (auto& name : impl_->state().topic_names()) {
    if (const auto unloaded = impl_->state().remove_topic(name)) {
      adopted.emplace_back(std::move(name), *unloaded);
    }
  }
  // The registry lives on, as the real one does in the cluster's metadata.
  auto fresh =
      detail::broker_server::start(options, impl_->ownership(), adopted, impl_->state().schema_registry_handle());
  if (!fresh) {
    return std::unexpected(std::move(fresh.error()));
  }
  impl_ = std::move(*fresh);
  return {};
}

DANUBE_DECL void embedded_broker::fail_next(rpc method, std::size_t count, grpc::StatusCode code, std::string message) {
  if (impl_) {
    impl_->gate().faults().fail_next(method, count, grpc::Status(code, std::move(message)));
  }
}

DANUBE_DECL void embedded_broker::answer_lookup_failed(std::size_t count) {
  if (impl_) {
    impl_->gate().faults().answer_lookup_failed(count);
  }
}

DANUBE_DECL void embedded_broker::answer_close(std::uint64_t id, bool close) {
  if (impl_) {
    impl_->gate().faults().answer_close(id, close);
  }
}

DANUBE_DECL void embedded_broker::answer_close_for_all(bool close) {
  if (impl_) {
    impl_->gate().faults().answer_close_for_all(close);
  }
}

DANUBE_DECL void embedded_broker::delay(rpc method, std::chrono::milliseconds delay) {
  if (impl_) {
    impl_->gate().faults().set_delay(method, delay);
  }
}

DANUBE_DECL void embedded_broker::never_answer(rpc method, bool never) {
  if (impl_) {
    impl_->gate().faults().set_never_answer(method, never);
  }
}

DANUBE_DECL void embedded_broker::clear_faults() {
  if (impl_) {
    impl_->gate().faults().clear();
  }
}

DANUBE_DECL std::uint64_t embedded_broker::calls(rpc method) const {
  return impl_ ? impl_->gate().faults().calls(method) : 0;
}

DANUBE_DECL std::size_t embedded_broker::held_calls() const { return impl_ ? impl_->gate().deferred().held() : 0; }

DANUBE_DECL result<std::string> embedded_broker::issue_token(const std::string& subject,
                                                             std::chrono::seconds ttl) const {
  if (!impl_) {
    return unexpected_error(errc::closed, "this embedded_broker was moved from");
  }
  auto token = detail::issue_token(impl_->options().auth, subject, ttl);
  if (!token) {
    return unexpected_error(errc::failed_precondition, token.error().error_message());
  }
  return std::move(*token);
}

DANUBE_DECL result<void> embedded_broker::create_topic(std::string_view topic, dispatch_strategy strategy,
                                                       std::uint32_t partitions) {
  if (!impl_) {
    return unexpected_error(errc::closed, "this embedded_broker was moved from");
  }
  const auto internal = strategy == dispatch_strategy::reliable ? detail::dispatch_strategy::reliable
                                                                : detail::dispatch_strategy::non_reliable;
  return detail::as_result(impl_->state().create_topic(topic, internal, partitions));
}

DANUBE_DECL result<void> embedded_broker::set_failure_policy(std::string_view topic, std::string_view subscription,
                                                             const failure_policy& policy) {
  if (!impl_) {
    return unexpected_error(errc::closed, "this embedded_broker was moved from");
  }
  return detail::as_result(impl_->state().set_failure_policy(topic, subscription, policy));
}

DANUBE_DECL std::optional<failure_policy> embedded_broker::subscription_failure_policy(
    std::string_view topic, std::string_view subscription) const {
  return impl_ ? impl_->state().failure_policy_of(topic, subscription) : std::nullopt;
}

DANUBE_DECL std::size_t embedded_broker::unacked_messages(std::string_view topic, std::string_view subscription) const {
  return impl_ ? impl_->state().unacked_messages(topic, subscription) : 0;
}

DANUBE_DECL std::vector<std::string> embedded_broker::topics() const {
  return impl_ ? impl_->state().topic_names() : std::vector<std::string>{};
}

DANUBE_DECL std::size_t embedded_broker::streaming_consumers(std::string_view topic) const {
  return impl_ ? impl_->state().streaming_consumers(topic) : 0;
}

DANUBE_DECL std::uint64_t embedded_broker::streams_without_subscribe() const {
  return impl_ ? impl_->state().streams_without_subscribe() : 0;
}

DANUBE_DECL std::vector<std::string> embedded_broker::subscriptions(std::string_view topic) const {
  return impl_ ? impl_->state().subscription_names(topic) : std::vector<std::string>{};
}

}  // namespace danube::testing
