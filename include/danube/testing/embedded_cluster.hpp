// danube::testing::embedded_cluster: several embedded brokers in one process sharing topic
// ownership, as a Danube cluster does (docs/protocol.md §4): a topic is served by the broker that owns
// it; TopicLookup on that broker answers Connect, on any other broker Redirect to the owner; a
// topic can be moved to another broker. See docs/embedded-broker.md.
//
//   auto cluster = danube::testing::embedded_cluster::start(2);
//   auto client = danube::client::builder().service_url(cluster->url(0)).build();
//   cluster->move_topic("/default/orders", 1);
#pragma once

#include <danube/error.hpp>
#include <danube/testing/broker_options.hpp>
#include <danube/testing/embedded_broker.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <danube/detail/config.hpp>

namespace danube::testing {

namespace detail {
class cluster_metadata;
}  // namespace detail

class embedded_cluster {
 public:
  // Starts `brokers` brokers with `options` each (its listen_address must use port 0, or only the
  // first can bind). Errors as embedded_broker::start; errc::invalid_argument for zero brokers.
  [[nodiscard]] static result<embedded_cluster> start(std::size_t brokers, const broker_options& options = {});

  embedded_cluster(const embedded_cluster&) = delete;
  embedded_cluster& operator=(const embedded_cluster&) = delete;
  embedded_cluster(embedded_cluster&&) noexcept = default;
  embedded_cluster& operator=(embedded_cluster&&) noexcept = default;
  ~embedded_cluster() = default;  // each broker stops itself

  [[nodiscard]] std::size_t size() const noexcept { return brokers_.size(); }

  // Broker `index`: its URL, introspection and fault injection. The reference stays valid for the
  // cluster's lifetime, restarts included. Precondition: index < size() (std::out_of_range
  // otherwise, as std::vector::at).
  [[nodiscard]] embedded_broker& broker(std::size_t index) { return brokers_.at(index); }
  [[nodiscard]] const embedded_broker& broker(std::size_t index) const { return brokers_.at(index); }
  // Broker `index`'s URL; empty for an index out of range.
  [[nodiscard]] std::string url(std::size_t index) const {
    return index < brokers_.size() ? brokers_[index].url() : std::string();
  }

  // The index of the broker that owns `topic`, if any broker does.
  [[nodiscard]] std::optional<std::size_t> owner(std::string_view topic) const;

  // Moves `topic` to broker `to`. The old owner unloads it: its producers and consumers there are
  // forgotten (SendMessage answers NOT_FOUND, HealthCheck CLOSE) and their streams end. The new
  // owner serves it at once, with no producers and no subscriptions (consumers subscribe again).
  // errc::not_found for a topic no broker owns, errc::invalid_argument for a bad index.
  [[nodiscard]] result<void> move_topic(std::string_view topic, std::size_t to);

  // Stops broker `index` (its URL stops answering; the others still redirect to it for the
  // topics it owns).
  void stop_broker(std::size_t index) {
    if (index < brokers_.size()) {
      brokers_[index].stop();
    }
  }

  // Starts broker `index` again on the same port (see embedded_broker::restart): it serves the
  // topics it owns again, with no producers or subscriptions.
  // errc::invalid_argument for an index out of range.
  [[nodiscard]] result<void> restart_broker(std::size_t index);

  // Stops every broker.
  void stop() {
    for (auto& b : brokers_) {
      b.stop();
    }
  }

 private:
  embedded_cluster(std::shared_ptr<detail::cluster_metadata> metadata, std::vector<embedded_broker> brokers);

  std::shared_ptr<detail::cluster_metadata> metadata_;
  std::vector<embedded_broker> brokers_;
};

}  // namespace danube::testing

#if !defined(DANUBE_SEPARATE_COMPILATION)
#include <danube/testing/impl/embedded_cluster.ipp>
#endif
