// Topic ownership shared by the brokers of an embedded_cluster (the real cluster keeps it in its
// Raft metadata store), and one broker's view of it. A standalone broker has no metadata: every
// topic it serves is its own.
#pragma once

#include <danube/testing/detail/status.hpp>
#include <danube/testing/detail/topic_creation.hpp>
#include <danube/topic_name.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <grpcpp/support/status.h>

namespace danube::testing::detail {

class cluster_metadata {
 public:
  explicit cluster_metadata(std::size_t brokers) : urls_(brokers) {}

  [[nodiscard]] std::size_t size() const noexcept { return urls_.size(); }

  // The URL broker `index` advertises (as broker_url and connect_url); set when it starts.
  void set_url(std::size_t index, std::string url) {
    const std::lock_guard lock(mutex_);
    if (index < urls_.size()) {
      urls_[index] = std::move(url);
    }
  }
  [[nodiscard]] std::string url(std::size_t index) const {
    const std::lock_guard lock(mutex_);
    return index < urls_.size() ? urls_[index] : std::string();
  }

  [[nodiscard]] std::optional<std::size_t> owner(std::string_view topic) const {
    const std::lock_guard lock(mutex_);
    const auto found = owners_.find(topic);
    return found == owners_.end() ? std::nullopt : std::optional<std::size_t>(found->second);
  }

  // Every topic of the cluster, sorted (TopicPartitions answers from this on any broker).
  [[nodiscard]] std::vector<std::string> topics() const {
    const std::lock_guard lock(mutex_);
    std::vector<std::string> names;
    names.reserve(owners_.size());
    for (const auto& [name, owner] : owners_) {
      names.push_back(name);
    }
    return names;
  }

  // Runs `operation` on broker `self` for `topic` if this broker owns it, or claims it first when it
  // is new and `may_create` (CreateProducer creates topics where it lands; the claim is dropped
  // again if `operation` fails). A topic owned by another broker is UNAVAILABLE, as the real broker
  // answers; topic moves wait until `operation` returns.
  template <class Operation>
  [[nodiscard]] auto serve(std::size_t self, std::string_view topic, bool may_create, Operation operation)
      -> decltype(operation()) {
    const std::shared_lock moving(moves_);
    bool claimed = false;
    {
      const std::lock_guard lock(mutex_);
      const auto found = owners_.find(topic);
      if (found != owners_.end() && found->second != self) {
        return reject(grpc::StatusCode::UNAVAILABLE,
                      "The topic exists but is served by another broker, redo the Lookup request");
      }
      if (found == owners_.end() && may_create && validate_topic_name(topic)) {
        // A partitioned and a non-partitioned topic of one base name never coexist in the
        // cluster, whichever brokers own them.
        if (auto allowed = check_topic_creation(owners_, topic); !allowed) {
          return std::unexpected(std::move(allowed.error()));
        }
        owners_.emplace(std::string(topic), self);
        claimed = true;
      }
    }
    auto outcome = operation();
    if (!outcome && claimed) {
      const std::lock_guard lock(mutex_);
      if (const auto found = owners_.find(topic); found != owners_.end() && found->second == self) {
        owners_.erase(found);
      }
    }
    return outcome;
  }

  // Moves `topic` to broker `to`: `transfer(from)` unloads it from its old owner and loads it on
  // the new one while no call is being served against the ownership. False for an unknown topic.
  template <class Transfer>
  [[nodiscard]] bool move(std::string_view topic, std::size_t to, Transfer transfer) {
    const std::unique_lock moving(moves_);
    std::size_t from = 0;
    {
      const std::lock_guard lock(mutex_);
      const auto found = owners_.find(topic);
      if (found == owners_.end() || to >= urls_.size()) {
        return false;
      }
      from = std::exchange(found->second, to);
    }
    if (from != to) {
      transfer(from);
    }
    return true;
  }

 private:
  // Shared while a call is served against the ownership, exclusive while a topic moves.
  mutable std::shared_mutex moves_;
  mutable std::mutex mutex_;
  std::vector<std::string> urls_;
  std::map<std::string, std::size_t, std::less<>> owners_;
};

// One broker's view of topic ownership: its cluster and its index there, or none (standalone).
class topic_ownership {
 public:
  topic_ownership() = default;
  topic_ownership(std::shared_ptr<cluster_metadata> cluster, std::size_t self)
      : cluster_(std::move(cluster)), self_(self) {}

  [[nodiscard]] bool clustered() const noexcept { return cluster_ != nullptr; }
  [[nodiscard]] std::size_t index() const noexcept { return self_; }

  void advertise(std::string url) const {
    if (cluster_) {
      cluster_->set_url(self_, std::move(url));
    }
  }

  // CreateProducer (`may_create`) and Subscribe run through here; see cluster_metadata::serve.
  template <class Operation>
  [[nodiscard]] auto serve(std::string_view topic, bool may_create, Operation operation) const
      -> decltype(operation()) {
    if (!cluster_) {
      return operation();
    }
    return cluster_->serve(self_, topic, may_create, std::move(operation));
  }

  // The URL of the broker that owns `topic`, when that is another broker (a Redirect answer).
  [[nodiscard]] std::optional<std::string> redirect(std::string_view topic) const {
    if (!cluster_) {
      return std::nullopt;
    }
    const auto owner = cluster_->owner(topic);
    if (!owner || *owner == self_) {
      return std::nullopt;
    }
    auto url = cluster_->url(*owner);
    if (url.empty()) {
      return std::nullopt;
    }
    return url;
  }

  // TopicPartitions from the cluster-wide metadata (any broker answers the same): the topic
  // itself if it exists, else every topic starting with `topic_name`, sorted; std::nullopt for a
  // standalone broker, which answers from its own topics.
  [[nodiscard]] std::optional<std::vector<std::string>> partitions(std::string_view topic_name) const {
    if (!cluster_) {
      return std::nullopt;
    }
    std::vector<std::string> names;
    for (auto& name : cluster_->topics()) {
      if (name == topic_name) {
        return std::vector<std::string>{std::move(name)};
      }
      if (name.starts_with(topic_name)) {
        names.push_back(std::move(name));
      }
    }
    return names;
  }

 private:
  std::shared_ptr<cluster_metadata> cluster_;
  std::size_t self_ = 0;
};

}  // namespace danube::testing::detail
