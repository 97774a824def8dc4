// danube.ProducerService: CreateProducer and SendMessage.
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/detail/broker_state.hpp>
#include <danube/testing/detail/unary_answer.hpp>

#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

class producer_service final : public wire::ProducerService::CallbackService {
 public:
  explicit producer_service(broker_state& state) : state_(state) {}

  grpc::ServerUnaryReactor* CreateProducer(grpc::CallbackServerContext* context, const wire::ProducerRequest* request,
                                           wire::ProducerResponse* response) override {
    return answer(context, [&]() -> grpc::Status {
      const auto id = state_.create_producer(*request);
      if (!id) {
        return id.error();
      }
      response->set_request_id(request->request_id());
      response->set_producer_id(*id);
      response->set_producer_name(request->producer_name());
      return grpc::Status::OK;
    });
  }

  // Answers once the message is dispatched; the assigned offset is not returned, as upstream.
  grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* context, const wire::StreamMessage* request,
                                        wire::MessageResponse* response) override {
    return answer(context, [&]() -> grpc::Status {
      if (auto published = state_.publish(*request); !published) {
        return published.error();
      }
      response->set_request_id(request->request_id());
      return grpc::Status::OK;
    });
  }

 private:
  broker_state& state_;
};

}  // namespace danube::testing::detail
