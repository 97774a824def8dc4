// A topic served by this broker (a partition is an ordinary topic named "<base>-part-<i>").
#pragma once

#include <danube/testing/detail/reliable_log.hpp>
#include <danube/testing/detail/subscription.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace danube::testing::detail {

// The wire values of DispatchStrategy, fixed per topic by the producer that created it.
enum class dispatch_strategy : std::uint8_t { non_reliable = 0, reliable = 1 };

// Unknown wire values count as "not given", as the real broker treats them.
[[nodiscard]] constexpr std::optional<dispatch_strategy> dispatch_strategy_from_wire(int value) noexcept {
  if (value == 0) {
    return dispatch_strategy::non_reliable;
  }
  if (value == 1) {
    return dispatch_strategy::reliable;
  }
  return std::nullopt;
}

struct topic {
  std::string name;
  dispatch_strategy strategy = dispatch_strategy::non_reliable;
  // Producer ids by producer name: the same name on the same topic gets the same id back.
  std::map<std::string, std::uint64_t, std::less<>> producers;
  // Ordered so that fan-out visits subscriptions in a reproducible order.
  std::map<std::string, subscription, std::less<>> subscriptions;
  // The offset the next reliable message gets: 0-based and per topic, like the broker's WAL.
  std::uint64_t next_offset = 0;
  // Reliable topics: the stored messages some subscription has yet to read.
  reliable_log log;
};

}  // namespace danube::testing::detail
