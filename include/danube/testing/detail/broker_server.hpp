// The embedded broker's runtime: the broker state, its gRPC services, and the server carrying them.
#pragma once

#include <danube/detail/callback_queue_pin.hpp>
#include <danube/detail/pem.hpp>
#include <danube/error.hpp>
#include <danube/testing/broker_options.hpp>
#include <danube/testing/detail/auth_service.hpp>
#include <danube/testing/detail/broker_state.hpp>
#include <danube/testing/detail/call_gate.hpp>
#include <danube/testing/detail/cluster_metadata.hpp>
#include <danube/testing/detail/consumer_service.hpp>
#include <danube/testing/detail/discovery_service.hpp>
#include <danube/testing/detail/health_service.hpp>
#include <danube/testing/detail/listen_address.hpp>
#include <danube/testing/detail/producer_service.hpp>
#include <danube/testing/detail/schema_registry_state.hpp>
#include <danube/testing/detail/schema_service.hpp>
#include <danube/testing/detail/unary_answer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

class broker_server {
  struct private_tag {};

 public:
  // How long stop() lets RPCs still running after the streams were ended finish before gRPC cancels
  // them. Only a stream stuck in a write to a client that stopped reading ever needs it.
  static constexpr std::chrono::milliseconds shutdown_grace{500};

  // A topic a restarted broker serves again: its name, and its strategy and next offset.
  using adopted_topic = std::pair<std::string, broker_state::unloaded_topic>;

  broker_server(const broker_options& options, topic_ownership ownership, private_tag /*unused*/)
      : options_(options),
        state_(options),
        gate_(options.auth),
        ownership_(std::move(ownership)),
        discovery_(state_, gate_, ownership_),
        producers_(state_, gate_, ownership_),
        consumers_(state_, gate_, ownership_),
        health_(state_, gate_),
        schemas_(state_, gate_),
        auth_(gate_, options.auth) {}

  broker_server(const broker_server&) = delete;
  broker_server& operator=(const broker_server&) = delete;
  broker_server(broker_server&&) = delete;
  broker_server& operator=(broker_server&&) = delete;
  ~broker_server() { stop(); }

  // Starts a broker; `ownership` links it into a cluster (default: standalone), `adopted` are
  // topics it serves from the start (a restart), `registry` a schema registry it shares (a cluster's,
  // or its own from before a restart; default: a new one).
  [[nodiscard]] static result<std::unique_ptr<broker_server>> start(
      const broker_options& options, topic_ownership ownership = {}, const std::vector<adopted_topic>& adopted = {},
      std::shared_ptr<schema_registry_state> registry = {}) {
    danube::detail::pin_callback_queue();  // servers share it with clients: see callback_queue_pin.hpp
    auto address = parse_listen_address(options.listen_address);
    if (!address) {
      return std::unexpected(std::move(address.error()));
    }
    if (options.consumer_buffer == 0) {
      return unexpected_error(errc::invalid_argument, "consumer_buffer must be at least 1");
    }
    auto credentials = server_credentials_(options);
    if (!credentials) {
      return std::unexpected(std::move(credentials.error()));
    }
    const bool tls = options.tls.has_value();
    auto server = std::make_unique<broker_server>(options, std::move(ownership), private_tag{});
    if (registry) {
      server->state_.use_schema_registry(std::move(registry));  // shared: a cluster, or a restart
    }
    for (const auto& [name, unloaded] : adopted) {
      server->state_.adopt_topic(name, unloaded.strategy, unloaded.next_offset);
    }
    // With a fixed port the URL is known before the first call can arrive; with port 0 no client
    // can know the port before start() returns it.
    if (address->port != 0) {
      server->state_.set_advertised_url(address->url(address->port, tls));
      server->ownership_.advertise(address->url(address->port, tls));
    }
    grpc::ServerBuilder builder;
    // gRPC sets SO_REUSEPORT by default on Linux, which would let two brokers share a port
    // silently; a second broker on a busy port must fail instead.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    // Requests over the real broker's 4 MiB are refused in answer() with tonic's status; gRPC's
    // own limit is set above it so that they get that far.
    builder.SetMaxReceiveMessageSize(max_received_request_bytes);
    int selected_port = 0;
    builder.AddListeningPort(options.listen_address, *credentials, &selected_port);
    builder.RegisterService(&server->discovery_);
    builder.RegisterService(&server->producers_);
    builder.RegisterService(&server->consumers_);
    builder.RegisterService(&server->health_);
    builder.RegisterService(&server->schemas_);
    if (options.auth.legacy_auth_service) {
      builder.RegisterService(&server->auth_);
    }
    server->server_ = builder.BuildAndStart();
    if (!server->server_ || selected_port <= 0 || selected_port > 65535) {
      return unexpected_error(
          errc::unavailable,
          fmt::format("Unable to listen on {}: the address is in use or cannot be bound", options.listen_address));
    }
    server->port_ = static_cast<std::uint16_t>(selected_port);
    server->url_ = address->url(server->port_, tls);
    server->state_.set_advertised_url(server->url_);
    server->ownership_.advertise(server->url_);
    return server;
  }

