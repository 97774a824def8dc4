// danube.ProducerService: CreateProducer and SendMessage.
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/detail/broker_state.hpp>
#include <danube/testing/detail/call_gate.hpp>
#include <danube/testing/detail/cluster_metadata.hpp>
#include <danube/testing/detail/unary_answer.hpp>
#include <danube/testing/rpc.hpp>

#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

class producer_service final : public wire::ProducerService::CallbackService {
 public:
  producer_service(broker_state& state, call_gate& gate, const topic_ownership& ownership)
      : state_(state), gate_(gate), ownership_(ownership) {}

  // In a cluster, a new topic is created (and owned) where CreateProducer lands; a topic another
  // broker owns is UNAVAILABLE ("redo the Lookup request").
  grpc::ServerUnaryReactor* CreateProducer(grpc::CallbackServerContext* context, const wire::ProducerRequest* request,
                                           wire::ProducerResponse* response) override {
    return answer(gate_, rpc::create_producer, context, *request, [&]() -> grpc::Status {
      const auto id = ownership_.serve(request->topic_name(), true, [&] { return state_.create_producer(*request); });
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
    return answer(gate_, rpc::send_message, context, *request, [&]() -> grpc::Status {
      if (auto published = state_.publish(*request); !published) {
        return published.error();
      }
      response->set_request_id(request->request_id());
      return grpc::Status::OK;
    });
  }

 private:
  broker_state& state_;
  call_gate& gate_;
  const topic_ownership& ownership_;
};

}  // namespace danube::testing::detail
