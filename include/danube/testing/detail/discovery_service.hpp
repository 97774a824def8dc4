// danube.Discovery: TopicLookup and TopicPartitions.
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/detail/broker_state.hpp>
#include <danube/testing/detail/call_gate.hpp>
#include <danube/testing/detail/cluster_metadata.hpp>
#include <danube/testing/detail/unary_answer.hpp>
#include <danube/testing/rpc.hpp>

#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

class discovery_service final : public wire::Discovery::CallbackService {
 public:
  discovery_service(broker_state& state, call_gate& gate, const topic_ownership& ownership)
      : state_(state), gate_(gate), ownership_(ownership) {}

  // A served topic answers Connect with this broker's own URL for both broker_url and connect_url
  // (no proxy); in a cluster, a topic another broker owns answers Redirect with that broker's URL
  // (no proxy either). The real broker never answers Failed (errors are statuses); the embedded
  // one does when a test asks for it (answer_lookup_failed).
  grpc::ServerUnaryReactor* TopicLookup(grpc::CallbackServerContext* context, const wire::TopicLookupRequest* request,
                                        wire::TopicLookupResponse* response) override {
    return answer(gate_, rpc::topic_lookup, context, *request, [&]() -> grpc::Status {
      response->set_request_id(request->request_id());
      if (gate_.faults().take_lookup_failed()) {
        response->set_response_type(wire::TopicLookupResponse::Failed);
        return grpc::Status::OK;
      }
      auto url = state_.lookup(request->topic());
      if (!url && url.error().error_code() == grpc::StatusCode::NOT_FOUND) {
        if (auto owner = ownership_.redirect(request->topic())) {
          response->set_response_type(wire::TopicLookupResponse::Redirect);
          response->set_broker_url(*owner);
          response->set_connect_url(std::move(*owner));
          response->set_proxy(false);
          return grpc::Status::OK;
        }
      }
      if (!url) {
        return std::move(url.error());
      }
      response->set_response_type(wire::TopicLookupResponse::Connect);
      response->set_broker_url(*url);
      response->set_connect_url(std::move(*url));
      response->set_proxy(false);
      return grpc::Status::OK;
    });
  }

  grpc::ServerUnaryReactor* TopicPartitions(grpc::CallbackServerContext* context,
                                            const wire::TopicLookupRequest* request,
                                            wire::TopicPartitionsResponse* response) override {
    return answer(gate_, rpc::topic_partitions, context, *request, [&]() -> grpc::Status {
      auto names = state_.partitions(request->topic());
      if (!names) {
        return std::move(names.error());
      }
      // In a cluster every broker answers from the shared metadata.
      if (auto cluster_wide = ownership_.partitions(request->topic())) {
        names = std::move(*cluster_wide);
      }
      response->set_request_id(request->request_id());
      for (auto& name : *names) {
        response->add_partitions(std::move(name));
      }
      return grpc::Status::OK;
    });
  }

 private:
  broker_state& state_;
  call_gate& gate_;
  const topic_ownership& ownership_;
};

}  // namespace danube::testing::detail
