// danube.ConsumerService: Subscribe, ReceiveMessages, Ack and Nack.
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/detail/broker_state.hpp>
#include <danube/testing/detail/call_gate.hpp>
#include <danube/testing/detail/cluster_metadata.hpp>
#include <danube/testing/detail/receive_stream.hpp>
#include <danube/testing/detail/unary_answer.hpp>
#include <danube/testing/rpc.hpp>

#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

class consumer_service final : public wire::ConsumerService::CallbackService {
 public:
  consumer_service(broker_state& state, call_gate& gate, const topic_ownership& ownership)
      : state_(state), gate_(gate), ownership_(ownership) {}

  grpc::ServerUnaryReactor* Subscribe(grpc::CallbackServerContext* context, const wire::ConsumerRequest* request,
                                      wire::ConsumerResponse* response) override {
    return answer(gate_, rpc::subscribe, context, *request, [&]() -> grpc::Status {
      // In a cluster, a topic another broker owns is UNAVAILABLE ("redo the Lookup request").
      const auto id = ownership_.serve(request->topic_name(), false, [&] { return state_.subscribe(*request); });
      if (!id) {
        return id.error();
      }
      response->set_request_id(request->request_id());
      response->set_consumer_id(*id);
      response->set_consumer_name(request->consumer_name());
      return grpc::Status::OK;
    });
  }

  // The stream never ends on its own: only a takeover, the client leaving, or shutdown ends it.
  grpc::ServerWriteReactor<wire::StreamMessage>* ReceiveMessages(grpc::CallbackServerContext* context,
                                                                 const wire::ReceiveRequest* request) override {
    if (auto refused = gate_.admit_stream(rpc::receive_messages, *context)) {
      return refused_stream::open(std::move(*refused));
    }
    return receive_stream::open(state_, request->consumer_id());
  }

  grpc::ServerUnaryReactor* Ack(grpc::CallbackServerContext* context, const wire::AckRequest* request,
                                wire::AckResponse* response) override {
    return answer(gate_, rpc::ack, context, *request, [&]() -> grpc::Status {
      if (auto acked = state_.ack(*request); !acked) {
        return acked.error();
      }
      response->set_request_id(request->request_id());
      return grpc::Status::OK;
    });
  }

  grpc::ServerUnaryReactor* Nack(grpc::CallbackServerContext* context, const wire::NackRequest* request,
                                 wire::NackResponse* response) override {
    return answer(gate_, rpc::nack, context, *request, [&]() -> grpc::Status {
      if (auto nacked = state_.nack(*request); !nacked) {
        return nacked.error();
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
