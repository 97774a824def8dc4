// danube.HealthCheck: OK while a producer or consumer is alive on this broker, CLOSE otherwise.
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/detail/broker_state.hpp>
#include <danube/testing/detail/unary_answer.hpp>

#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

class health_service final : public wire::HealthCheck::CallbackService {
 public:
  explicit health_service(broker_state& state) : state_(state) {}

  // An unknown id is CLOSE, never an error: clients re-create on CLOSE.
  grpc::ServerUnaryReactor* HealthCheck(grpc::CallbackServerContext* context, const wire::HealthCheckRequest* request,
                                        wire::HealthCheckResponse* response) override {
    return answer(context, [&]() -> grpc::Status {
      bool alive = false;
      switch (static_cast<int>(request->client())) {
        case wire::HealthCheckRequest::Producer: alive = state_.producer_alive(request->id()); break;
        case wire::HealthCheckRequest::Consumer: alive = state_.consumer_alive(request->id()); break;
        default: return {grpc::StatusCode::INVALID_ARGUMENT, "Invalid client type"};
      }
      response->set_status(alive ? wire::HealthCheckResponse::OK : wire::HealthCheckResponse::CLOSE);
      return grpc::Status::OK;
    });
  }

 private:
  broker_state& state_;
};

}  // namespace danube::testing::detail
