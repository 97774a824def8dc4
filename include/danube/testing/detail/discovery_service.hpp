// danube.Discovery: TopicLookup and TopicPartitions.
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/detail/broker_state.hpp>
#include <danube/testing/detail/unary_answer.hpp>

#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

class discovery_service final : public wire::Discovery::CallbackService {
 public:
  explicit discovery_service(broker_state& state) : state_(state) {}

  // A served topic answers Connect with this broker's own URL for both broker_url and connect_url
  // (no proxy). The real broker never answers Failed; errors are statuses.
  grpc::ServerUnaryReactor* TopicLookup(grpc::CallbackServerContext* context, const wire::TopicLookupRequest* request,
                                        wire::TopicLookupResponse* response) override {
    return answer(context, [&]() -> grpc::Status {
      auto url = state_.lookup(request->topic());
      if (!url) {
        return std::move(url.error());
      }
      response->set_request_id(request->request_id());
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
    return answer(context, [&]() -> grpc::Status {
      auto names = state_.partitions(request->topic());
      if (!names) {
        return std::move(names.error());
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
};

}  // namespace danube::testing::detail
