// Lookup answers with proxy = true: later calls carry `x-danube-broker-url: <broker_url>` and go
// to connect_url; the lookup itself does not carry it. A stand-in server plays a broker behind a
// proxy (the embedded broker never advertises one).
#include "support/test_support.hpp"
#include <danube/detail/proto.hpp>

#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

namespace {

std::string header_of(const grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  const auto it = metadata.find("x-danube-broker-url");
  return it == metadata.end() ? std::string("<none>") : std::string(it->second.data(), it->second.size());
}

class proxied_broker final : public danube::Discovery::CallbackService,
                             public danube::ProducerService::CallbackService {
 public:
  std::mutex mu;
  std::vector<std::string> seen;  // "<method> <header>"
  std::string own_url;

  grpc::ServerUnaryReactor* TopicLookup(grpc::CallbackServerContext* context, const danube::TopicLookupRequest* request,
                                        danube::TopicLookupResponse* response) override {
    record("lookup", context);
    response->set_request_id(request->request_id());
    response->set_response_type(danube::TopicLookupResponse::Connect);
    response->set_broker_url("http://broker-7.internal:6650");
    response->set_connect_url(own_url);
    response->set_proxy(true);
    return finish(context);
  }
  grpc::ServerUnaryReactor* CreateProducer(grpc::CallbackServerContext* context, const danube::ProducerRequest* request,
                                           danube::ProducerResponse* response) override {
    record("create", context);
    response->set_request_id(request->request_id());
    response->set_producer_id(7);
    response->set_producer_name(request->producer_name());
    return finish(context);
  }
  grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* context, const danube::StreamMessage* request,
                                        danube::MessageResponse* response) override {
    record("send", context);
    response->set_request_id(request->request_id());
    return finish(context);
  }

 private:
  void record(const char* method, const grpc::CallbackServerContext* context) {
    std::lock_guard lock(mu);
    seen.push_back(std::string(method) + " " + header_of(context));
  }
  static grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* context) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace

TEST_SUITE("lookup") {
  TEST_CASE("proxy = true: producer calls carry x-danube-broker-url, the lookup does not") {
    proxied_broker service;
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(static_cast<danube::Discovery::CallbackService*>(&service));
    builder.RegisterService(static_cast<danube::ProducerService::CallbackService*>(&service));
    auto server = builder.BuildAndStart();
    REQUIRE(server != nullptr);
    service.own_url = fmt::format("http://127.0.0.1:{}", port);

    {
      auto client = danube_test::require_ok(danube::client::builder().service_url(service.own_url).build());
      const auto found = danube_test::require_ok(client.lookup_topic("/default/behind-proxy"));
      CHECK(found.proxy);
      CHECK(found.broker_url == "http://broker-7.internal:6650");
      auto producer = danube_test::require_ok(client.new_producer().topic("/default/behind-proxy").name("p").build());
      danube_test::require_ok(producer.create());
      const auto id = danube_test::require_ok(producer.send("via the proxy"));
      CHECK(id.broker_addr == "http://broker-7.internal:6650");
      producer.close();
      client.close();
    }
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    std::lock_guard lock(service.mu);
    // Byte for byte what the Rust client sends: http::Uri's text of the broker URL, which has the
    // path "/" (the message id keeps the broker's own text, as above).
    CHECK(service.seen == std::vector<std::string>{"lookup <none>", "lookup <none>",
                                                   "create http://broker-7.internal:6650/",
                                                   "send http://broker-7.internal:6650/"});
  }
}
