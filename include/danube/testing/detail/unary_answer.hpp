// The one path every unary RPC of the embedded broker answers through.
#pragma once

#include <danube/testing/detail/call_gate.hpp>
#include <danube/testing/rpc.hpp>

#include <cstddef>
#include <exception>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <google/protobuf/message_lite.h>
#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

// The request size the real broker decodes (tonic's default limit, never raised upstream).
inline constexpr std::size_t max_decoded_request_bytes = std::size_t{4} * 1024 * 1024;
// What gRPC itself accepts, so that requests between the two limits reach answer() and get
// tonic's OUT_OF_RANGE; beyond it gRPC answers RESOURCE_EXHAUSTED (docs/embedded-broker.md).
inline constexpr int max_received_request_bytes = 16 * 1024 * 1024;

// tonic's refusal of a request over its decode limit: OUT_OF_RANGE, which clients do not retry
// (gRPC C++ would answer RESOURCE_EXHAUSTED, which they do).
[[nodiscard]] inline std::optional<grpc::Status> oversized(const google::protobuf::MessageLite& request) {
  const std::size_t size = request.ByteSizeLong();
  if (size <= max_decoded_request_bytes) {
    return std::nullopt;
  }
  return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                      fmt::format("Error, decoded message length too large: found {} bytes, the limit is: {} bytes",
                                  size, max_decoded_request_bytes));
}

// Passes the call through `gate` (counting, injected faults, authentication), refuses a request
// over the decode limit as tonic does (after authentication: tonic's interceptor sees the call
// before its body is decoded), runs `handler` (which fills the response and returns the status)
// unless the gate refused the call, and
// finishes the call with that status, at once or after an injected delay. A hanging call is
// handed to the gate's deferred answers without running the handler. An exception never reaches
// gRPC's threads: it becomes INTERNAL.
template <class Handler>
[[nodiscard]] grpc::ServerUnaryReactor* answer(call_gate& gate, rpc method, grpc::CallbackServerContext* context,
                                               const google::protobuf::MessageLite& request, Handler&& handler) {
  grpc::Status status;
  try {
    auto admitted = gate.admit(method, *context);
    if (admitted.hang) {
      return gate.deferred().never();
    }
    if (admitted.refusal) {
      status = std::move(*admitted.refusal);
    } else if (auto too_large = oversized(request)) {
      status = std::move(*too_large);
    } else {
      status = std::forward<Handler>(handler)();
    }
    if (admitted.delay > std::chrono::milliseconds::zero()) {
      // The broker has acted; only its answer is late.
      return gate.deferred().later(std::move(status), admitted.delay);
    }
  } catch (const std::exception& e) {
    status = grpc::Status(grpc::StatusCode::INTERNAL, e.what());
  } catch (...) {
    status = grpc::Status(grpc::StatusCode::INTERNAL, "The embedded broker failed to answer");
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

}  // namespace danube::testing::detail
