// Wire-level tests of the embedded broker: the generated stubs talk to it directly, so these pin
// the protocol behaviour (docs/protocol.md §2, §11) independently of our
// client library.
#include "support/test_support.hpp"
#include <danube/detail/proto.hpp>
#include <danube/error.hpp>
#include <danube/testing/embedded_broker.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

// A named namespace, not an anonymous one: the integration tests are one unity-built translation
// unit, and these helper names must not meet another file's.
namespace embedded_broker_wire_test {

namespace wire = danube::detail::wire;
using danube::testing::broker_options;
using danube::testing::embedded_broker;

constexpr std::chrono::milliseconds rpc_timeout{5000};
// Bounds every read of a stream; no test should come near it.
constexpr std::chrono::milliseconds stream_timeout{20000};

// Wire enum values (the generated DispatchStrategy values live directly in namespace danube).
constexpr int non_reliable = ::danube::NonReliable;
constexpr int reliable = ::danube::Reliable;
constexpr int exclusive = wire::ConsumerRequest::Exclusive;
constexpr int shared = wire::ConsumerRequest::Shared;
constexpr int failover = wire::ConsumerRequest::Failover;
constexpr int producer_client = wire::HealthCheckRequest::Producer;
constexpr int consumer_client = wire::HealthCheckRequest::Consumer;

void set_deadline(grpc::ClientContext& context, std::chrono::milliseconds timeout = rpc_timeout) {
  context.set_deadline(std::chrono::system_clock::now() + timeout);
}

embedded_broker start_broker(const broker_options& options = {}) {
  auto broker = embedded_broker::start(options);
  if (!broker) {
    FAIL(fmt::format("the embedded broker did not start: {}", broker.error()));
  }
  return std::move(*broker);
}

using danube_test::unique_topic;

// Polls `condition` every few milliseconds until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = rpc_timeout) {
  return danube_test::wait_until(condition, timeout);
}

wire::StreamMessage make_message(std::uint64_t producer_id, const std::string& topic, std::string payload,
                                 std::uint64_t request_id = 1) {
  wire::StreamMessage message;
  message.set_request_id(request_id);
  message.mutable_msg_id()->set_producer_id(producer_id);
  message.mutable_msg_id()->set_topic_name(topic);
  message.set_payload(std::move(payload));
  message.set_producer_name("writer");
  return message;
}

// An open ReceiveMessages call.
class open_stream {
 public:
  open_stream(wire::ConsumerService::Stub& stub, std::uint64_t consumer_id) {
    set_deadline(context_, stream_timeout);
    wire::ReceiveRequest request;
    request.set_request_id(1);
    request.set_consumer_id(consumer_id);
    reader_ = stub.ReceiveMessages(&context_, request);
  }
  open_stream(const open_stream&) = delete;
  open_stream& operator=(const open_stream&) = delete;
  open_stream(open_stream&&) = delete;
  open_stream& operator=(open_stream&&) = delete;
  ~open_stream() {
    if (!finished_) {
      context_.TryCancel();
      static_cast<void>(reader_->Finish());
    }
  }

  // Returns once the broker has sent the response headers, i.e. has attached the stream (or has
  // rejected the call).
  void wait_open() { reader_->WaitForInitialMetadata(); }

  std::optional<wire::StreamMessage> read() {
    wire::StreamMessage message;
    if (reader_->Read(&message)) {
      return message;
    }
    return std::nullopt;
  }

  // The next message; the stream ending first fails the test.
  wire::StreamMessage next() {
    wire::StreamMessage message;
    const bool received = reader_->Read(&message);
    REQUIRE_MESSAGE(received, "the stream ended before the expected message");
    return message;
  }

  std::vector<std::string> read_payloads(std::size_t count) {
    std::vector<std::string> payloads;
    for (std::size_t i = 0; i < count; ++i) {
      payloads.push_back(next().payload());
    }
    return payloads;
  }

  // The final status, once read() has returned nothing.
  grpc::Status finish() {
    finished_ = true;
    return reader_->Finish();
  }

  void cancel() { context_.TryCancel(); }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<wire::StreamMessage>> reader_;
  bool finished_ = false;
};

