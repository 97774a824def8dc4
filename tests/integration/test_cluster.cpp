// Several brokers in one process (embedded_cluster): topic ownership, Redirect answers followed by
// our client, topic moves and broker restarts (docs/protocol.md §4, §5, §2.8).
#include "support/test_support.hpp"
#include <danube/detail/proto.hpp>
#include <danube/testing/embedded_cluster.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

// A named namespace: the integration tests are one unity-built translation unit.
namespace cluster_test {

using namespace std::chrono_literals;
using danube_test::require_ok;
namespace testing = danube::testing;
namespace wire = danube::detail::wire;

testing::embedded_cluster start_cluster(std::size_t brokers) {
  auto cluster = testing::embedded_cluster::start(brokers);
  REQUIRE_MESSAGE(cluster.has_value(), fmt::format("{}", cluster.error()));
  return std::move(*cluster);
}

danube::client connect(const std::string& url) {
  auto client = danube::client::builder().service_url(url).build();
  REQUIRE_MESSAGE(client.has_value(), fmt::format("{}", client.error()));
  return std::move(*client);
}

bool serves(const testing::embedded_broker& broker, const std::string& topic) {
  const auto topics = broker.topics();
  return std::find(topics.begin(), topics.end(), topic) != topics.end();
}

std::shared_ptr<grpc::Channel> raw_channel(const std::string& url) {
  return grpc::CreateChannel(url.substr(std::string_view("http://").size()), grpc::InsecureChannelCredentials());
}

// Creates `topic` on broker `index` (a producer through that broker's URL makes it the owner).
void create_topic_on(testing::embedded_cluster& cluster, std::size_t index, const std::string& topic) {
  auto client = connect(cluster.url(index));
  auto producer = require_ok(client.new_producer().topic(topic).name("creator").build());
  require_ok(producer.create());
  REQUIRE(cluster.owner(topic) == index);
}

}  // namespace cluster_test

