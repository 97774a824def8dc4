// Stream operations the broker state decides under its lock and carries out after releasing it.
#pragma once

#include <danube/testing/detail/delivery_stream.hpp>

#include <memory>
#include <utility>
#include <vector>

#include <grpcpp/support/status.h>

namespace danube::testing::detail {

// Deferred because a stream operation may complete inline and call back into the state, and
// because nothing that can block may run under the state lock.
class stream_effects {
 public:
  void wake(std::shared_ptr<delivery_stream> stream) { to_wake_.push_back(std::move(stream)); }

  void end(std::shared_ptr<delivery_stream> stream, grpc::Status status) {
    to_end_.emplace_back(std::move(stream), std::move(status));
  }

  // Call with no lock held.
  void run() {
    for (auto& [stream, status] : to_end_) {
      stream->end(std::move(status));
    }
    for (auto& stream : to_wake_) {
      stream->wake();
    }
    to_end_.clear();
    to_wake_.clear();
  }

 private:
  std::vector<std::shared_ptr<delivery_stream>> to_wake_;
  std::vector<std::pair<std::shared_ptr<delivery_stream>, grpc::Status>> to_end_;
};

}  // namespace danube::testing::detail
