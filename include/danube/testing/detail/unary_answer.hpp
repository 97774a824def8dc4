// The one path every unary RPC of the embedded broker answers through.
#pragma once

#include <danube/testing/detail/call_gate.hpp>
#include <danube/testing/rpc.hpp>

#include <exception>
#include <utility>

#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

// Passes the call through `gate` (counting, injected faults, authentication), runs `handler`
// (which fills the response and returns the status) unless the gate refused the call, and
// finishes the call with that status, at once or after an injected delay. A hanging call is
// handed to the gate's deferred answers without running the handler. An exception never reaches
// gRPC's threads: it becomes INTERNAL.
template <class Handler>
[[nodiscard]] grpc::ServerUnaryReactor* answer(call_gate& gate, rpc method, grpc::CallbackServerContext* context,
                                               Handler&& handler) {
  grpc::Status status;
  try {
    auto admitted = gate.admit(method, *context);
    if (admitted.hang) {
      return gate.deferred().never();
    }
    if (admitted.refusal) {
      status = std::move(*admitted.refusal);
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