class wire_client {
 public:
  explicit wire_client(const embedded_broker& broker)
      : channel_(grpc::CreateChannel(fmt::format("127.0.0.1:{}", broker.port()), grpc::InsecureChannelCredentials())),
        discovery_(wire::Discovery::NewStub(channel_)),
        producers_(wire::ProducerService::NewStub(channel_)),
        consumers_(wire::ConsumerService::NewStub(channel_)),
        health_(wire::HealthCheck::NewStub(channel_)) {}

  grpc::Status lookup(const std::string& topic, wire::TopicLookupResponse& response, std::uint64_t request_id = 11) {
    grpc::ClientContext context;
    set_deadline(context);
    wire::TopicLookupRequest request;
    request.set_request_id(request_id);
    request.set_topic(topic);
    return discovery_->TopicLookup(&context, request, &response);
  }

  grpc::Status partitions(const std::string& topic, wire::TopicPartitionsResponse& response) {
    grpc::ClientContext context;
    set_deadline(context);
    wire::TopicLookupRequest request;
    request.set_request_id(12);
    request.set_topic(topic);
    return discovery_->TopicPartitions(&context, request, &response);
  }

  grpc::Status create_producer(const std::string& topic, const std::string& name, int strategy,
                               wire::ProducerResponse& response) {
    grpc::ClientContext context;
    set_deadline(context);
    wire::ProducerRequest request;
    request.set_request_id(21);
    request.set_topic_name(topic);
    request.set_producer_name(name);
    request.set_dispatch_strategy(static_cast<wire::DispatchStrategy>(strategy));
    return producers_->CreateProducer(&context, request, &response);
  }

  std::uint64_t producer(const std::string& topic, const std::string& name = "writer", int strategy = non_reliable) {
    wire::ProducerResponse response;
    const auto status = create_producer(topic, name, strategy, response);
    REQUIRE_MESSAGE(status.ok(), status.error_message());
    return response.producer_id();
  }

  grpc::Status send(const wire::StreamMessage& message, wire::MessageResponse& response) {
    grpc::ClientContext context;
    set_deadline(context);
    return producers_->SendMessage(&context, message, &response);
  }

  void publish(std::uint64_t producer_id, const std::string& topic, std::string payload) {
    wire::MessageResponse response;
    const auto status = send(make_message(producer_id, topic, std::move(payload)), response);
    REQUIRE_MESSAGE(status.ok(), status.error_message());
  }

  grpc::Status subscribe(const std::string& topic, const std::string& consumer, const std::string& subscription,
                         int type, wire::ConsumerResponse& response) {
    grpc::ClientContext context;
    set_deadline(context);
    wire::ConsumerRequest request;
    request.set_request_id(31);
    request.set_topic_name(topic);
    request.set_consumer_name(consumer);
    request.set_subscription(subscription);
    request.set_subscription_type(static_cast<wire::ConsumerRequest::SubscriptionType>(type));
    return consumers_->Subscribe(&context, request, &response);
  }

  std::uint64_t consumer(const std::string& topic, const std::string& consumer, const std::string& subscription,
                         int type = shared) {
    wire::ConsumerResponse response;
    const auto status = subscribe(topic, consumer, subscription, type, response);
    REQUIRE_MESSAGE(status.ok(), status.error_message());
    return response.consumer_id();
  }

  std::unique_ptr<open_stream> receive(std::uint64_t consumer_id) {
    return std::make_unique<open_stream>(*consumers_, consumer_id);
  }

  grpc::Status ack(const wire::AckRequest& request, wire::AckResponse& response) {
    grpc::ClientContext context;
    set_deadline(context);
    return consumers_->Ack(&context, request, &response);
  }

  grpc::Status nack(const wire::NackRequest& request, wire::NackResponse& response) {
    grpc::ClientContext context;
    set_deadline(context);
    return consumers_->Nack(&context, request, &response);
  }

  grpc::Status health(int client, std::uint64_t id, wire::HealthCheckResponse& response) {
    grpc::ClientContext context;
    set_deadline(context);
    wire::HealthCheckRequest request;
    request.set_request_id(41);
    request.set_client(static_cast<wire::HealthCheckRequest::ClientType>(client));
    request.set_id(id);
    return health_->HealthCheck(&context, request, &response);
  }

