// Definitions of embedded_cluster.hpp: included by it (header-only) or compiled once by
// src/danube_testing.cpp (DANUBE_SEPARATE_COMPILATION; see danube/detail/config.hpp).
#pragma once

#include <danube/testing/detail/broker_server.hpp>
#include <danube/testing/detail/cluster_metadata.hpp>
#include <danube/testing/embedded_cluster.hpp>

#include <fmt/format.h>

#include <danube/detail/config.hpp>

namespace danube::testing {

DANUBE_DECL result<embedded_cluster> embedded_cluster::start(std::size_t brokers, const broker_options& options) {
  if (brokers == 0) {
    return unexpected_error(errc::invalid_argument, "an embedded_cluster needs at least one broker");
  }
  auto metadata = std::make_shared<detail::cluster_metadata>(brokers);
  // One schema registry for the cluster, as the real one lives in the cluster's metadata.
  auto registry = std::make_shared<detail::schema_registry_state>();
  std::vector<embedded_broker> started;
  started.reserve(brokers);
  for (std::size_t i = 0; i < brokers; ++i) {
    auto server = detail::broker_server::start(options, detail::topic_ownership(metadata, i), {}, registry);
    if (!server) {
      return std::unexpected(std::move(server.error()));
    }
    started.push_back(embedded_broker(std::move(*server)));
  }
  return embedded_cluster(std::move(metadata), std::move(started));
}

DANUBE_DECL embedded_cluster::embedded_cluster(std::shared_ptr<detail::cluster_metadata> metadata,
                                               std::vector<embedded_broker> brokers)
    : metadata_(std::move(metadata)), brokers_(std::move(brokers)) {}

DANUBE_DECL std::optional<std::size_t> embedded_cluster::owner(std::string_view topic) const {
  return metadata_ ? metadata_->owner(topic) : std::nullopt;
}

DANUBE_DECL result<void> embedded_cluster::move_topic(std::string_view topic, std::size_t to) {
  if (to >= brokers_.size()) {
    return unexpected_error(errc::invalid_argument,
                            fmt::format("there is no broker {} in a cluster of {}", to, brokers_.size()));
  }
  const bool moved = metadata_->move(topic, to, [&](std::size_t from) {
    detail::broker_server* old_owner = brokers_[from].server();
    detail::broker_server* new_owner = brokers_[to].server();
    const auto unloaded = old_owner != nullptr ? old_owner->state().remove_topic(topic) : std::nullopt;
    if (new_owner != nullptr) {
      const auto taken_over = unloaded.value_or(detail::broker_state::unloaded_topic{});
      new_owner->state().adopt_topic(topic, taken_over.strategy, taken_over.next_offset);
    }
  });
  if (!moved) {
    return unexpected_error(errc::not_found, fmt::format("no broker of the cluster owns topic {}", topic));
  }
  return {};
}

DANUBE_DECL result<void> embedded_cluster::restart_broker(std::size_t index) {
  if (index >= brokers_.size()) {
    return unexpected_error(errc::invalid_argument,
                            fmt::format("there is no broker {} in a cluster of {}", index, brokers_.size()));
  }
  return brokers_[index].restart();
}

}  // namespace danube::testing