  [[nodiscard]] const std::string& url() const noexcept { return url_; }
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] broker_state& state() noexcept { return state_; }
  [[nodiscard]] const broker_state& state() const noexcept { return state_; }
  [[nodiscard]] call_gate& gate() noexcept { return gate_; }
  [[nodiscard]] const call_gate& gate() const noexcept { return gate_; }
  [[nodiscard]] const broker_options& options() const noexcept { return options_; }
  [[nodiscard]] const topic_ownership& ownership() const noexcept { return ownership_; }

  // Ends every open stream, then shuts the server down and waits for every call to complete.
  // Concurrent callers all return once the shutdown is complete.
  void stop() {
    std::call_once(stopped_, [this] {
      state_.close();
      gate_.close();
      if (server_) {
        server_->Shutdown(std::chrono::system_clock::now() + shutdown_grace);
        server_->Wait();
      }
    });
  }

 private:
  // Plaintext, or TLS with the options' PEM material checked first, so that a mistake is an
  // error naming the field rather than a server that fails every handshake.
  [[nodiscard]] static result<std::shared_ptr<grpc::ServerCredentials>> server_credentials_(
      const broker_options& options) {
    if (!options.tls) {
      return grpc::InsecureServerCredentials();
    }
    const broker_tls& tls = *options.tls;
    const std::string chain_field = "broker_options.tls.certificate_chain";
    const std::string key_field = "broker_options.tls.private_key";
    const std::string ca_field = "broker_options.tls.client_ca";
    if (auto ok = ::danube::detail::check_certificates("certificate", chain_field, tls.certificate_chain); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    if (auto ok = ::danube::detail::check_key_pair(chain_field, tls.certificate_chain, key_field, tls.private_key);
        !ok) {
      return std::unexpected(std::move(ok).error());
    }
    grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    if (!tls.client_ca.empty()) {
      if (auto ok = ::danube::detail::check_certificates("client CA", ca_field, tls.client_ca); !ok) {
        return std::unexpected(std::move(ok).error());
      }
      ssl.pem_root_certs = tls.client_ca;
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    ssl.pem_key_cert_pairs.push_back({tls.private_key, tls.certificate_chain});
    return grpc::SslServerCredentials(ssl);
  }

  const broker_options options_;
  // Declaration order matters: the server is destroyed first, while the services it calls, the
  // gate they answer through and the state they use still exist.
  broker_state state_;
  call_gate gate_;
  topic_ownership ownership_;
  discovery_service discovery_;
  producer_service producers_;
  consumer_service consumers_;
  health_service health_;
  schema_service schemas_;
  auth_service auth_;
  std::unique_ptr<grpc::Server> server_;
  std::string url_;
  std::uint16_t port_ = 0;
  std::once_flag stopped_;
};

}  // namespace danube::testing::detail