TEST_SUITE("cluster") {
  using namespace cluster_test;

  TEST_CASE("lookups: Connect on the owner, Redirect to the owner elsewhere, NOT_FOUND for unknown topics") {
    auto cluster = start_cluster(3);
    REQUIRE(cluster.size() == 3);
    CHECK(cluster.url(0) != cluster.url(1));
    const auto topic = danube_test::unique_topic("owned");
    create_topic_on(cluster, 1, topic);

    const auto on_owner = require_ok(connect(cluster.url(1)).lookup_topic(topic));
    CHECK(on_owner.kind == danube::lookup_kind::connect);
    CHECK(on_owner.broker_url == cluster.url(1));
    CHECK(on_owner.connect_url == cluster.url(1));
    CHECK_FALSE(on_owner.proxy);
    for (const std::size_t other : {0U, 2U}) {
      const auto redirected = require_ok(connect(cluster.url(other)).lookup_topic(topic));
      CHECK(redirected.kind == danube::lookup_kind::redirect);
      CHECK(redirected.broker_url == cluster.url(1));
      CHECK(redirected.connect_url == cluster.url(1));
      CHECK_FALSE(redirected.proxy);
    }
    const auto unknown = danube_test::unique_topic("unknown");
    for (std::size_t i = 0; i < cluster.size(); ++i) {
      CHECK(connect(cluster.url(i)).lookup_topic(unknown).error() == danube::errc::not_found);
    }
    CHECK_FALSE(cluster.owner(unknown).has_value());
  }

  TEST_CASE("wire level: Redirect fields, CreateProducer and Subscribe on a non-owner are UNAVAILABLE") {
    auto cluster = start_cluster(2);
    const auto topic = danube_test::unique_topic("wire-redirect");
    create_topic_on(cluster, 1, topic);
    const auto channel = raw_channel(cluster.url(0));

    grpc::ClientContext lookup_context;
    lookup_context.set_deadline(std::chrono::system_clock::now() + 5s);
    wire::TopicLookupRequest lookup;
    lookup.set_request_id(77);
    lookup.set_topic(topic);
    wire::TopicLookupResponse answer;
    REQUIRE(wire::Discovery::NewStub(channel)->TopicLookup(&lookup_context, lookup, &answer).ok());
    CHECK(answer.request_id() == 77);
    CHECK(answer.response_type() == wire::TopicLookupResponse::Redirect);
    CHECK(static_cast<int>(answer.response_type()) == 0);
    CHECK(answer.broker_url() == cluster.url(1));
    CHECK(answer.connect_url() == cluster.url(1));
    CHECK_FALSE(answer.proxy());

    grpc::ClientContext create_context;
    create_context.set_deadline(std::chrono::system_clock::now() + 5s);
    wire::ProducerRequest create;
    create.set_topic_name(topic);
    create.set_producer_name("elsewhere");
    wire::ProducerResponse created;
    const auto refused = wire::ProducerService::NewStub(channel)->CreateProducer(&create_context, create, &created);
    CHECK(refused.error_code() == grpc::StatusCode::UNAVAILABLE);
    CHECK(refused.error_message() == "The topic exists but is served by another broker, redo the Lookup request");

    grpc::ClientContext subscribe_context;
    subscribe_context.set_deadline(std::chrono::system_clock::now() + 5s);
    wire::ConsumerRequest subscribe;
    subscribe.set_topic_name(topic);
    subscribe.set_consumer_name("c");
    subscribe.set_subscription("s");
    wire::ConsumerResponse subscribed;
    CHECK(wire::ConsumerService::NewStub(channel)->Subscribe(&subscribe_context, subscribe, &subscribed).error_code() ==
          grpc::StatusCode::UNAVAILABLE);
    CHECK_FALSE(serves(cluster.broker(0), topic));
  }

  TEST_CASE("Redirect followed: a producer made through broker 0 for broker 1's topic lives on broker 1") {
    auto cluster = start_cluster(2);
    const auto topic = danube_test::unique_topic("redirected");
    create_topic_on(cluster, 1, topic);

    auto client = connect(cluster.url(0));
    auto producer = require_ok(client.new_producer().topic(topic).name("via-broker-0").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return cluster.broker(1).streaming_consumers(topic) == 1; }));

    const auto id = require_ok(producer.send("through the redirect"));
    CHECK(id.broker_addr == cluster.url(1));
    auto m = require_ok(consumer.receive(5s));
    CHECK(m.payload_string() == "through the redirect");
    CHECK(m.id().broker_addr == cluster.url(1));
    require_ok(consumer.ack(m));

    CHECK(serves(cluster.broker(1), topic));
    CHECK_FALSE(serves(cluster.broker(0), topic));
    CHECK(cluster.broker(0).calls(testing::rpc::create_producer) == 0);
    CHECK(cluster.broker(0).calls(testing::rpc::subscribe) == 0);
    CHECK(cluster.broker(1).calls(testing::rpc::create_producer) == 2);
  }

  TEST_CASE("new topics are owned where CreateProducer lands, TopicPartitions answers cluster-wide") {
    auto cluster = start_cluster(2);
    const auto on_zero = danube_test::unique_topic("born-on-0");
    const auto partitioned = danube_test::unique_topic("born-on-1");
    create_topic_on(cluster, 0, on_zero);
    {
      auto client = connect(cluster.url(1));
      auto producer = require_ok(client.new_producer().topic(partitioned).name("p").partitions(3).build());
      require_ok(producer.create());
    }
    for (int i = 0; i < 3; ++i) {
      CHECK(cluster.owner(fmt::format("{}-part-{}", partitioned, i)) == 1U);
    }
    const std::vector<std::string> parts{partitioned + "-part-0", partitioned + "-part-1", partitioned + "-part-2"};
    CHECK(require_ok(connect(cluster.url(0)).topic_partitions(partitioned)) == parts);
    CHECK(require_ok(connect(cluster.url(1)).topic_partitions(partitioned)) == parts);
    CHECK(require_ok(connect(cluster.url(1)).topic_partitions(on_zero)) == std::vector<std::string>{on_zero});

    // A partitioned consumer through broker 0 finds every partition on broker 1.
    auto client = connect(cluster.url(0));
    auto consumer = require_ok(client.new_consumer().topic(partitioned).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    CHECK(danube_test::wait_until([&] {
      std::size_t streaming = 0;
      for (const auto& part : parts) {
        streaming += cluster.broker(1).streaming_consumers(part);
      }
      return streaming == 3;
    }));
  }

  TEST_CASE("move_topic: the old owner drops producers and consumers, the new owner serves the topic") {
    constexpr auto interval = 100ms;
    auto cluster = start_cluster(2);
    const auto topic = danube_test::unique_topic("moving");
    auto [lines, sink] = danube_test::log_lines::make();
    auto client = require_ok(
        danube::client::builder().service_url(cluster.url(0)).health_check_interval(interval).logger(sink).build());
    auto producer = require_ok(client.new_producer().topic(topic).name("mover").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("watcher").subscription("s").build());
    require_ok(consumer.subscribe());
    const auto old_id = require_ok(producer.send("before the move"));
    CHECK(old_id.broker_addr == cluster.url(0));

    // A consumer at wire level too, to watch its stream end.
    const auto channel = raw_channel(cluster.url(0));
    std::uint64_t raw_consumer = 0;
    {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 5s);
      wire::ConsumerRequest request;
      request.set_topic_name(topic);
      request.set_consumer_name("raw");
      request.set_subscription("raw-sub");
      request.set_subscription_type(wire::ConsumerRequest::Exclusive);
      wire::ConsumerResponse response;
      REQUIRE(wire::ConsumerService::NewStub(channel)->Subscribe(&context, request, &response).ok());
      raw_consumer = response.consumer_id();
    }
    grpc::ClientContext stream_context;
    stream_context.set_deadline(std::chrono::system_clock::now() + 20s);
    wire::ReceiveRequest receive;
    receive.set_consumer_id(raw_consumer);
    auto stream = wire::ConsumerService::NewStub(channel)->ReceiveMessages(&stream_context, receive);
    stream->WaitForInitialMetadata();
    REQUIRE(danube_test::wait_until([&] { return cluster.broker(0).streaming_consumers(topic) == 2; }));

    require_ok(cluster.move_topic(topic, 1));
    CHECK(cluster.owner(topic) == 1U);
    CHECK_FALSE(serves(cluster.broker(0), topic));
    CHECK(serves(cluster.broker(1), topic));

    // The old owner's streams end normally...
    wire::StreamMessage unexpected;
    CHECK_FALSE(stream->Read(&unexpected));
    CHECK(stream->Finish().ok());
    // ...and it no longer knows the ids: HealthCheck answers CLOSE, SendMessage NOT_FOUND.
    const auto health = [&](wire::HealthCheckRequest::ClientType kind, std::uint64_t id) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 5s);
      wire::HealthCheckRequest request;
      request.set_client(kind);
      request.set_id(id);
      wire::HealthCheckResponse response;
      REQUIRE(wire::HealthCheck::NewStub(channel)->HealthCheck(&context, request, &response).ok());
      return response.status();
    };
    CHECK(health(wire::HealthCheckRequest::Producer, old_id.producer_id) == wire::HealthCheckResponse::CLOSE);
    CHECK(health(wire::HealthCheckRequest::Consumer, raw_consumer) == wire::HealthCheckResponse::CLOSE);
    {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 5s);
      wire::StreamMessage message;
      message.mutable_msg_id()->set_producer_id(old_id.producer_id);
      message.mutable_msg_id()->set_topic_name(topic);
      message.set_payload("after the move");
      wire::MessageResponse response;
      const auto sent = wire::ProducerService::NewStub(channel)->SendMessage(&context, message, &response);
      CHECK(sent.error_code() == grpc::StatusCode::NOT_FOUND);
      CHECK(sent.error_message() == fmt::format("The producer with id {} does not exist", old_id.producer_id));
    }
    // Our client hears about it through its health checks.
    CHECK(danube_test::wait_until([&] {
      return lines->contains(danube::log_level::warn, "the broker answered CLOSE for producer mover") &&
             lines->contains(danube::log_level::warn, "the broker answered CLOSE for consumer watcher");
    }));

    // Lookups through broker 0 now lead to broker 1, where new producers and consumers work (the
    // moved topic starts with no subscriptions).
    const auto redirected = require_ok(client.lookup_topic(topic));
    CHECK(redirected.kind == danube::lookup_kind::redirect);
    CHECK(redirected.connect_url == cluster.url(1));
    auto fresh_consumer =
        require_ok(client.new_consumer().topic(topic).consumer_name("watcher-2").subscription("s2").build());
    require_ok(fresh_consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return cluster.broker(1).streaming_consumers(topic) >= 1; }));
    auto fresh_producer = require_ok(client.new_producer().topic(topic).name("mover-2").build());
    require_ok(fresh_producer.create());
    const auto new_id = require_ok(fresh_producer.send("after the move"));
    CHECK(new_id.broker_addr == cluster.url(1));
    CHECK(require_ok(fresh_consumer.receive(5s)).payload_string() == "after the move");

    // Moving it back works the same way; unknown topics and bad indexes are errors.
    require_ok(cluster.move_topic(topic, 0));
    CHECK(cluster.owner(topic) == 0U);
    CHECK(cluster.move_topic(danube_test::unique_topic("nobody"), 1).error() == danube::errc::not_found);
    CHECK(cluster.move_topic(topic, 7).error() == danube::errc::invalid_argument);
  }

  TEST_CASE("stop_broker and restart_broker: the same URL again, its topics served, its producers forgotten") {
    auto cluster = start_cluster(2);
    const auto topic = danube_test::unique_topic("restarted");
    const auto url = cluster.url(1);
    std::uint64_t old_producer = 0;
    {
      auto client = connect(url);
      auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
      require_ok(producer.create());
      old_producer = require_ok(producer.send("x")).producer_id;
    }
    cluster.stop_broker(1);
    CHECK(connect(url).lookup_topic(topic).error() == danube::errc::unavailable);
    // The others still send clients to the stopped owner.
    CHECK(require_ok(connect(cluster.url(0)).lookup_topic(topic)).connect_url == url);

    require_ok(cluster.restart_broker(1));
    CHECK(cluster.url(1) == url);
    CHECK(serves(cluster.broker(1), topic));
    CHECK(require_ok(connect(url).lookup_topic(topic)).kind == danube::lookup_kind::connect);

    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    wire::HealthCheckRequest request;
    request.set_client(wire::HealthCheckRequest::Producer);
    request.set_id(old_producer);
    wire::HealthCheckResponse response;
    REQUIRE(wire::HealthCheck::NewStub(raw_channel(url))->HealthCheck(&context, request, &response).ok());
    CHECK(response.status() == wire::HealthCheckResponse::CLOSE);

    auto client = connect(cluster.url(0));
    auto producer = require_ok(client.new_producer().topic(topic).name("after-restart").build());
    require_ok(producer.create());
    CHECK(require_ok(producer.send("y")).broker_addr == url);
  }

  TEST_CASE("an embedded_broker restarts on its own port") {
    auto broker = danube_test::start_broker();
    const auto url = broker.url();
    const auto topic = danube_test::unique_topic("solo-restart");
    {
      auto client = danube_test::connect(broker);
      auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
      require_ok(producer.create());
    }
    broker.fail_next(testing::rpc::topic_lookup, 1, grpc::StatusCode::INTERNAL, "forgotten by the restart");
    require_ok(broker.restart());
    CHECK(broker.url() == url);
    CHECK(broker.topics() == std::vector<std::string>{topic});
    CHECK(require_ok(danube_test::connect(broker).lookup_topic(topic)).kind == danube::lookup_kind::connect);
  }

  TEST_CASE("a cluster needs at least one broker - bad indexes are errors, not crashes") {
    CHECK(testing::embedded_cluster::start(0).error() == danube::errc::invalid_argument);
    auto cluster = start_cluster(1);
    CHECK(cluster.url(5).empty());
    cluster.stop_broker(5);
    CHECK(cluster.restart_broker(5).error() == danube::errc::invalid_argument);
    CHECK_FALSE(cluster.url(0).empty());
  }
}
