// Producer and consumer ids: random non-zero u64 values, as the real broker hands out.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace danube::testing::detail {

class id_generator {
 public:
  id_generator() : engine_(seed_()) {}

  // A fresh id for which `taken(id)` is false. Randomness (rather than a counter) keeps clients
  // from relying on ids being small, ordered or reused across brokers.
  template <class Taken>
  [[nodiscard]] std::uint64_t next(const Taken& taken) {
    for (;;) {
      const std::uint64_t id = engine_();
      if (id != 0 && !taken(id)) {
        return id;
      }
    }
  }

 private:
  static std::uint64_t seed_() noexcept {
    const auto clock = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    try {
      std::random_device device;
      return (static_cast<std::uint64_t>(device()) << 32U) ^ device() ^ clock;
    } catch (...) {
      // No entropy source: ids stay unique per broker, only less unpredictable.
      return clock;
    }
  }

  std::mt19937_64 engine_;
};

}  // namespace danube::testing::detail
