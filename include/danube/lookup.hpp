// The answer to "which broker serves this topic?" (Discovery.TopicLookup).
#pragma once

#include <cstdint>
#include <string>

namespace danube {

enum class lookup_kind : std::uint8_t {
  redirect,  // another broker serves the topic: use its connect_url
  connect,   // the broker asked serves the topic itself
};

struct topic_lookup {
  lookup_kind kind = lookup_kind::connect;
  std::string broker_url;   // the serving broker's identity
  std::string connect_url;  // where clients dial it (a proxy or ingress, when proxy is true)
  bool proxy = false;       // calls then carry `x-danube-broker-url: <broker_url>`
};

}  // namespace danube
