// The one path every unary RPC of the embedded broker answers through.
#pragma once

#include <exception>
#include <utility>

#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

// Runs `handler` (which fills the response and returns the status) and finishes the call with its
// status. An exception never reaches gRPC's threads: it becomes INTERNAL. Per-call concerns that
// apply to every method (authentication, injected faults and delays) belong here.
template <class Handler>
[[nodiscard]] grpc::ServerUnaryReactor* answer(grpc::CallbackServerContext* context, Handler&& handler) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Status status;
  try {
    status = std::forward<Handler>(handler)();
  } catch (const std::exception& e) {
    status = grpc::Status(grpc::StatusCode::INTERNAL, e.what());
  } catch (...) {
    status = grpc::Status(grpc::StatusCode::INTERNAL, "The embedded broker failed to answer");
  }
  reactor->Finish(std::move(status));
  return reactor;
}

}  // namespace danube::testing::detail
