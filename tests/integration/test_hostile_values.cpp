// Hostile values from the user and from the broker (issue 13 item 1), through the public API: a
// token or a lookup answer gRPC cannot carry in metadata is an error, never an abort; lookup
// answers that point gRPC at a local socket and absurd partition lists are refused; empty
// callbacks are refused up front. A scripted stand-in plays the hostile broker.
#include "support/test_support.hpp"
#include <danube/detail/proto.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

namespace hostile_values_test {

using namespace std::chrono_literals;
using danube_test::require_ok;
namespace testing = danube::testing;

using insecure_token_client = danube::basic_client<danube::auth::static_token, danube::tls::plaintext_insecure>;
using insecure_supplier_client = danube::basic_client<danube::auth::token_supplier, danube::tls::plaintext_insecure>;

// A Discovery service whose answers the test writes.
class scripted_discovery final : public danube::Discovery::CallbackService {
 public:
  std::function<void(danube::TopicLookupResponse&)> lookup;
  std::function<void(danube::TopicPartitionsResponse&)> partitions;

  grpc::ServerUnaryReactor* TopicLookup(grpc::CallbackServerContext* context, const danube::TopicLookupRequest* request,
                                        danube::TopicLookupResponse* response) override {
    response->set_request_id(request->request_id());
    lookup(*response);
    return finish(context);
  }
  grpc::ServerUnaryReactor* TopicPartitions(grpc::CallbackServerContext* context,
                                            const danube::TopicLookupRequest* request,
                                            danube::TopicPartitionsResponse* response) override {
    response->set_request_id(request->request_id());
    partitions(*response);
    return finish(context);
  }

 private:
  static grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* context) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

struct scripted_server {
  scripted_discovery discovery;
  std::unique_ptr<grpc::Server> server;
  std::string url;

  scripted_server() {
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&discovery);
    server = builder.BuildAndStart();
    REQUIRE(server != nullptr);
    url = fmt::format("http://127.0.0.1:{}", port);
  }
  scripted_server(const scripted_server&) = delete;
  scripted_server& operator=(const scripted_server&) = delete;
  ~scripted_server() { server->Shutdown(std::chrono::system_clock::now() + 1s); }
};

}  // namespace hostile_values_test

