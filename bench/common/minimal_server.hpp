// The least a Danube broker can do for the producer path, to measure what the embedded broker
// costs on top of gRPC itself: TopicLookup answers Connect to this server, CreateProducer hands
// out ids, SendMessage answers at once (stores and dispatches nothing), HealthCheck answers OK.
// gRPC callback services, like the embedded broker's. Benchmark support, not part of the library.
#pragma once

#include "bench.hpp"
#include <danube/detail/proto.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

namespace danube_bench {

class minimal_server {
 public:
  static std::unique_ptr<minimal_server> start() {
    auto server = std::unique_ptr<minimal_server>(new minimal_server());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&server->discovery_);
    builder.RegisterService(&server->producers_);
    builder.RegisterService(&server->health_);
    server->server_ = builder.BuildAndStart();
    if (!server->server_ || port <= 0) {
      fail("the minimal server could not listen on 127.0.0.1");
    }
    server->url_ = fmt::format("http://127.0.0.1:{}", port);
    server->discovery_.url = server->url_;
    return server;
  }

  minimal_server(const minimal_server&) = delete;
  minimal_server& operator=(const minimal_server&) = delete;
  ~minimal_server() {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    server_->Wait();
  }

  [[nodiscard]] const std::string& url() const noexcept { return url_; }

 private:
  minimal_server() = default;

  struct discovery final : danube::detail::wire::Discovery::CallbackService {
    std::string url;
    grpc::ServerUnaryReactor* TopicLookup(grpc::CallbackServerContext* context,
                                          const danube::detail::wire::TopicLookupRequest* request,
                                          danube::detail::wire::TopicLookupResponse* response) override {
      response->set_request_id(request->request_id());
      response->set_response_type(danube::detail::wire::TopicLookupResponse::Connect);
      response->set_broker_url(url);
      response->set_connect_url(url);
      auto* reactor = context->DefaultReactor();
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
  };

  struct producers final : danube::detail::wire::ProducerService::CallbackService {
    std::atomic<std::uint64_t> next_id{1};
    grpc::ServerUnaryReactor* CreateProducer(grpc::CallbackServerContext* context,
                                             const danube::detail::wire::ProducerRequest* request,
                                             danube::detail::wire::ProducerResponse* response) override {
      response->set_request_id(request->request_id());
      response->set_producer_id(next_id.fetch_add(1));
      response->set_producer_name(request->producer_name());
      auto* reactor = context->DefaultReactor();
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
    grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* context,
                                          const danube::detail::wire::StreamMessage* request,
                                          danube::detail::wire::MessageResponse* response) override {
      response->set_request_id(request->request_id());
      auto* reactor = context->DefaultReactor();
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
  };

  struct health final : danube::detail::wire::HealthCheck::CallbackService {
    grpc::ServerUnaryReactor* HealthCheck(grpc::CallbackServerContext* context,
                                          const danube::detail::wire::HealthCheckRequest* /*request*/,
                                          danube::detail::wire::HealthCheckResponse* response) override {
      response->set_status(danube::detail::wire::HealthCheckResponse::OK);
      auto* reactor = context->DefaultReactor();
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
  };

  discovery discovery_;
  producers producers_;
  health health_;
  std::unique_ptr<grpc::Server> server_;
  std::string url_;
};

}  // namespace danube_bench
