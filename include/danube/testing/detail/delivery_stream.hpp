// The broker state's view of an open ReceiveMessages stream.
#pragma once

#include <grpcpp/support/status.h>

namespace danube::testing::detail {

// The state decides under its lock which streams to wake or end, and calls these only after
// releasing it: a stream operation may complete inline and re-enter the state.
class delivery_stream {
 public:
  delivery_stream() = default;
  delivery_stream(const delivery_stream&) = delete;
  delivery_stream& operator=(const delivery_stream&) = delete;
  virtual ~delivery_stream() = default;

  // Messages may be waiting for this stream's consumer.
  virtual void wake() = 0;
  // Finish the stream with `status` once its current write is done. Idempotent.
  virtual void end(grpc::Status status) = 0;

 protected:
  delivery_stream(delivery_stream&&) = default;
  delivery_stream& operator=(delivery_stream&&) = default;
};

}  // namespace danube::testing::detail
