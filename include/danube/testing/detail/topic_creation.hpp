// Whether a new topic may be created next to the existing ones: a partitioned topic (its partitions
// "<base>-part-<i>") and a non-partitioned topic of the same base name never coexist
// (docs/protocol.md §2.2, §3). Checked against the broker's own topics and, in a cluster, against
// every topic of the cluster (upstream checks its replicated metadata, topic_cluster.rs).
#pragma once

#include <danube/testing/detail/status.hpp>
#include <danube/testing/detail/topic.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <grpcpp/support/status.h>

namespace danube::testing::detail {

using topic_map = std::map<std::string, topic, std::less<>>;

// For `name`, which does not exist yet. "Partitioned" is read off the name alone: a name containing
// "-part-" is a partition of everything before its last "-part-". A non-partitioned name is refused
// while any topic's name *starts with* it, counted as its partitions: upstream's plain prefix match
// over its metadata keys, so /default/foo is refused while /default/foobar exists (QUIRK, reproduced).
// `topics` is any map ordered by name (the broker's topics, or the cluster's owners).
template <class SortedByName>
[[nodiscard]] status_or<void> check_topic_creation(const SortedByName& topics, std::string_view name) {
  constexpr std::string_view marker = "-part-";
  if (const auto at = name.rfind(marker); at != std::string_view::npos) {
    const std::string_view base = name.substr(0, at);
    if (topics.contains(base)) {
      return reject(grpc::StatusCode::ALREADY_EXISTS,
                    fmt::format("Cannot create partitioned topic '{}': a non-partitioned topic '{}' already exists. "
                                "Delete the non-partitioned topic first.",
                                name, base));
    }
    return {};
  }
  std::size_t partitions = 0;
  for (auto it = topics.lower_bound(name); it != topics.end() && it->first.starts_with(name); ++it) {
    ++partitions;
  }
  if (partitions > 0) {
    return reject(
        grpc::StatusCode::ALREADY_EXISTS,
        fmt::format("Cannot create topic '{}': partitioned topics with this base name already exist (found {} "
                    "partitions). Delete the partitioned topics first.",
                    name, partitions));
  }
  return {};
}

}  // namespace danube::testing::detail
