// The embedded broker's runtime: the broker state, its gRPC services, and the server carrying them.
#pragma once

#include <danube/error.hpp>
#include <danube/testing/broker_options.hpp>
#include <danube/testing/detail/broker_state.hpp>
#include <danube/testing/detail/consumer_service.hpp>
#include <danube/testing/detail/discovery_service.hpp>
#include <danube/testing/detail/health_service.hpp>
#include <danube/testing/detail/listen_address.hpp>
#include <danube/testing/detail/producer_service.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

class broker_server {
  struct private_tag {};

 public:
  // How long stop() lets RPCs still running after the streams were ended finish before gRPC cancels
  // them. Only a stream stuck in a write to a client that stopped reading ever needs it.
  static constexpr std::chrono::milliseconds shutdown_grace{500};

  broker_server(std::size_t consumer_buffer, private_tag /*unused*/)
      : state_(consumer_buffer), discovery_(state_), producers_(state_), consumers_(state_), health_(state_) {}

  broker_server(const broker_server&) = delete;
  broker_server& operator=(const broker_server&) = delete;
  broker_server(broker_server&&) = delete;
  broker_server& operator=(broker_server&&) = delete;
  ~broker_server() { stop(); }

  [[nodiscard]] static result<std::unique_ptr<broker_server>> start(const broker_options& options) {
    auto address = parse_listen_address(options.listen_address);
    if (!address) {
      return std::unexpected(std::move(address.error()));
    }
    if (options.consumer_buffer == 0) {
      return unexpected_error(errc::invalid_argument, "consumer_buffer must be at least 1");
    }
    auto server = std::make_unique<broker_server>(options.consumer_buffer, private_tag{});
    // With a fixed port the URL is known before the first call can arrive; with port 0 no client
    // can know the port before start() returns it.
    if (address->port != 0) {
      server->state_.set_advertised_url(address->url(address->port));
    }
    grpc::ServerBuilder builder;
    // gRPC sets SO_REUSEPORT by default on Linux, which would let two brokers share a port
    // silently; a second broker on a busy port must fail instead.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    int selected_port = 0;
    builder.AddListeningPort(options.listen_address, grpc::InsecureServerCredentials(), &selected_port);
    builder.RegisterService(&server->discovery_);
    builder.RegisterService(&server->producers_);
    builder.RegisterService(&server->consumers_);
    builder.RegisterService(&server->health_);
    server->server_ = builder.BuildAndStart();
    if (!server->server_ || selected_port <= 0 || selected_port > 65535) {
      return unexpected_error(
          errc::unavailable,
          fmt::format("Unable to listen on {}: the address is in use or cannot be bound", options.listen_address));
    }
    server->port_ = static_cast<std::uint16_t>(selected_port);
    server->url_ = address->url(server->port_);
    server->state_.set_advertised_url(server->url_);
    return server;
  }

  [[nodiscard]] const std::string& url() const noexcept { return url_; }
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] broker_state& state() noexcept { return state_; }
  [[nodiscard]] const broker_state& state() const noexcept { return state_; }

  // Ends every open stream, then shuts the server down and waits for every call to complete.
  // Concurrent callers all return once the shutdown is complete.
  void stop() {
    std::call_once(stopped_, [this] {
      state_.close();
      if (server_) {
        server_->Shutdown(std::chrono::system_clock::now() + shutdown_grace);
        server_->Wait();
      }
    });
  }

 private:
  // Declaration order matters: the server is destroyed first, while the services it calls and the
  // state they use still exist.
  broker_state state_;
  discovery_service discovery_;
  producer_service producers_;
  consumer_service consumers_;
  health_service health_;
  std::unique_ptr<grpc::Server> server_;
  std::string url_;
  std::uint16_t port_ = 0;
  std::once_flag stopped_;
};

}  // namespace danube::testing::detail
