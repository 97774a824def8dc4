// How the broker state reports an outcome: the gRPC status a real broker would answer with.
#pragma once

#include <expected>
#include <string>

#include <grpcpp/support/status.h>

namespace danube::testing::detail {

template <class T>
using status_or = std::expected<T, grpc::Status>;

[[nodiscard]] inline std::unexpected<grpc::Status> reject(grpc::StatusCode code, const std::string& message) {
  return std::unexpected(grpc::Status(code, message));
}

}  // namespace danube::testing::detail
