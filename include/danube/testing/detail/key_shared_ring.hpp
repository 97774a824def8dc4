// KeyShared routing: the routing key of a message and the consistent hash ring that maps keys to
// consumers (docs/protocol.md §6.3).
#pragma once

#include <danube/detail/proto.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace danube::testing::detail {

namespace wire = ::danube::detail::wire;

// The key KeyShared routes by: the message's routing_key when present, else its producer_name.
[[nodiscard]] inline const std::string& effective_routing_key(const wire::StreamMessage& message) noexcept {
  return message.has_routing_key() ? message.routing_key() : message.producer_name();
}

// 64-bit FNV-1a.
[[nodiscard]] constexpr std::uint64_t fnv1a_64(std::string_view bytes) noexcept {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : bytes) {
    hash ^= static_cast<std::uint8_t>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// The ring's 32-bit hash: FNV-1a 64 folded (high ^ low), then murmur3's fmix32 finalizer.
[[nodiscard]] constexpr std::uint32_t ring_hash(std::string_view bytes) noexcept {
  const std::uint64_t wide = fnv1a_64(bytes);
  auto h = static_cast<std::uint32_t>((wide >> 32U) ^ wide);
  h ^= h >> 16U;
  h *= 0x85ebca6bU;
  h ^= h >> 13U;
  h *= 0xc2b2ae35U;
  h ^= h >> 16U;
  return h;
}

// 100 virtual nodes per consumer at ring_hash("{consumer_id}-{vnode}"); a key belongs to the first
// node at or after ring_hash(key), wrapping around. Consumer ids are random, so which consumer a key
// lands on differs from run to run; only the affinity is stable while the membership is.
class key_shared_ring {
 public:
  static constexpr std::size_t vnodes_per_consumer = 100;

  // Makes `members` (consumer ids, in join order) the ring's consumers; rebuilt only on a change.
  void assign(std::span<const std::uint64_t> members) {
    if (std::ranges::equal(members, members_)) {
      return;
    }
    members_.assign(members.begin(), members.end());
    nodes_.clear();
    nodes_.reserve(members_.size() * vnodes_per_consumer);
    for (std::size_t index = 0; index < members_.size(); ++index) {
      for (std::size_t vnode = 0; vnode < vnodes_per_consumer; ++vnode) {
        nodes_.emplace_back(ring_hash(fmt::format("{}-{}", members_[index], vnode)), index);
      }
    }
    std::ranges::stable_sort(nodes_, {}, &node::first);
  }

  // The consumer for `key` among the members that `eligible(consumer_id)` admits (their key filters):
  // none → nullopt (the broker skips the message), one → that one, several → the ring restricted to
  // them. Walking the full ring to the first eligible node is the same as looking the key up on the
  // restricted ring.
  template <class Eligible>
  [[nodiscard]] std::optional<std::uint64_t> owner(std::string_view key, const Eligible& eligible) const {
    std::vector<bool> admitted(members_.size());
    bool any = false;
    for (std::size_t index = 0; index < members_.size(); ++index) {
      admitted[index] = eligible(members_[index]);
      any = any || admitted[index];
    }
    if (!any) {
      return std::nullopt;
    }
    const std::uint32_t hash = ring_hash(key);
    const auto start =
        static_cast<std::size_t>(std::ranges::lower_bound(nodes_, hash, {}, &node::first) - nodes_.begin());
    for (std::size_t step = 0; step < nodes_.size(); ++step) {
      const node& candidate = nodes_[(start + step) % nodes_.size()];
      if (admitted[candidate.second]) {
        return members_[candidate.second];
      }
    }
    return std::nullopt;
  }

 private:
  using node = std::pair<std::uint32_t, std::size_t>;  // (hash, index into members_)

  std::vector<std::uint64_t> members_;
  std::vector<node> nodes_;  // sorted by hash
};

}  // namespace danube::testing::detail
