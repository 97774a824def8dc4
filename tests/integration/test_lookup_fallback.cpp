// What a failed lookup leads to (docs/porting-guide.md §2, issue 14 item 3): a retryable failure
// falls back to the partition's last known broker, as the Rust client does; a URL with a path
// (an ingress routing by path prefix) is refused with its reason, never silently shortened.
#include "support/test_support.hpp"
#include <danube/detail/proto.hpp>
#include <danube/testing/embedded_cluster.hpp>

#include <atomic>
#include <chrono>
#include <string>

#include <grpcpp/grpcpp.h>

// A named namespace: the integration tests are one unity-built translation unit.
namespace lookup_fallback_test {

using namespace std::chrono_literals;
using danube_test::require_ok;
namespace testing = danube::testing;

// A Discovery service behind an ingress whose advertised connect_url has a path prefix.
class ingress_with_path final : public danube::Discovery::CallbackService {
 public:
  std::string connect_url;
  std::atomic<int> lookups{0};

  grpc::ServerUnaryReactor* TopicLookup(grpc::CallbackServerContext* context, const danube::TopicLookupRequest* request,
                                        danube::TopicLookupResponse* response) override {
    ++lookups;
    response->set_request_id(request->request_id());
    response->set_response_type(danube::TopicLookupResponse::Connect);
    response->set_broker_url(connect_url);
    response->set_connect_url(connect_url);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace lookup_fallback_test

TEST_SUITE("lookup") {
  using namespace lookup_fallback_test;

  // Without the fallback the lookups kept failing at the stopped broker: the producer never
  // registered again (its policy gave up) and the consumer kept re-subscribing in vain.
  TEST_CASE("the broker answering lookups is down: partitions of another broker register again at their own") {
    auto started = testing::embedded_cluster::start(2);
    REQUIRE_MESSAGE(started.has_value(), fmt::format("{}", started.error()));
    auto& cluster = *started;
    const auto topic = danube_test::unique_topic("lookup-broker-down");
    {
      // A producer through broker 1's own URL makes broker 1 the owner.
      auto creator_client = require_ok(danube::client::builder().service_url(cluster.url(1)).build());
      auto creator = require_ok(creator_client.new_producer().topic(topic).name("creator").build());
      require_ok(creator.create());
      REQUIRE(cluster.owner(topic) == 1U);
    }
    auto client =
        require_ok(danube::client::builder().service_url(cluster.url(0)).health_check_interval(100ms).build());
    auto producer = require_ok(client.new_producer()
                                   .topic(topic)
                                   .name("p")
                                   .send_timeout(10s)
                                   .retry_policy(danube::retry::exponential_backoff{.max_retries = 3, .base = 10ms})
                                   .build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer()
                                   .topic(topic)
                                   .consumer_name("c")
                                   .subscription("s")
                                   .retry_policy(danube::retry::exponential_backoff{.max_retries = 3, .base = 10ms})
                                   .build());
    require_ok(consumer.subscribe());
    CHECK(require_ok(producer.send("before")).broker_addr == cluster.url(1));
    CHECK(require_ok(consumer.receive(5s)).payload_string() == "before");

    cluster.broker(0).stop();  // lookups now fail with UNAVAILABLE
    auto& own = cluster.broker(1);
    const auto creates = own.calls(testing::rpc::create_producer);
    const auto subscribes = own.calls(testing::rpc::subscribe);
    own.answer_close_for_all(true);  // both must register again
    CHECK(danube_test::wait_until(
        [&] {
          return own.calls(testing::rpc::create_producer) > creates && own.calls(testing::rpc::subscribe) > subscribes;
        },
        5s));
    own.answer_close_for_all(false);
    CHECK(require_ok(producer.send("after")).broker_addr == cluster.url(1));
    const auto received = consumer.receive(10s);
    REQUIRE_MESSAGE(received.has_value(), fmt::format("{}", received.error()));
    CHECK(received->payload_string() == "after");
    producer.close();
    consumer.close();
    client.close();
  }

  TEST_CASE("an ingress URL with a path: build() refuses it, a lookup answer naming one is lookup_failed at once") {
    const auto refused = danube::client::builder().service_url("https://gateway.example.com/danube").build();
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == danube::errc::invalid_argument);
    CHECK_MESSAGE(refused.error().message().find("'/danube'") != std::string::npos, refused.error().message());

    ingress_with_path ingress;
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&ingress);
    auto server = builder.BuildAndStart();
    REQUIRE(server != nullptr);
    const auto url = fmt::format("http://127.0.0.1:{}", port);
    ingress.connect_url = url + "/danube";
    {
      auto client = require_ok(danube::client::builder().service_url(url).build());
      auto producer = require_ok(client.new_producer()
                                     .topic(danube_test::unique_topic("ingress-path"))
                                     .name("p")
                                     .retry_policy(danube::retry::exponential_backoff{.max_retries = 3, .base = 10ms})
                                     .build());
      const auto created = producer.create();
      REQUIRE_FALSE(created);
      CHECK(created.error() == danube::errc::lookup_failed);
      CHECK_FALSE(created.error().retryable());
      CHECK_MESSAGE(created.error().message().find("path") != std::string::npos, created.error().message());
      CHECK(ingress.lookups == 1);  // neither retried nor replaced by a registration elsewhere
    }
    server->Shutdown(std::chrono::system_clock::now() + 1s);
  }
}
