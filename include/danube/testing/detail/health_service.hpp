// danube.HealthCheck: OK while a producer or consumer is alive on this broker, CLOSE otherwise.
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/detail/broker_state.hpp>
#include <danube/testing/detail/call_gate.hpp>
#include <danube/testing/detail/unary_answer.hpp>
#include <danube/testing/rpc.hpp>

#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

class health_service final : public wire::HealthCheck::CallbackService {
 public:
  health_service(broker_state& state, call_gate& gate) : state_(state), gate_(gate) {}

  // An unknown id is CLOSE, never an error: clients re-create on CLOSE. A test may force CLOSE
  // for an id (answer_close) or for everyone (answer_close_for_all).
  grpc::ServerUnaryReactor* HealthCheck(grpc::CallbackServerContext* context, const wire::HealthCheckRequest* request,
                                        wire::HealthCheckResponse* response) override {
    return answer(gate_, rpc::health_check, context, *request, [&]() -> grpc::Status {
      bool alive = false;
      switch (static_cast<int>(request->client())) {
        case wire::HealthCheckRequest::Producer: alive = state_.producer_alive(request->id()); break;
        case wire::HealthCheckRequest::Consumer: alive = state_.consumer_alive(request->id()); break;
        default: return {grpc::StatusCode::INVALID_ARGUMENT, "Invalid client type"};
      }
      alive = alive && !gate_.faults().forced_close(request->id());
      response->set_status(alive ? wire::HealthCheckResponse::OK : wire::HealthCheckResponse::CLOSE);
      return grpc::Status::OK;
    });
  }

 private:
  broker_state& state_;
  call_gate& gate_;
};

}  // namespace danube::testing::detail
