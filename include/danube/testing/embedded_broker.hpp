// danube::testing::embedded_broker: an in-process Danube broker for tests, speaking the real
// broker's gRPC protocol with its client-visible behaviour (v0.15.1). See docs/embedded-broker.md
// for what it reproduces and where it deliberately differs.
//
//   auto broker = danube::testing::embedded_broker::start();   // 127.0.0.1, ephemeral port
//   auto client = danube::client::builder().service_url(broker->url()).build();
#pragma once

#include <danube/error.hpp>
#include <danube/testing/broker_options.hpp>
#include <danube/testing/detail/broker_server.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace danube::testing {

class embedded_broker {
 public:
  // Starts listening before returning. Failures (a malformed address, a port in use) are errors,
  // never exceptions.
  [[nodiscard]] static result<embedded_broker> start(const broker_options& options = {}) {
    auto server = detail::broker_server::start(options);
    if (!server) {
      return std::unexpected(std::move(server.error()));
    }
    return embedded_broker(std::move(*server));
  }

  embedded_broker(const embedded_broker&) = delete;
  embedded_broker& operator=(const embedded_broker&) = delete;
  embedded_broker(embedded_broker&&) noexcept = default;
  embedded_broker& operator=(embedded_broker&& other) noexcept {
    if (this != &other) {
      stop();
      impl_ = std::move(other.impl_);
    }
    return *this;
  }
  ~embedded_broker() { stop(); }

  // "http://127.0.0.1:<port>": the service URL for clients, and the broker_url / connect_url this
  // broker advertises in lookup answers. Empty for a moved-from broker.
  [[nodiscard]] std::string url() const { return impl_ ? impl_->url() : std::string(); }
  [[nodiscard]] std::uint16_t port() const noexcept { return impl_ ? impl_->port() : std::uint16_t{0}; }

  // Ends every open stream (clients see UNAVAILABLE), shuts the server down within a bounded grace
  // period and waits for every call to complete. Idempotent; the destructor calls it.
  void stop() {
    if (impl_) {
      impl_->stop();
    }
  }

  // Introspection for tests; still answers after stop().

  // The topics (and partitions) this broker serves, sorted.
  [[nodiscard]] std::vector<std::string> topics() const {
    return impl_ ? impl_->state().topic_names() : std::vector<std::string>{};
  }

  // How many consumers of `topic` have an open ReceiveMessages stream: wait for this before
  // publishing to consumers that must be attached.
  [[nodiscard]] std::size_t streaming_consumers(std::string_view topic) const {
    return impl_ ? impl_->state().streaming_consumers(topic) : 0;
  }

 private:
  explicit embedded_broker(std::unique_ptr<detail::broker_server> impl) noexcept : impl_(std::move(impl)) {}

  std::unique_ptr<detail::broker_server> impl_;
};

}  // namespace danube::testing
