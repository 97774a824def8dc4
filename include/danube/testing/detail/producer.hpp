// A producer as the broker keeps it.
#pragma once

#include <cstdint>
#include <string>

namespace danube::testing::detail {

struct producer {
  std::uint64_t id = 0;
  std::string name;
  std::string topic;
  // Stored, never enforced: the real broker does not make Exclusive producers exclusive.
  int access_mode = 0;
  // False once the topic is closed under the producer (unload, delete, move): HealthCheck then
  // answers CLOSE although the id is still known.
  bool connected = true;
};

}  // namespace danube::testing::detail