  wire::HealthCheckResponse::ClientStatus health_status(int client, std::uint64_t id) {
    wire::HealthCheckResponse response;
    const auto status = health(client, id, response);
    REQUIRE_MESSAGE(status.ok(), status.error_message());
    return response.status();
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<wire::Discovery::Stub> discovery_;
  std::unique_ptr<wire::ProducerService::Stub> producers_;
  std::unique_ptr<wire::ConsumerService::Stub> consumers_;
  std::unique_ptr<wire::HealthCheck::Stub> health_;
};

void check_status(const grpc::Status& status, grpc::StatusCode code, const std::string& message) {
  CHECK(status.error_code() == code);
  CHECK(status.error_message() == message);
}

std::string invalid_format(const std::string& topic) {
  return "The topic: " + topic + " has an invalid format, should be: /namespace_name/topic_name";
}

TEST_SUITE("embedded_broker") {
  TEST_CASE("scenario 2: the same producer name on the same topic gets the same id") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("reuse");

    wire::ProducerResponse first;
    REQUIRE(client.create_producer(topic, "p", non_reliable, first).ok());
    CHECK(first.request_id() == 21);
    CHECK(first.producer_name() == "p");
    CHECK(first.producer_id() != 0);

    wire::ProducerResponse again;
    REQUIRE(client.create_producer(topic, "p", non_reliable, again).ok());
    CHECK(again.producer_id() == first.producer_id());

    wire::ProducerResponse other;
    REQUIRE(client.create_producer(topic, "q", non_reliable, other).ok());
    CHECK(other.producer_id() != first.producer_id());

    wire::MessageResponse sent;
    REQUIRE(client.send(make_message(first.producer_id(), topic, "still works", 77), sent).ok());
    CHECK(sent.request_id() == 77);
    CHECK(broker.topics() == std::vector<std::string>{topic});
  }

  TEST_CASE("scenario 35: malformed topic names are INVALID_ARGUMENT with the broker's message") {
    auto broker = start_broker();
    wire_client client(broker);
    for (const std::string topic : {"default/t", "/default/a.b"}) {
      CAPTURE(topic);
      wire::TopicLookupResponse lookup;
      check_status(client.lookup(topic, lookup), grpc::StatusCode::INVALID_ARGUMENT, invalid_format(topic));
      wire::TopicPartitionsResponse partitions;
      check_status(client.partitions(topic, partitions), grpc::StatusCode::INVALID_ARGUMENT, invalid_format(topic));
      wire::ProducerResponse producer;
      check_status(client.create_producer(topic, "p", non_reliable, producer), grpc::StatusCode::INVALID_ARGUMENT,
                   invalid_format(topic));
      wire::ConsumerResponse consumer;
      check_status(client.subscribe(topic, "c", "s", shared, consumer), grpc::StatusCode::INVALID_ARGUMENT,
                   invalid_format(topic));
    }
    CHECK(broker.topics().empty());
  }

  TEST_CASE("scenario 36: lookups answer Connect with the broker's URL, NOT_FOUND, or an empty partition list") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("lookup");

    wire::TopicLookupResponse unknown;
    check_status(client.lookup(topic, unknown), grpc::StatusCode::NOT_FOUND,
                 "Unable to find the requested topic: " + topic);
    wire::TopicPartitionsResponse none;
    REQUIRE(client.partitions(topic, none).ok());
    CHECK(none.partitions().empty());

    client.producer(topic);
    wire::TopicLookupResponse found;
    REQUIRE(client.lookup(topic, found, 4242).ok());
    CHECK(found.request_id() == 4242);
    CHECK(found.response_type() == wire::TopicLookupResponse::Connect);
    CHECK(found.broker_url() == broker.url());
    CHECK(found.connect_url() == broker.url());
    CHECK_FALSE(found.proxy());
    CHECK(broker.url() == fmt::format("http://127.0.0.1:{}", broker.port()));

