// Options of the embedded test broker (see embedded_broker.hpp).
#pragma once

#include <cstddef>
#include <string>

namespace danube::testing {

struct broker_options {
  // HOST:PORT to listen on; port 0 picks a free ephemeral port. The broker advertises
  // "http://HOST:PORT" (with the actual port) in its lookup answers, as the real broker advertises
  // its bind address.
  std::string listen_address = "127.0.0.1:0";
  // Messages a non-reliable consumer may have dispatched but not yet written to its stream (also
  // while it is subscribed but has no stream yet); further messages for it are dropped. The real
  // broker buffers 4 in its consumer channel plus 4 in the gRPC response channel and drops beyond
  // that. The larger default keeps tests deterministic; set 8 to reproduce the real drop point.
  std::size_t consumer_buffer = 1000;
};

}  // namespace danube::testing