TEST_SUITE("hostile values") {
  using namespace hostile_values_test;

  TEST_CASE("a token with a trailing newline (static_token) is unauthenticated before any call, not SIGABRT") {
    auto broker = danube_test::start_broker();
    auto client = require_ok(insecure_token_client::builder()
                                 .service_url(broker.url())
                                 .auth(danube::auth::static_token("header.payload.signature\n"))
                                 .build());
    const auto looked_up = client.lookup_topic(danube_test::unique_topic("newline"));
    REQUIRE_FALSE(looked_up);
    CHECK(looked_up.error() == danube::errc::unauthenticated);
    CHECK(looked_up.error().message().find("header.payload") == std::string::npos);  // never echoed
    auto producer = require_ok(client.new_producer().topic(danube_test::unique_topic("newline")).name("p").build());
    const auto created = producer.create();
    REQUIRE_FALSE(created);
    CHECK(created.error() == danube::errc::unauthenticated);
    CHECK(broker.calls(testing::rpc::topic_lookup) == 0);
    CHECK(broker.calls(testing::rpc::create_producer) == 0);
  }

  TEST_CASE("token_supplier returning control bytes, non-ASCII or a null const char*: unauthenticated") {
    auto broker = danube_test::start_broker();
    SUBCASE("control byte") {
      auto client = require_ok(insecure_supplier_client::builder()
                                   .service_url(broker.url())
                                   .auth(danube::auth::token_supplier([] { return std::string("tok\x01"); }))
                                   .build());
      CHECK(client.lookup_topic("/default/t").error() == danube::errc::unauthenticated);
    }
    SUBCASE("non-ASCII") {
      auto client = require_ok(insecure_supplier_client::builder()
                                   .service_url(broker.url())
                                   .auth(danube::auth::token_supplier([] { return std::string("t\xc3\xb6k"); }))
                                   .build());
      CHECK(client.lookup_topic("/default/t").error() == danube::errc::unauthenticated);
    }
    SUBCASE("null const char*") {
      auto client = require_ok(insecure_supplier_client::builder()
                                   .service_url(broker.url())
                                   .auth(danube::auth::token_supplier([]() -> const char* { return nullptr; }))
                                   .build());
      CHECK(client.lookup_topic("/default/t").error() == danube::errc::unauthenticated);
    }
    CHECK(broker.calls(testing::rpc::topic_lookup) == 0);
  }

  TEST_CASE("a lookup answer whose proxy broker_url gRPC cannot carry: lookup_failed, not SIGABRT") {
    scripted_server hostile;
    hostile.discovery.lookup = [&](danube::TopicLookupResponse& r) {
      r.set_response_type(danube::TopicLookupResponse::Connect);
      r.set_broker_url("http://broker-7:6650\r\nx-injected: 1");
      r.set_connect_url(hostile.url);
      r.set_proxy(true);
    };
    auto client = require_ok(danube::client::builder().service_url(hostile.url).build());
    const auto looked_up = client.lookup_topic("/default/t");
    REQUIRE_FALSE(looked_up);
    CHECK(looked_up.error() == danube::errc::lookup_failed);
    CHECK_MESSAGE(looked_up.error().message().find("broker_url") != std::string::npos, looked_up.error().message());
    auto producer = require_ok(client.new_producer().topic("/default/t").name("p").build());
    const auto created = producer.create();
    REQUIRE_FALSE(created);
    CHECK(created.error() == danube::errc::lookup_failed);
  }

  TEST_CASE("a lookup answer whose connect_url host is unix or unix-abstract (a local socket): lookup_failed") {
    scripted_server hostile;
    for (const char* connect_url : {"http://unix:6650", "http://unix-abstract:6650"}) {
      CAPTURE(connect_url);
      hostile.discovery.lookup = [&](danube::TopicLookupResponse& r) {
        r.set_response_type(danube::TopicLookupResponse::Redirect);
        r.set_broker_url(connect_url);
        r.set_connect_url(connect_url);
      };
      auto client = require_ok(danube::client::builder().service_url(hostile.url).build());
      const auto looked_up = client.lookup_topic("/default/t");
      REQUIRE_FALSE(looked_up);
      CHECK(looked_up.error() == danube::errc::lookup_failed);
      CHECK_MESSAGE(looked_up.error().message().find("local socket") != std::string::npos, looked_up.error().message());
    }
    // And as the service URL itself: refused by build().
    const auto built = danube::client::builder().service_url("http://unix:6650").build();
    REQUIRE_FALSE(built);
    CHECK(built.error() == danube::errc::invalid_argument);
  }

  TEST_CASE("a TopicPartitions answer with duplicates is deduplicated, one with 100,000 names is refused") {
    scripted_server hostile;
    hostile.discovery.partitions = [](danube::TopicPartitionsResponse& r) {
      for (const char* name : {"/default/t-part-0", "/default/t-part-1", "/default/t-part-0", "/default/t-part-1"}) {
        r.add_partitions(name);
      }
    };
    auto client = require_ok(danube::client::builder().service_url(hostile.url).build());
    CHECK(require_ok(client.topic_partitions("/default/t")) ==
          std::vector<std::string>{"/default/t-part-0", "/default/t-part-1"});

    hostile.discovery.partitions = [](danube::TopicPartitionsResponse& r) {
      for (int i = 0; i < 100'000; ++i) {
        r.add_partitions(fmt::format("/default/t-part-{}", i));
      }
    };
    const auto start = std::chrono::steady_clock::now();
    const auto listed = client.topic_partitions("/default/t");
    REQUIRE_FALSE(listed);
    CHECK(listed.error() == danube::errc::lookup_failed);
    CHECK_MESSAGE(listed.error().message().find("1024") != std::string::npos, listed.error().message());
    // The consumer refuses it the same way, before subscribing to anything.
    auto consumer = require_ok(client.new_consumer().topic("/default/t").consumer_name("c").subscription("s").build());
    const auto subscribed = consumer.subscribe();
    REQUIRE_FALSE(subscribed);
    CHECK(subscribed.error() == danube::errc::lookup_failed);
    MESSAGE("two 100,000-name answers refused in ", danube_test::elapsed_since(start).count(), " ms");
  }

  TEST_CASE("empty callbacks are refused up front with invalid_argument") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("empty-callbacks");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());

    const auto sent = producer.send_async("x", {}, nullptr);
    REQUIRE_FALSE(sent);
    CHECK(sent.error() == danube::errc::invalid_argument);
    const auto keyed = producer.send_with_key_async("k", "x", {}, {});
    REQUIRE_FALSE(keyed);
    CHECK(keyed.error() == danube::errc::invalid_argument);
    CHECK(broker.calls(testing::rpc::send_message) == 0);

    require_ok(producer.send("m"));
    const auto m = require_ok(consumer.receive(5s));
    CHECK(consumer.ack_async(m, {}).error() == danube::errc::invalid_argument);
    CHECK(consumer.nack_async(m, {}, {}).error() == danube::errc::invalid_argument);
    CHECK(broker.calls(testing::rpc::ack) == 0);
    CHECK(broker.calls(testing::rpc::nack) == 0);

    const auto listening = consumer.on_message({});
    REQUIRE_FALSE(listening);
    CHECK(listening.error() == danube::errc::invalid_argument);
    // The refusal left the consumer usable: a real listener can still be set.
    std::atomic<int> delivered{0};
    require_ok(consumer.on_message([&](const danube::message&) { ++delivered; }));
    require_ok(producer.send("n"));
    CHECK(danube_test::wait_until([&] { return delivered.load() == 1; }, 5s));
  }

  // system_clock::now() + milliseconds::max() overflows (to a deadline 1 ms in the past): every
  // connect and every call failed at once. A huge timeout now means "no deadline", as a huge
  // send_timeout does; a huge keep-alive interval means no keep-alive pings.
  TEST_CASE("huge connect_timeout, call_timeout, keepalive and health_check_interval: no overflow, calls work") {
    testing::broker_options options;
    options.auth.require_token = true;
    options.auth.jwt_secret = "huge-timeouts-secret";
    options.auth.api_keys = {"key-1"};
    auto broker = danube_test::start_broker(options);
    using exchange_client = danube::basic_client<danube::auth::api_key_exchange, danube::tls::plaintext_insecure>;
    for (const auto huge :
         {std::chrono::milliseconds::max(), std::chrono::milliseconds(std::chrono::hours(24 * 365 * 1000))}) {
      CAPTURE(huge.count());
      auto client = require_ok(exchange_client::builder()
                                   .service_url(broker.url())
                                   .connect_timeout(huge)
                                   .call_timeout(huge)
                                   .keepalive(huge)
                                   .health_check_interval(huge)
                                   .auth(danube::auth::api_key_exchange("key-1"))
                                   .build());
      const auto topic = danube_test::unique_topic("huge-timeouts");
      auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
      require_ok(producer.create());
      auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
      require_ok(consumer.subscribe());
      require_ok(producer.send("under huge timeouts"));
      CHECK(require_ok(consumer.receive(5s)).payload_string() == "under huge timeouts");
      CHECK(require_ok(client.topic_partitions(topic)).size() == 1);
      client.close();
    }
  }
}