    wire::TopicPartitionsResponse itself;
    REQUIRE(client.partitions(topic, itself).ok());
    CHECK(std::vector<std::string>(itself.partitions().begin(), itself.partitions().end()) ==
          std::vector<std::string>{topic});
  }

  TEST_CASE("TopicPartitions lists prefix matches in byte order, unrelated ones included (upstream quirk)") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto base = unique_topic("orders");
    for (const char* suffix : {"-part-2", "-part-10", "-part-0", "-part-1", "_np"}) {
      client.producer(base + suffix);
    }
    client.producer(unique_topic("elsewhere"));

    wire::TopicPartitionsResponse response;
    REQUIRE(client.partitions(base, response).ok());
    CHECK(response.request_id() == 12);
    CHECK(std::vector<std::string>(response.partitions().begin(), response.partitions().end()) ==
          std::vector<std::string>{base + "-part-0", base + "-part-1", base + "-part-10", base + "-part-2",
                                   base + "_np"});

    wire::TopicPartitionsResponse one;
    REQUIRE(client.partitions(base + "-part-1", one).ok());
    CHECK(std::vector<std::string>(one.partitions().begin(), one.partitions().end()) ==
          std::vector<std::string>{base + "-part-1"});
  }

  TEST_CASE("scenario 37: consumers never create topics") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("absent");
    wire::ConsumerResponse response;
    check_status(client.subscribe(topic, "c", "s", shared, response), grpc::StatusCode::NOT_FOUND,
                 "Unable to find the topic: " + topic);
    CHECK(broker.topics().empty());
  }

  TEST_CASE("scenario 38: an Exclusive subscription admits one consumer name, that name re-subscribes") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("exclusive");
    client.producer(topic);
    const auto a = client.consumer(topic, "a", "only", exclusive);

    const std::string denied = "Not able to subscribe to the topic " + topic +
                               " due to Not allowed to add the Consumer: b, the Exclusive subscription can't be "
                               "shared with other consumers";
    wire::ConsumerResponse b;
    check_status(client.subscribe(topic, "b", "only", exclusive, b), grpc::StatusCode::PERMISSION_DENIED, denied);
    // The subscription's type is its creator's: a Shared request does not get in either.
    check_status(client.subscribe(topic, "b", "only", shared, b), grpc::StatusCode::PERMISSION_DENIED, denied);

    wire::ConsumerResponse again;
    REQUIRE(client.subscribe(topic, "a", "only", exclusive, again).ok());
    CHECK(again.consumer_id() == a);
    CHECK(again.consumer_name() == "a");
    CHECK(again.request_id() == 31);

    // Still refused while "a" is disconnected: any consumer, active or not, holds the subscription.
    {
      auto stream = client.receive(a);
      stream->wait_open();
      stream->cancel();
    }
    REQUIRE(eventually([&] { return client.health_status(consumer_client, a) == wire::HealthCheckResponse::CLOSE; }));
    check_status(client.subscribe(topic, "b", "only", exclusive, b), grpc::StatusCode::PERMISSION_DENIED, denied);
  }

  TEST_CASE("an unknown subscription type is refused when it would create the subscription") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("types");
    client.producer(topic);
    wire::ConsumerResponse response;
    check_status(client.subscribe(topic, "c", "new", 9, response), grpc::StatusCode::PERMISSION_DENIED,
                 "Not able to subscribe to the topic " + topic + " due to Should not get here");
    // No half-made subscription is left behind: the same name can now be created properly.
    client.consumer(topic, "c", "new", shared);
    // Joining an existing subscription does not look at the requested type.
    CHECK(client.subscribe(topic, "d", "new", 9, response).ok());
  }

  TEST_CASE("scenario 39: a producer must ask for the topic's dispatch strategy") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("reliable");
    client.producer(topic, "first", reliable);

    wire::ProducerResponse response;
    check_status(client.create_producer(topic, "second", non_reliable, response), grpc::StatusCode::FAILED_PRECONDITION,
                 "Producer requested dispatch strategy does not match topic strategy");
    CHECK(client.create_producer(topic, "second", reliable, response).ok());
    // An unknown strategy counts as "not given": accepted on an existing topic...
    CHECK(client.create_producer(topic, "third", 7, response).ok());
    // ...and refused when it would have to create the topic.
    check_status(client.create_producer(unique_topic("nostrategy"), "p", 7, response),
                 grpc::StatusCode::INVALID_ARGUMENT, "Dispatch strategy is missing");
  }

  TEST_CASE("reliable topics number their messages from 0, overwriting the producer's offset") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("offsets");
    const auto producer = client.producer(topic, "writer", reliable);
    const auto consumer = client.consumer(topic, "c", "s", exclusive);
    for (int i = 0; i < 3; ++i) {
      auto message = make_message(producer, topic, fmt::format("m{}", i));
      message.mutable_msg_id()->set_topic_offset(99);
      wire::MessageResponse response;
      REQUIRE(client.send(message, response).ok());
    }
    auto stream = client.receive(consumer);
    for (std::uint64_t expected = 0; expected < 3; ++expected) {
      const auto message = stream->next();
      CHECK(message.msg_id().topic_offset() == expected);
      CHECK(message.payload() == fmt::format("m{}", expected));
    }
  }

  TEST_CASE("scenario 40: unknown ids and malformed requests") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("ids");
    const auto producer = client.producer(topic);
    const auto consumer = client.consumer(topic, "c", "s");
    constexpr std::uint64_t unknown = 12345;

    wire::MessageResponse sent;
    check_status(client.send(make_message(unknown, topic, "x"), sent), grpc::StatusCode::NOT_FOUND,
                 "The producer with id 12345 does not exist");

    auto stream = client.receive(unknown);
    CHECK_FALSE(stream->read().has_value());
    check_status(stream->finish(), grpc::StatusCode::NOT_FOUND, "The consumer with the id 12345 does not exist");

    CHECK(client.health_status(producer_client, unknown) == wire::HealthCheckResponse::CLOSE);
    CHECK(client.health_status(consumer_client, unknown) == wire::HealthCheckResponse::CLOSE);
    CHECK(client.health_status(producer_client, producer) == wire::HealthCheckResponse::OK);
    CHECK(client.health_status(consumer_client, consumer) == wire::HealthCheckResponse::OK);
    wire::HealthCheckResponse health;
    check_status(client.health(7, producer, health), grpc::StatusCode::INVALID_ARGUMENT, "Invalid client type");

    // The real broker panics on a message without msg_id; the embedded one refuses it instead.
    wire::StreamMessage no_id;
    no_id.set_payload("x");
    CHECK(client.send(no_id, sent).error_code() == grpc::StatusCode::INVALID_ARGUMENT);

    const auto elsewhere = unique_topic("elsewhere");
    check_status(client.send(make_message(producer, elsewhere, "x"), sent), grpc::StatusCode::PERMISSION_DENIED,
                 "Unable to publish the message: Topic " + elsewhere + " not found in registry");
    client.producer(elsewhere, "other");
    check_status(client.send(make_message(producer, elsewhere, "x"), sent), grpc::StatusCode::PERMISSION_DENIED,
                 fmt::format("Unable to publish the message: the producer with id {} is not attached to topic name: {}",
                             producer, elsewhere));
  }

  TEST_CASE("Ack and Nack: routed by topic and subscription, request_id echoed") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("acks");
    client.producer(topic);
    client.consumer(topic, "c", "s");

    wire::AckRequest ack;
    ack.set_request_id(51);
    ack.mutable_msg_id()->set_topic_name(topic);
    ack.set_subscription_name("s");
    wire::AckResponse acked;
    REQUIRE(client.ack(ack, acked).ok());
    CHECK(acked.request_id() == 51);

    wire::NackRequest nack;
    nack.set_request_id(52);
    nack.mutable_msg_id()->set_topic_name(topic);
    nack.set_subscription_name("s");
    nack.set_delay_ms(10);
    wire::NackResponse nacked;
    REQUIRE(client.nack(nack, nacked).ok());
    CHECK(nacked.request_id() == 52);

    ack.set_subscription_name("missing");
    check_status(client.ack(ack, acked), grpc::StatusCode::INTERNAL,
                 "Error acknowledging message: Subscription not found");
    nack.set_subscription_name("missing");
    check_status(client.nack(nack, nacked), grpc::StatusCode::INTERNAL,
                 "Error negatively acknowledging message: Subscription not found");

    const auto absent = unique_topic("absent");
    ack.mutable_msg_id()->set_topic_name(absent);
    check_status(client.ack(ack, acked), grpc::StatusCode::INTERNAL,
                 "Error acknowledging message: Topic " + absent + " not found in registry");
    nack.mutable_msg_id()->set_topic_name(absent);
    check_status(client.nack(nack, nacked), grpc::StatusCode::INTERNAL,
                 "Error negatively acknowledging message: Topic " + absent + " not found in registry");

    ack.clear_msg_id();
    CHECK(client.ack(ack, acked).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    nack.clear_msg_id();
    CHECK(client.nack(nack, nacked).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }

  TEST_CASE("scenario 41: a consumer whose stream the client closed is CLOSE until it re-subscribes") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("health");
    const auto producer = client.producer(topic);
    const auto consumer = client.consumer(topic, "c", "s");
    // Active from Subscribe, before any stream.
    CHECK(client.health_status(consumer_client, consumer) == wire::HealthCheckResponse::OK);

    auto stream = client.receive(consumer);
    stream->wait_open();
    CHECK(client.health_status(consumer_client, consumer) == wire::HealthCheckResponse::OK);
    stream->cancel();
    CHECK(eventually(
        [&] { return client.health_status(consumer_client, consumer) == wire::HealthCheckResponse::CLOSE; }));
    CHECK(broker.streaming_consumers(topic) == 0);

    wire::ConsumerResponse again;
    REQUIRE(client.subscribe(topic, "c", "s", shared, again).ok());
    CHECK(again.consumer_id() == consumer);
    CHECK(client.health_status(consumer_client, consumer) == wire::HealthCheckResponse::OK);
    auto renewed = client.receive(consumer);
    renewed->wait_open();
    CHECK(client.health_status(consumer_client, consumer) == wire::HealthCheckResponse::OK);
    client.publish(producer, topic, "after");
    CHECK(renewed->read_payloads(1) == std::vector<std::string>{"after"});
  }

  TEST_CASE("scenario 4: Shared round-robin, 3 consumers x 36 messages, 12 each starting with the first") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("queue");
    const auto producer = client.producer(topic);
    std::vector<std::unique_ptr<open_stream>> streams;
    streams.reserve(3);
    for (int i = 0; i < 3; ++i) {
      streams.push_back(client.receive(client.consumer(topic, fmt::format("c{}", i), "work", shared)));
    }
    REQUIRE(eventually([&] { return broker.streaming_consumers(topic) == 3; }));

    for (int i = 0; i < 36; ++i) {
      client.publish(producer, topic, fmt::format("m{}", i));
    }
    std::set<std::string> seen;
    for (std::size_t c = 0; c < streams.size(); ++c) {
      std::vector<std::string> expected;
      for (std::size_t i = c; i < 36; i += 3) {
        expected.push_back(fmt::format("m{}", i));
      }
      const auto got = streams[c]->read_payloads(12);
      CHECK(got == expected);
      seen.insert(got.begin(), got.end());
    }
    CHECK(seen.size() == 36);
  }

  TEST_CASE("scenario 3: fan-out, every subscription gets every message") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("fanout");
    const auto producer = client.producer(topic);
    std::vector<std::unique_ptr<open_stream>> streams;
    streams.reserve(3);
    for (int i = 0; i < 3; ++i) {
      const auto name = fmt::format("sub{}", i);
      streams.push_back(client.receive(client.consumer(topic, name, name, exclusive)));
    }
    REQUIRE(eventually([&] { return broker.streaming_consumers(topic) == 3; }));

    std::vector<std::string> sent;
    for (int i = 0; i < 24; ++i) {
      sent.push_back(fmt::format("m{}", i));
      client.publish(producer, topic, sent.back());
    }
    for (auto& stream : streams) {
      CHECK(stream->read_payloads(24) == sent);
    }
  }

  TEST_CASE("a subscription created after a message does not get it") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("late");
    const auto producer = client.producer(topic);
    const auto early = client.consumer(topic, "early", "early");
    client.publish(producer, topic, "before");
    const auto late = client.consumer(topic, "late", "late");
    client.publish(producer, topic, "after");
    CHECK(client.receive(early)->read_payloads(2) == std::vector<std::string>{"before", "after"});
    CHECK(client.receive(late)->read_payloads(1) == std::vector<std::string>{"after"});
  }

  TEST_CASE("Failover delivers to the first consumer only, even while it is away (upstream quirk)") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("failover");
    const auto producer = client.producer(topic);
    const auto first = client.consumer(topic, "first", "fo", failover);
    const auto standby = client.consumer(topic, "standby", "fo", failover);
    auto standby_stream = client.receive(standby);
    {
      auto first_stream = client.receive(first);
      client.publish(producer, topic, "m0");
      CHECK(first_stream->read_payloads(1) == std::vector<std::string>{"m0"});
      first_stream->cancel();
    }
    REQUIRE(
        eventually([&] { return client.health_status(consumer_client, first) == wire::HealthCheckResponse::CLOSE; }));
    client.publish(producer, topic, "lost");  // nobody takes over: dropped
    CHECK(client.consumer(topic, "first", "fo", failover) == first);
    client.publish(producer, topic, "m1");
    CHECK(client.receive(first)->read_payloads(1) == std::vector<std::string>{"m1"});
    // The standby never received anything: once stop() ends its stream, there is nothing before the end.
    broker.stop();
    CHECK_FALSE(standby_stream->read().has_value());
  }

  TEST_CASE("delivered messages carry the producer's fields unchanged") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("fields");
    const auto producer = client.producer(topic);
    const auto consumer = client.consumer(topic, "c", "s");

    auto message = make_message(producer, topic, std::string("\0binary\xff", 8), 987);
    message.mutable_msg_id()->set_broker_addr("http://elsewhere:6650");
    message.mutable_msg_id()->set_topic_offset(5);
    message.set_publish_time(1700000000123);
    message.set_producer_name("the-writer");
    message.set_subscription_name("as-sent");
    (*message.mutable_attributes())["k"] = "v";
    (*message.mutable_attributes())["trace"] = "abc";
    message.set_schema_id(42);
    message.set_schema_version(3);
    message.set_routing_key("customer-7");
    wire::MessageResponse response;
    REQUIRE(client.send(message, response).ok());

    const auto delivered = client.receive(consumer)->next();
    CHECK_MESSAGE(google::protobuf::util::MessageDifferencer::Equals(delivered, message), delivered.DebugString());
  }

  TEST_CASE("messages wait for a subscribed consumer's first stream, up to consumer_buffer") {
    broker_options options;
    options.consumer_buffer = 2;
    auto broker = start_broker(options);
    wire_client client(broker);
    const auto topic = unique_topic("buffer");
    const auto producer = client.producer(topic);
    const auto consumer = client.consumer(topic, "c", "s");
    for (int i = 0; i < 5; ++i) {
      client.publish(producer, topic, fmt::format("m{}", i));
    }
    auto stream = client.receive(consumer);
    CHECK(stream->read_payloads(2) == std::vector<std::string>{"m0", "m1"});
    // m2..m4 found the buffer full and were dropped; the next message is the marker.
    client.publish(producer, topic, "marker");
    CHECK(stream->read_payloads(1) == std::vector<std::string>{"marker"});
  }

  TEST_CASE("stream takeover: a newer stream or a re-Subscribe ends the older stream normally") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("takeover");
    const auto producer = client.producer(topic);
    const auto consumer = client.consumer(topic, "c", "s");

    auto first = client.receive(consumer);
    first->wait_open();
    auto second = client.receive(consumer);
    second->wait_open();
    CHECK_FALSE(first->read().has_value());
    CHECK(first->finish().ok());
    client.publish(producer, topic, "to-second");
    CHECK(second->read_payloads(1) == std::vector<std::string>{"to-second"});

    CHECK(client.consumer(topic, "c", "s") == consumer);
    CHECK_FALSE(second->read().has_value());
    CHECK(second->finish().ok());
    // Between the re-Subscribe and the next stream the consumer is active and buffers.
    CHECK(client.health_status(consumer_client, consumer) == wire::HealthCheckResponse::OK);
    client.publish(producer, topic, "to-third");
    auto third = client.receive(consumer);
    CHECK(third->read_payloads(1) == std::vector<std::string>{"to-third"});
    CHECK(broker.streaming_consumers(topic) == 1);
  }

  TEST_CASE("streams ending while messages are being dispatched to them") {
    // Churn: publishers keep dispatching to a Shared subscription while its consumers' streams are
    // replaced, cancelled and taken over. Nothing is asserted about which messages arrive (losses
    // are non-reliable semantics); the broker must stay consistent and stop cleanly (run it under
    // ASan to check stream lifetimes).
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("churn");
    const auto producer = client.producer(topic);
    std::vector<std::uint64_t> consumers;
    consumers.reserve(3);
    for (int i = 0; i < 3; ++i) {
      consumers.push_back(client.consumer(topic, fmt::format("c{}", i), "s"));
    }
    std::atomic<bool> publishing{true};
    std::vector<std::thread> publishers;
    publishers.reserve(2);
    for (int t = 0; t < 2; ++t) {
      publishers.emplace_back([&] {
        wire_client own(broker);
        while (publishing.load()) {
          wire::MessageResponse response;
          static_cast<void>(own.send(make_message(producer, topic, "churn"), response));
        }
      });
    }
    for (int round = 0; round < 20; ++round) {
      for (std::size_t c = 0; c < consumers.size(); ++c) {
        const auto id = consumers[c];
        auto first = client.receive(id);
        first->wait_open();
        static_cast<void>(first->read());
        auto second = client.receive(id);  // takes over `first`
        second->wait_open();
        if (round % 2 == 0) {
          second->cancel();
        } else {
          client.consumer(topic, fmt::format("c{}", c), "s");  // takes over `second`
        }
      }
    }
    publishing.store(false);
    for (auto& publisher : publishers) {
      publisher.join();
    }
    auto last = client.receive(consumers.front());
    last->wait_open();
    client.publish(producer, topic, "still-working");
    auto stopping = std::async(std::launch::async, [&] { broker.stop(); });
    REQUIRE(stopping.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  }

  TEST_CASE("stop() ends open streams and returns promptly, it is idempotent") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("stop");
    client.producer(topic);
    auto a = client.receive(client.consumer(topic, "a", "s"));
    auto b = client.receive(client.consumer(topic, "b", "other", exclusive));
    a->wait_open();
    b->wait_open();
    REQUIRE(broker.streaming_consumers(topic) == 2);

    auto stopping = std::async(std::launch::async, [&] { broker.stop(); });
    REQUIRE(stopping.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    stopping.get();
    for (auto* stream : {a.get(), b.get()}) {
      CHECK_FALSE(stream->read().has_value());
      CHECK(stream->finish().error_code() == grpc::StatusCode::UNAVAILABLE);
    }
    broker.stop();
    CHECK(broker.topics() == std::vector<std::string>{topic});

    wire::TopicLookupResponse response;
    CHECK(client.lookup(topic, response).error_code() == grpc::StatusCode::UNAVAILABLE);
  }

  TEST_CASE("start() reports a busy port or a bad address as an error") {
    auto first = start_broker();
    broker_options busy;
    busy.listen_address = fmt::format("127.0.0.1:{}", first.port());
    const auto second = embedded_broker::start(busy);
    REQUIRE_FALSE(second.has_value());
    CHECK(second.error() == danube::errc::unavailable);
    CHECK(second.error().message().find(busy.listen_address) != std::string::npos);

    for (const char* address : {"localhost", "127.0.0.1:", ":80", "127.0.0.1:65536", "127.0.0.1:http", "::1:0"}) {
      CAPTURE(address);
      broker_options bad;
      bad.listen_address = address;
      const auto refused = embedded_broker::start(bad);
      REQUIRE_FALSE(refused.has_value());
      CHECK(refused.error() == danube::errc::invalid_argument);
    }
    broker_options no_buffer;
    no_buffer.consumer_buffer = 0;
    CHECK(embedded_broker::start(no_buffer).error() == danube::errc::invalid_argument);

    // The first broker is unaffected.
    wire_client client(first);
    wire::TopicLookupResponse response;
    CHECK(client.lookup(unique_topic("still-up"), response).error_code() == grpc::StatusCode::NOT_FOUND);
  }

  TEST_CASE("a moved-from broker is inert, moving keeps the server running") {
    auto broker = start_broker();
    const auto url = broker.url();
    embedded_broker moved(std::move(broker));
    CHECK(moved.url() == url);
    CHECK(broker.url().empty());  // NOLINT(bugprone-use-after-move): the moved-from state is the point
    CHECK(broker.port() == 0);
    broker.stop();
    wire_client client(moved);
    wire::TopicLookupResponse response;
    CHECK(client.lookup(unique_topic("moved"), response).error_code() == grpc::StatusCode::NOT_FOUND);
  }

  TEST_CASE("StorageService is not served: ListSegmentDescriptors answers UNIMPLEMENTED") {
    // Upstream serves it for danube-iceberg (storage_handler.rs); the embedded broker has no WAL
    // segments and clients never call it (docs/embedded-broker.md, deliberate deviations).
    auto broker = start_broker();
    grpc::GenericStub generic(
        grpc::CreateChannel(fmt::format("127.0.0.1:{}", broker.port()), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    set_deadline(context);
    // ListSegmentDescriptorsRequest{topic = "/default/t"}, encoded by hand: proto/ has no such service.
    const std::string encoded = std::string("\x0a\x0a", 2) + "/default/t";
    grpc::Slice slice(encoded);
    const grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    generic.UnaryCall(&context, "/danube.StorageService/ListSegmentDescriptors", grpc::StubOptions(), &request,
                      &response, [&done](grpc::Status status) { done.set_value(std::move(status)); });
    CHECK(done.get_future().get().error_code() == grpc::StatusCode::UNIMPLEMENTED);
  }
}

}  // namespace embedded_broker_wire_test
