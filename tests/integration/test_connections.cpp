// connections_per_broker(n): n connections per broker address, partitions round robin over them,
// each partition's sends (and each partition's stream) on one connection. Checked against a small
// server that records the peer (client address and port, so the TCP connection) of every call.
#include "support/test_support.hpp"
#include <danube/detail/proto.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

using namespace std::chrono_literals;
using danube_test::require_ok;
namespace wire = danube::detail::wire;

namespace {

// Answers lookups with itself, registers producers and consumers, accepts every message, keeps
// delivery streams open until cancelled, and remembers which connection each call came on.
class peer_recorder {
 public:
  peer_recorder() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&discovery_);
    builder.RegisterService(&producers_);
    builder.RegisterService(&consumers_);
    builder.RegisterService(&health_);
    server_ = builder.BuildAndStart();
    REQUIRE(server_);
    REQUIRE(port > 0);
    url_ = fmt::format("http://127.0.0.1:{}", port);
    discovery_.owner = this;
    producers_.owner = this;
    consumers_.owner = this;
  }
  peer_recorder(const peer_recorder&) = delete;
  peer_recorder& operator=(const peer_recorder&) = delete;
  ~peer_recorder() {
    server_->Shutdown(std::chrono::system_clock::now() + 500ms);
    server_->Wait();
  }

  [[nodiscard]] const std::string& url() const { return url_; }

  // The connections SendMessage calls came on, by producer name (one per partition).
  [[nodiscard]] std::map<std::string, std::set<std::string>> send_peers() const {
    std::lock_guard lock(mu_);
    return send_peers_;
  }
  // The connections delivery streams were opened on, by consumer id.
  [[nodiscard]] std::map<std::uint64_t, std::set<std::string>> stream_peers() const {
    std::lock_guard lock(mu_);
    return stream_peers_;
  }

 private:
  struct discovery_service final : wire::Discovery::CallbackService {
    peer_recorder* owner = nullptr;
    grpc::ServerUnaryReactor* TopicLookup(grpc::CallbackServerContext* context, const wire::TopicLookupRequest* request,
                                          wire::TopicLookupResponse* response) override {
      response->set_request_id(request->request_id());
      response->set_response_type(wire::TopicLookupResponse::Connect);
      response->set_broker_url(owner->url_);
      response->set_connect_url(owner->url_);
      auto* reactor = context->DefaultReactor();
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
    grpc::ServerUnaryReactor* TopicPartitions(grpc::CallbackServerContext* context,
                                              const wire::TopicLookupRequest* request,
                                              wire::TopicPartitionsResponse* response) override {
      response->set_request_id(request->request_id());
      for (int i = 0; i < 4; ++i) {
        response->add_partitions(fmt::format("{}-part-{}", request->topic(), i));
      }
      auto* reactor = context->DefaultReactor();
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
  };

  struct producer_service final : wire::ProducerService::CallbackService {
    peer_recorder* owner = nullptr;
    std::atomic<std::uint64_t> next_id{1};
    grpc::ServerUnaryReactor* CreateProducer(grpc::CallbackServerContext* context, const wire::ProducerRequest* request,
                                             wire::ProducerResponse* response) override {
      response->set_request_id(request->request_id());
      response->set_producer_id(next_id.fetch_add(1));
      response->set_producer_name(request->producer_name());
      auto* reactor = context->DefaultReactor();
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
    grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* context, const wire::StreamMessage* request,
                                          wire::MessageResponse* response) override {
      {
        std::lock_guard lock(owner->mu_);
        owner->send_peers_[request->producer_name()].insert(context->peer());
      }
      response->set_request_id(request->request_id());
      auto* reactor = context->DefaultReactor();
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
  };

  // A delivery stream that sends nothing and ends when the client cancels it.
  class idle_stream final : public grpc::ServerWriteReactor<wire::StreamMessage> {
   public:
    void OnCancel() override { Finish(grpc::Status::CANCELLED); }
    void OnDone() override { delete this; }  // NOLINT(cppcoreguidelines-owning-memory): gRPC's reactor idiom
  };

  struct consumer_service final : wire::ConsumerService::CallbackService {
    peer_recorder* owner = nullptr;
    std::atomic<std::uint64_t> next_id{1};
    grpc::ServerUnaryReactor* Subscribe(grpc::CallbackServerContext* context, const wire::ConsumerRequest* request,
                                        wire::ConsumerResponse* response) override {
      response->set_request_id(request->request_id());
      response->set_consumer_id(next_id.fetch_add(1));
      response->set_consumer_name(request->consumer_name());
      auto* reactor = context->DefaultReactor();
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
    grpc::ServerWriteReactor<wire::StreamMessage>* ReceiveMessages(grpc::CallbackServerContext* context,
                                                                   const wire::ReceiveRequest* request) override {
      {
        std::lock_guard lock(owner->mu_);
        owner->stream_peers_[request->consumer_id()].insert(context->peer());
      }
      return new idle_stream();  // NOLINT(cppcoreguidelines-owning-memory): deleted in OnDone
    }
  };

  struct health_service final : wire::HealthCheck::CallbackService {
    grpc::ServerUnaryReactor* HealthCheck(grpc::CallbackServerContext* context,
                                          const wire::HealthCheckRequest* /*request*/,
                                          wire::HealthCheckResponse* response) override {
      response->set_status(wire::HealthCheckResponse::OK);
      auto* reactor = context->DefaultReactor();
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
  };

  discovery_service discovery_;
  producer_service producers_;
  consumer_service consumers_;
  health_service health_;
  std::unique_ptr<grpc::Server> server_;
  std::string url_;
  mutable std::mutex mu_;
  std::map<std::string, std::set<std::string>> send_peers_;
  std::map<std::uint64_t, std::set<std::string>> stream_peers_;
};

std::set<std::string> all_peers(const std::map<std::string, std::set<std::string>>& by_partition) {
  std::set<std::string> out;
  for (const auto& [name, peers] : by_partition) {
    out.insert(peers.begin(), peers.end());
  }
  return out;
}

}  // namespace

TEST_SUITE("connections per broker") {
  TEST_CASE("connections_per_broker(2): 4 partitions take 2 connections round robin, each partition keeps to one") {
    peer_recorder server;
    auto client = require_ok(danube::client::builder().service_url(server.url()).connections_per_broker(2).build());
    auto producer =
        require_ok(client.new_producer().topic("/default/lanes").name("p").partitions(4).max_in_flight(8).build());
    require_ok(producer.create());
    for (int i = 0; i < 40; ++i) {
      require_ok(producer.send(fmt::format("m{}", i)));  // round robin: 10 per partition
    }
    const auto peers = server.send_peers();
    REQUIRE(peers.size() == 4);
    for (const auto& [name, on] : peers) {
      INFO(name);
      CHECK(on.size() == 1);  // one partition, one connection: its messages stay in order
    }
    CHECK(all_peers(peers).size() == 2);
    // Neighbouring partitions are on different connections (round robin, not all on one).
    CHECK(*peers.at("p-0").begin() != *peers.at("p-1").begin());
    CHECK(*peers.at("p-0").begin() == *peers.at("p-2").begin());
    CHECK(*peers.at("p-1").begin() == *peers.at("p-3").begin());
  }

  TEST_CASE("connections_per_broker default: one connection for every partition") {
    peer_recorder server;
    auto client = require_ok(danube::client::builder().service_url(server.url()).build());
    auto producer = require_ok(client.new_producer().topic("/default/one-lane").name("p").partitions(3).build());
    require_ok(producer.create());
    for (int i = 0; i < 9; ++i) {
      require_ok(producer.send("m"));
    }
    const auto peers = server.send_peers();
    REQUIRE(peers.size() == 3);
    CHECK(all_peers(peers).size() == 1);
  }

  TEST_CASE("connections_per_broker(4): a consumer's partition streams spread over the connections") {
    peer_recorder server;
    auto client = require_ok(danube::client::builder().service_url(server.url()).connections_per_broker(4).build());
    auto consumer = require_ok(client.new_consumer()
                                   .topic("/default/lanes-in")
                                   .consumer_name("c")
                                   .subscription("s")
                                   .subscription_type(danube::subscription_type::exclusive)
                                   .build());
    require_ok(consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return server.stream_peers().size() == 4; }));
    std::set<std::string> peers;
    for (const auto& [id, on] : server.stream_peers()) {
      CHECK(on.size() == 1);
      peers.insert(on.begin(), on.end());
    }
    CHECK(peers.size() == 4);
    consumer.close();
  }

  TEST_CASE("connections_per_broker: zero and more than the maximum are refused by build()") {
    for (const std::size_t count : {std::size_t{0}, danube::max_connections_per_broker + 1, std::size_t{1} << 40U}) {
      auto built = danube::client::builder().service_url("http://127.0.0.1:6650").connections_per_broker(count).build();
      REQUIRE_FALSE(built.has_value());
      CHECK(built.error() == danube::errc::invalid_argument);
      CHECK(built.error().message().find("connections_per_broker") != std::string::npos);
    }
    CHECK(danube::client::builder()
              .service_url("http://127.0.0.1:6650")
              .connections_per_broker(danube::max_connections_per_broker)
              .build()
              .has_value());
  }
}
