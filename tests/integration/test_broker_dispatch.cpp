// Wire-level tests of the embedded broker's reliable, KeyShared and Failover dispatch, its failure
// policies and its partition creation rules (docs/protocol.md §2.2, §6 and
// §11 scenarios 11-27). The generated stubs talk to the broker directly; nothing here depends on our
// client library.
#include "support/test_support.hpp"
#include <danube/detail/proto.hpp>
#include <danube/error.hpp>
#include <danube/producer_options.hpp>
#include <danube/testing/detail/glob.hpp>
#include <danube/testing/detail/key_shared_ring.hpp>
#include <danube/testing/detail/redelivery.hpp>
#include <danube/testing/embedded_broker.hpp>
#include <danube/testing/embedded_cluster.hpp>
#include <danube/testing/failure_policy.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

// A named namespace, not an anonymous one: the integration tests are one unity-built translation
// unit, and these helper names must not meet another file's.
namespace broker_dispatch_wire_test {

namespace wire = danube::detail::wire;
using danube::testing::backoff;
using danube::testing::broker_options;
using danube::testing::embedded_broker;
using danube::testing::failure_policy;
using danube::testing::poison;
using namespace std::chrono_literals;

constexpr std::chrono::milliseconds rpc_timeout{5000};
// Bounds every wait for a message that must come; no test should come near it.
constexpr std::chrono::milliseconds arrival_timeout{10000};

constexpr int non_reliable = ::danube::NonReliable;
constexpr int reliable = ::danube::Reliable;
constexpr int exclusive = wire::ConsumerRequest::Exclusive;
constexpr int shared = wire::ConsumerRequest::Shared;
constexpr int failover = wire::ConsumerRequest::Failover;
constexpr int key_shared = wire::ConsumerRequest::KeyShared;
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
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = arrival_timeout) {
  return danube_test::wait_until(condition, timeout);
}

// The blob of upstream's reliable_dispatch_basic.rs: 102400 bytes of repeated text.
std::string blob() {
  std::string text;
  while (text.size() < 102400) {
    text += "Danube reliable dispatch keeps every byte of this text in order. ";
  }
  text.resize(102400);
  return text;
}

struct outgoing {
  std::string payload;
  std::optional<std::string> key = std::nullopt;
  std::map<std::string, std::string> attributes = {};
};

// An open ReceiveMessages call, read by a thread of its own into a queue, so that tests can wait for
// a message with a timeout, or check that nothing arrives for a while.
class receiver {
 public:
  receiver(wire::ConsumerService::Stub& stub, std::uint64_t consumer_id) {
    set_deadline(context_, 120s);
    wire::ReceiveRequest request;
    request.set_request_id(1);
    request.set_consumer_id(consumer_id);
    reader_ = stub.ReceiveMessages(&context_, request);
    thread_ = std::thread([this] { run_(); });
  }
  receiver(const receiver&) = delete;
  receiver& operator=(const receiver&) = delete;
  receiver(receiver&&) = delete;
  receiver& operator=(receiver&&) = delete;
  ~receiver() {
    context_.TryCancel();
    thread_.join();
  }

  // The broker attached the stream (it sent the response headers).
  bool wait_open(std::chrono::milliseconds timeout = rpc_timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return opened_ || ended_; }) && opened_;
  }

  // The next message in arrival order, if one comes within `timeout`.
  std::optional<wire::StreamMessage> next(std::chrono::milliseconds timeout = arrival_timeout) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return !queue_.empty() || ended_; }) || queue_.empty()) {
      return std::nullopt;
    }
    auto message = std::move(queue_.front());
    queue_.pop_front();
    return message;
  }

  // The next message; none within the timeout fails the test.
  wire::StreamMessage expect(std::chrono::milliseconds timeout = arrival_timeout) {
    auto message = next(timeout);
    REQUIRE_MESSAGE(message.has_value(), "no message arrived in time");
    return std::move(*message);
  }

  std::vector<wire::StreamMessage> expect(std::size_t count) {
    std::vector<wire::StreamMessage> messages;
    for (std::size_t i = 0; i < count; ++i) {
      messages.push_back(expect());
    }
    return messages;
  }

  // True when no message is waiting and none arrives within `period` (a bounded negative check).
  bool quiet_for(std::chrono::milliseconds period) {
    std::unique_lock lock(mutex_);
    return !changed_.wait_for(lock, period, [&] { return !queue_.empty(); });
  }

  void cancel() { context_.TryCancel(); }

  bool wait_ended(std::chrono::milliseconds timeout = rpc_timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return ended_; });
  }

 private:
  void run_() {
    reader_->WaitForInitialMetadata();
    notify_([&] { opened_ = true; });
    wire::StreamMessage message;
    while (reader_->Read(&message)) {
      notify_([&] { queue_.push_back(message); });
    }
    static_cast<void>(reader_->Finish());
    notify_([&] { ended_ = true; });
  }

  template <class F>
  void notify_(const F& change) {
    {
      const std::lock_guard lock(mutex_);
      change();
    }
    changed_.notify_all();
  }

  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<wire::StreamMessage>> reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<wire::StreamMessage> queue_;
  bool opened_ = false;
  bool ended_ = false;
  std::thread thread_;
};

class wire_client {
 public:
  explicit wire_client(const embedded_broker& broker)
      : channel_(grpc::CreateChannel(fmt::format("127.0.0.1:{}", broker.port()), grpc::InsecureChannelCredentials())),
        discovery_(wire::Discovery::NewStub(channel_)),
        producers_(wire::ProducerService::NewStub(channel_)),
        consumers_(wire::ConsumerService::NewStub(channel_)),
        health_(wire::HealthCheck::NewStub(channel_)) {}

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

  std::uint64_t producer(const std::string& topic, int strategy = reliable, const std::string& name = "writer") {
    wire::ProducerResponse response;
    const auto status = create_producer(topic, name, strategy, response);
    REQUIRE_MESSAGE(status.ok(), status.error_message());
    return response.producer_id();
  }

  grpc::Status send(const wire::StreamMessage& message) {
    grpc::ClientContext context;
    set_deadline(context);
    wire::MessageResponse response;
    return producers_->SendMessage(&context, message, &response);
  }

  void publish(std::uint64_t producer_id, const std::string& topic, const outgoing& message) {
    wire::StreamMessage out;
    out.set_request_id(++request_id_);
    out.mutable_msg_id()->set_producer_id(producer_id);
    out.mutable_msg_id()->set_topic_name(topic);
    out.mutable_msg_id()->set_broker_addr("http://127.0.0.1:1");
    out.set_payload(message.payload);
    out.set_producer_name("writer");
    out.set_publish_time(1700000000000);
    if (message.key) {
      out.set_routing_key(*message.key);
    }
    for (const auto& [k, v] : message.attributes) {
      (*out.mutable_attributes())[k] = v;
    }
    const auto status = send(out);
    REQUIRE_MESSAGE(status.ok(), status.error_message());
  }

  void publish(std::uint64_t producer_id, const std::string& topic, const std::string& payload) {
    publish(producer_id, topic, outgoing{payload});
  }

  grpc::Status subscribe(const std::string& topic, const std::string& consumer, const std::string& subscription,
                         int type, const std::vector<std::string>& filters, wire::ConsumerResponse& response) {
    grpc::ClientContext context;
    set_deadline(context);
    wire::ConsumerRequest request;
    request.set_request_id(31);
    request.set_topic_name(topic);
    request.set_consumer_name(consumer);
    request.set_subscription(subscription);
    request.set_subscription_type(static_cast<wire::ConsumerRequest::SubscriptionType>(type));
    for (const auto& filter : filters) {
      request.add_key_filters(filter);
    }
    return consumers_->Subscribe(&context, request, &response);
  }

  std::uint64_t consumer(const std::string& topic, const std::string& consumer, const std::string& subscription,
                         int type, const std::vector<std::string>& filters = {}) {
    wire::ConsumerResponse response;
    const auto status = subscribe(topic, consumer, subscription, type, filters, response);
    REQUIRE_MESSAGE(status.ok(), status.error_message());
    return response.consumer_id();
  }

  // The status a ReceiveMessages ends with when the broker refuses it at once (a stream it
  // accepts ends at the short deadline instead).
  grpc::Status receive_status(std::uint64_t consumer_id) {
    grpc::ClientContext context;
    set_deadline(context, 300ms);
    wire::ReceiveRequest request;
    request.set_consumer_id(consumer_id);
    auto reader = consumers_->ReceiveMessages(&context, request);
    wire::StreamMessage ignored;
    while (reader->Read(&ignored)) {
    }
    return reader->Finish();
  }

  std::unique_ptr<receiver> receive(std::uint64_t consumer_id) {
    auto stream = std::make_unique<receiver>(*consumers_, consumer_id);
    REQUIRE(stream->wait_open());
    return stream;
  }

  grpc::Status ack(const wire::StreamMessage& message, const std::string& subscription) {
    grpc::ClientContext context;
    set_deadline(context);
    wire::AckRequest request;
    request.set_request_id(51);
    *request.mutable_msg_id() = message.msg_id();
    request.set_subscription_name(subscription);
    wire::AckResponse response;
    return consumers_->Ack(&context, request, &response);
  }

  void acked(const wire::StreamMessage& message, const std::string& subscription) {
    const auto status = ack(message, subscription);
    REQUIRE_MESSAGE(status.ok(), status.error_message());
  }

  void nacked(const wire::StreamMessage& message, const std::string& subscription,
              std::optional<std::uint64_t> delay_ms = std::nullopt, std::optional<std::string> reason = std::nullopt) {
    grpc::ClientContext context;
    set_deadline(context);
    wire::NackRequest request;
    request.set_request_id(52);
    *request.mutable_msg_id() = message.msg_id();
    request.set_subscription_name(subscription);
    if (delay_ms) {
      request.set_delay_ms(*delay_ms);
    }
    if (reason) {
      request.set_reason(*reason);
    }
    wire::NackResponse response;
    const auto status = consumers_->Nack(&context, request, &response);
    REQUIRE_MESSAGE(status.ok(), status.error_message());
  }

  wire::HealthCheckResponse::ClientStatus health_status(int client, std::uint64_t id) {
    grpc::ClientContext context;
    set_deadline(context);
    wire::HealthCheckRequest request;
    request.set_client(static_cast<wire::HealthCheckRequest::ClientType>(client));
    request.set_id(id);
    wire::HealthCheckResponse response;
    const auto status = health_->HealthCheck(&context, request, &response);
    REQUIRE_MESSAGE(status.ok(), status.error_message());
    return response.status();
  }

  // Waits until the broker has noticed that the consumer's stream is gone.
  void wait_inactive(std::uint64_t consumer_id) {
    REQUIRE(
        eventually([&] { return health_status(consumer_client, consumer_id) == wire::HealthCheckResponse::CLOSE; }));
  }

  std::vector<std::string> partitions(const std::string& topic) {
    grpc::ClientContext context;
    set_deadline(context);
    wire::TopicLookupRequest request;
    request.set_topic(topic);
    wire::TopicPartitionsResponse response;
    const auto status = discovery_->TopicPartitions(&context, request, &response);
    REQUIRE_MESSAGE(status.ok(), status.error_message());
    return {response.partitions().begin(), response.partitions().end()};
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<wire::Discovery::Stub> discovery_;
  std::unique_ptr<wire::ProducerService::Stub> producers_;
  std::unique_ptr<wire::ConsumerService::Stub> consumers_;
  std::unique_ptr<wire::HealthCheck::Stub> health_;
  std::uint64_t request_id_ = 0;
};

void check_status(const grpc::Status& status, grpc::StatusCode code, const std::string& message) {
  CHECK(status.error_code() == code);
  CHECK(status.error_message() == message);
}

std::vector<std::string> payloads(const std::vector<wire::StreamMessage>& messages) {
  std::vector<std::string> out;
  out.reserve(messages.size());
  for (const auto& message : messages) {
    out.push_back(message.payload());
  }
  return out;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::ranges::find(names, name) != names.end();
}

std::vector<std::string> numbered(std::string_view prefix, int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) {
    out.push_back(fmt::format("{}{}", prefix, i));
  }
  return out;
}

// The policy of scenarios 17-21 and 26: fixed 50 ms backoff.
failure_policy fixed_policy(std::uint32_t max_redeliveries, poison on_poison,
                            std::optional<std::string> dead_letter_topic = std::nullopt) {
  failure_policy policy;
  policy.max_redelivery_count = max_redeliveries;
  policy.ack_timeout_ms = 5000;
  policy.base_redelivery_delay_ms = 50;
  policy.max_redelivery_delay_ms = 50;
  policy.backoff_strategy = backoff::fixed;
  policy.dead_letter_topic = std::move(dead_letter_topic);
  policy.poison_policy = on_poison;
  return policy;
}

void require_ok(const danube::result<void>& outcome) {
  REQUIRE_MESSAGE(outcome.has_value(), (outcome ? std::string() : fmt::format("{}", outcome.error())));
}

// KeyShared: publishes probes keyed key-0, key-1, ... (acking each) until every stream has
// received one; the key of a probe each stream got, by stream index.
std::map<std::size_t, std::string> key_per_stream(wire_client& client, std::uint64_t producer, const std::string& topic,
                                                  const std::vector<std::unique_ptr<receiver>>& streams,
                                                  const std::string& subscription) {
  std::map<std::size_t, std::string> key_of;
  for (int i = 0; key_of.size() < streams.size() && i < 64; ++i) {
    const auto key = fmt::format("key-{}", i);
    client.publish(producer, topic, outgoing{"probe", key});
    std::optional<wire::StreamMessage> got;
    std::size_t owner = 0;
    REQUIRE(eventually([&] {
      for (std::size_t c = 0; c < streams.size() && !got; ++c) {
        if ((got = streams[c]->next(0ms))) {
          owner = c;
        }
      }
      return got.has_value();
    }));
    client.acked(*got, subscription);
    key_of.try_emplace(owner, key);
  }
  REQUIRE(key_of.size() == streams.size());
  return key_of;
}

TEST_SUITE("broker_dispatch") {
  // ---------------------------------------------------------------------------------------------
  // Building blocks

  TEST_CASE("glob key filters: *, ? and literals, anchored, byte-wise") {
    using danube::testing::detail::glob_match;
    CHECK(glob_match("user-123", "user-*"));
    CHECK(glob_match("user-", "user-*"));
    CHECK_FALSE(glob_match("order-123", "user-*"));
    CHECK(glob_match("us-a", "us-?"));
    CHECK_FALSE(glob_match("us-ab", "us-?"));
    CHECK_FALSE(glob_match("us-", "us-?"));
    CHECK(glob_match("", "*"));
    CHECK(glob_match("anything", "*"));
    CHECK(glob_match("exact", "exact"));
    CHECK_FALSE(glob_match("Exact", "exact"));
    CHECK_FALSE(glob_match("exact-not", "exact"));
    CHECK(glob_match("eu-west-1-order", "eu-*-order"));
    CHECK_FALSE(glob_match("eu-west-1-payment", "eu-*-order"));
    CHECK(glob_match("a-b-c", "*-*-*"));
    CHECK(glob_match("aaab", "*a*b"));
    CHECK_FALSE(glob_match("", "?"));
    // `?` is one byte: a two-byte UTF-8 character needs two.
    CHECK_FALSE(glob_match("\xc3\xa9", "?"));
    CHECK(glob_match("\xc3\xa9", "??"));
    // A `*` in the key meets a `*` in the pattern as a literal first, without a backtracking
    // point, as upstream's matcher does (docs/protocol.md §6.3): a standard glob would match these.
    CHECK_FALSE(glob_match("a*b", "a*"));
    CHECK_FALSE(glob_match("xa*b", "*a*"));
    CHECK(glob_match("a*", "a*"));
    CHECK(glob_match("a*b", "a*b"));
    CHECK(glob_match("ab", "a*"));
    CHECK(glob_match("*x", "*"));
    CHECK(glob_match("a*b", "a?b"));
    CHECK(danube::testing::detail::accepts_key({}, "whatever"));
    CHECK(danube::testing::detail::accepts_key({"eu-*", "ap-*"}, "ap-1"));
    CHECK_FALSE(danube::testing::detail::accepts_key({"eu-*", "ap-*"}, "us-1"));
  }

  TEST_CASE("KeyShared ring: FNV-1a 64 folded through fmix32, 100 vnodes, filters restrict it") {
    using danube::testing::detail::fnv1a_64;
    using danube::testing::detail::key_shared_ring;
    using danube::testing::detail::ring_hash;
    CHECK(fnv1a_64("") == 0xcbf29ce484222325ULL);
    CHECK(fnv1a_64("a") == 0xaf63dc4c8601ec8cULL);
    CHECK(fnv1a_64("foobar") == 0x85944171f73967e8ULL);
    CHECK(ring_hash("order-123") == ring_hash("order-123"));
    CHECK(ring_hash("order-123") != ring_hash("order-124"));

    key_shared_ring ring;
    const std::vector<std::uint64_t> two{101, 202};
    ring.assign(two);
    const auto all = [](std::uint64_t /*unused*/) { return true; };
    std::map<std::string, std::uint64_t> owners;
    std::set<std::uint64_t> used;
    for (int i = 0; i < 1000; ++i) {
      const auto key = fmt::format("key-{}", i);
      const auto owner = ring.owner(key, all);
      REQUIRE(owner.has_value());
      CHECK(ring.owner(key, all) == owner);  // stable
      owners[key] = *owner;
      used.insert(*owner);
    }
    CHECK(used.size() == 2);
    // A third member takes roughly a third of the keys and moves no key between the first two.
    const std::vector<std::uint64_t> three{101, 202, 303};
    ring.assign(three);
    int moved = 0;
    for (const auto& [key, before] : owners) {
      const auto after = ring.owner(key, all);
      REQUIRE(after.has_value());
      if (*after != before) {
        CHECK(*after == 303);
        ++moved;
      }
    }
    CHECK(moved > 150);
    CHECK(moved < 550);
    // Restricted to eligible consumers: only 202 wants anything, then nobody.
    CHECK(ring.owner("key-1", [](std::uint64_t id) { return id == 202; }) == std::optional<std::uint64_t>(202));
    CHECK_FALSE(ring.owner("key-1", [](std::uint64_t /*unused*/) { return false; }).has_value());
  }

  TEST_CASE("redelivery delay: fixed, exponential, requested delay only lengthens, capped") {
    using danube::testing::detail::redelivery_delay_ms;
    failure_policy policy;  // defaults: exponential 1000 ms, cap 60000 ms
    CHECK(redelivery_delay_ms(1, std::nullopt, policy) == 1000);
    CHECK(redelivery_delay_ms(2, std::nullopt, policy) == 2000);
    CHECK(redelivery_delay_ms(4, std::nullopt, policy) == 8000);
    CHECK(redelivery_delay_ms(10, std::nullopt, policy) == 60000);
    CHECK(redelivery_delay_ms(200, std::nullopt, policy) == 60000);
    CHECK(redelivery_delay_ms(1, 5000, policy) == 5000);
    CHECK(redelivery_delay_ms(1, 10, policy) == 1000);
    CHECK(redelivery_delay_ms(1, 999999, policy) == 60000);
    policy.backoff_strategy = backoff::fixed;
    CHECK(redelivery_delay_ms(7, std::nullopt, policy) == 1000);
    CHECK(failure_policy{} == failure_policy{.max_redelivery_count = 5,
                                             .ack_timeout_ms = 30000,
                                             .base_redelivery_delay_ms = 1000,
                                             .max_redelivery_delay_ms = 60000,
                                             .backoff_strategy = backoff::exponential,
                                             .dead_letter_topic = std::nullopt,
                                             .poison_policy = poison::block});
  }

  // ---------------------------------------------------------------------------------------------
  // Partition creation rules (§2.2) and the admin stand-ins

  TEST_CASE("a partitioned base and a non-partitioned topic of the same name never coexist (ALREADY_EXISTS)") {
    auto broker = start_broker();
    wire_client client(broker);
    wire::ProducerResponse response;

    const auto plain = unique_topic("plain");
    client.producer(plain, non_reliable);
    check_status(client.create_producer(plain + "-part-0", "p", non_reliable, response),
                 grpc::StatusCode::ALREADY_EXISTS,
                 "Cannot create partitioned topic '" + plain + "-part-0': a non-partitioned topic '" + plain +
                     "' already exists. Delete the non-partitioned topic first.");
    // The existing topic itself is unaffected.
    CHECK(client.create_producer(plain, "again", non_reliable, response).ok());

    const auto parted = unique_topic("parted");
    client.producer(parted + "-part-0", non_reliable);
    client.producer(parted + "-part-1", non_reliable);
    check_status(client.create_producer(parted, "p", non_reliable, response), grpc::StatusCode::ALREADY_EXISTS,
                 "Cannot create topic '" + parted +
                     "': partitioned topics with this base name already exist (found 2 partitions). Delete the "
                     "partitioned topics first.");
    // The base is the part before the last "-part-".
    check_status(client.create_producer(parted + "-part-0-part-3", "p", non_reliable, response),
                 grpc::StatusCode::ALREADY_EXISTS,
                 "Cannot create partitioned topic '" + parted + "-part-0-part-3': a non-partitioned topic '" + parted +
                     "-part-0' already exists. Delete the non-partitioned topic first.");

    // Upstream's plain prefix match (QUIRK): /default/foo is refused while /default/foobar exists.
    const auto longer = unique_topic("prefix") + "bar";
    client.producer(longer, non_reliable);
    const auto shorter = longer.substr(0, longer.size() - 3);
    check_status(client.create_producer(shorter, "p", non_reliable, response), grpc::StatusCode::ALREADY_EXISTS,
                 "Cannot create topic '" + shorter +
                     "': partitioned topics with this base name already exist (found 1 partitions). Delete the "
                     "partitioned topics first.");

    // A missing strategy is reported first, as upstream validates in that order.
    check_status(client.create_producer(parted, "p", 7, response), grpc::StatusCode::INVALID_ARGUMENT,
                 "Dispatch strategy is missing");
    CHECK_FALSE(contains(broker.topics(), parted));
  }

  TEST_CASE("create_topic: plain or partitioned, reliable or not, with the broker's ALREADY_EXISTS rules") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto base = unique_topic("admin");
    require_ok(broker.create_topic(base, danube::dispatch_strategy::reliable, 3));
    CHECK(client.partitions(base) == std::vector<std::string>{base + "-part-0", base + "-part-1", base + "-part-2"});
    wire::ProducerResponse response;
    check_status(client.create_producer(base + "-part-1", "p", non_reliable, response),
                 grpc::StatusCode::FAILED_PRECONDITION,
                 "Producer requested dispatch strategy does not match topic strategy");
    CHECK(client.create_producer(base + "-part-1", "p", reliable, response).ok());

    auto again = broker.create_topic(base + "-part-0");
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error() == danube::errc::already_exists);
    CHECK(again.error().message() == "Topic '" + base + "-part-0' already exists");
    auto plain = broker.create_topic(base);
    REQUIRE_FALSE(plain.has_value());
    CHECK(plain.error() == danube::errc::already_exists);
    CHECK(plain.error().message() ==
          "Cannot create topic '" + base +
              "': partitioned topics with this base name already exist (found 3 partitions). Delete the partitioned "
              "topics first.");

    const auto single = unique_topic("single");
    require_ok(broker.create_topic(single));
    CHECK(client.create_producer(single, "p", non_reliable, response).ok());
    auto parts = broker.create_topic(single, danube::dispatch_strategy::non_reliable, 2);
    REQUIRE_FALSE(parts.has_value());
    CHECK(parts.error() == danube::errc::already_exists);
    CHECK(parts.error().message() == "Cannot create partitioned topic '" + single +
                                         "-part-0': a non-partitioned topic '" + single +
                                         "' already exists. Delete the non-partitioned topic first.");
    CHECK(broker.create_topic("default/bad").error() == danube::errc::invalid_argument);
    CHECK(client.partitions(single) == std::vector<std::string>{single});
  }

  TEST_CASE("set_failure_policy: reliable topics only, DeadLetter needs a topic, read when the subscription is made") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("policy");
    auto unknown = broker.set_failure_policy(topic, "s", failure_policy{});
    REQUIRE_FALSE(unknown.has_value());
    CHECK(unknown.error() == danube::errc::failed_precondition);
    CHECK(unknown.error().message() == "subscription failure policy can only be configured for reliable topics");
    // (Created in this order: "<topic>-np" first would make "<topic>" look partitioned, §2.2.)
    require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
    require_ok(broker.create_topic(topic + "-np"));
    CHECK(broker.set_failure_policy(topic + "-np", "s", failure_policy{}).error() == danube::errc::failed_precondition);

    failure_policy no_topic;
    no_topic.poison_policy = poison::dead_letter;
    for (const std::optional<std::string>& dlq : {std::optional<std::string>(), std::optional<std::string>(" \t")}) {
      no_topic.dead_letter_topic = dlq;
      auto refused = broker.set_failure_policy(topic, "s", no_topic);
      REQUIRE_FALSE(refused.has_value());
      CHECK(refused.error() == danube::errc::invalid_argument);
      CHECK(refused.error().message() == "dead_letter_topic must be configured when poison_policy is DeadLetter");
    }
    CHECK(broker.subscription_failure_policy(topic, "s") == failure_policy{});
    CHECK_FALSE(broker.subscription_failure_policy(topic + "-np", "s").has_value());

    const auto chosen = fixed_policy(2, poison::drop);
    require_ok(broker.set_failure_policy(topic, "s", chosen));
    CHECK(broker.subscription_failure_policy(topic, "s") == chosen);
    CHECK(broker.subscription_failure_policy(topic, "other") == failure_policy{});
    client.consumer(topic, "c", "s", exclusive);
    // Read once, when the subscription was created: a later change is stored but not applied.
    require_ok(broker.set_failure_policy(topic, "s", fixed_policy(9, poison::block)));
    CHECK(broker.subscription_failure_policy(topic, "s") == chosen);
  }

  // ---------------------------------------------------------------------------------------------
  // Reliable dispatch (§6.4)

  TEST_CASE("scenario 11: reliable integrity, 20 x 102400-byte payloads arrive byte-identical (Exclusive, Shared)") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto payload = blob();
    REQUIRE(payload.size() == 102400);
    for (const int type : {exclusive, shared}) {
      CAPTURE(type);
      const auto topic = unique_topic("integrity");
      const auto producer = client.producer(topic);
      auto stream = client.receive(client.consumer(topic, "c", "s", type));
      for (int i = 0; i < 20; ++i) {
        client.publish(producer, topic, payload);
      }
      for (std::uint64_t i = 0; i < 20; ++i) {
        const auto message = stream->expect();
        CHECK(message.payload() == payload);
        CHECK(message.msg_id().topic_offset() == i);
        CHECK(client.ack(message, "s").ok());
      }
      CHECK(broker.unacked_messages(topic, "s") == 0);
    }
  }

  TEST_CASE("scenario 12: 100 reliable messages sent back-to-back arrive in send order") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("burst");
    const auto producer = client.producer(topic);
    auto stream = client.receive(client.consumer(topic, "c", "s", exclusive));
    for (int i = 0; i < 100; ++i) {
      client.publish(producer, topic, fmt::format("m{}", i));
    }
    for (int i = 0; i < 100; ++i) {
      const auto message = stream->expect();
      CHECK(message.payload() == fmt::format("m{}", i));
      CHECK(message.msg_id().topic_offset() == static_cast<std::uint64_t>(i));
      client.acked(message, "s");
    }
  }

  TEST_CASE("scenario 13: reliable bursts with 800 ms gaps all arrive") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("gaps");
    const auto producer = client.producer(topic);
    auto stream = client.receive(client.consumer(topic, "c", "s", exclusive));
    std::vector<std::string> got;
    for (int burst = 0; burst < 3; ++burst) {
      if (burst > 0) {
        std::this_thread::sleep_for(800ms);  // the scenario's pause, not a wait for the broker
      }
      for (int i = 0; i < 10; ++i) {
        client.publish(producer, topic, fmt::format("b{}-{}", burst, i));
      }
      for (int i = 0; i < 10; ++i) {
        const auto message = stream->expect();
        got.push_back(message.payload());
        client.acked(message, "s");
      }
    }
    std::vector<std::string> expected;
    for (int burst = 0; burst < 3; ++burst) {
      for (int i = 0; i < 10; ++i) {
        expected.push_back(fmt::format("b{}-{}", burst, i));
      }
    }
    CHECK(got == expected);
  }

  TEST_CASE("a reliable subscription starts at Latest and keeps what arrives before its first stream") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("latest");
    const auto producer = client.producer(topic);
    client.publish(producer, topic, "before");  // offset 0, no subscription: nobody will read it
    const auto consumer = client.consumer(topic, "c", "s", exclusive);
    client.publish(producer, topic, "after-1");
    client.publish(producer, topic, "after-2");
    const auto late = client.consumer(topic, "late", "late", exclusive);
    client.publish(producer, topic, "after-3");

    auto stream = client.receive(consumer);
    const auto first = stream->expect(3);
    CHECK(payloads(first) == std::vector<std::string>{"after-1", "after-2", "after-3"});
    CHECK(first.front().msg_id().topic_offset() == 1);
    auto late_stream = client.receive(late);
    const auto only = late_stream->expect();
    CHECK(only.payload() == "after-3");
    CHECK(only.msg_id().topic_offset() == 3);
    CHECK(late_stream->quiet_for(200ms));
  }

  TEST_CASE("the unacked window: 10 in flight, the next one after an ack - late and unknown acks are ignored") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("window");
    const auto producer = client.producer(topic);
    auto stream = client.receive(client.consumer(topic, "c", "s", exclusive));
    for (int i = 0; i < 15; ++i) {
      client.publish(producer, topic, fmt::format("m{}", i));
    }
    const auto first = stream->expect(10);
    CHECK(payloads(first) == numbered("m", 0, 10));
    CHECK(stream->quiet_for(300ms));
    CHECK(broker.unacked_messages(topic, "s") == 10);

    // Out of order: acking m3 frees a slot, m10 follows.
    client.acked(first[3], "s");
    CHECK(stream->expect().payload() == "m10");
    // A second ack of the same offset, and an offset never sent: OK, and nothing changes.
    client.acked(first[3], "s");
    auto unknown = first[0];
    unknown.mutable_msg_id()->set_topic_offset(999);
    client.acked(unknown, "s");
    client.nacked(unknown, "s", 0, "late");
    CHECK(stream->quiet_for(200ms));
    CHECK(broker.unacked_messages(topic, "s") == 10);
    for (const auto& message : first) {
      client.acked(message, "s");
    }
    const auto rest = stream->expect(4);
    CHECK(payloads(rest) == numbered("m", 11, 15));
  }

  TEST_CASE("reliable dispatch waits for room in a consumer's buffer: nothing is dropped") {
    broker_options options;
    options.consumer_buffer = 2;
    auto broker = start_broker(options);
    wire_client client(broker);
    const auto topic = unique_topic("room");
    const auto producer = client.producer(topic);
    const auto consumer = client.consumer(topic, "c", "s", exclusive);
    for (int i = 0; i < 30; ++i) {
      client.publish(producer, topic, fmt::format("m{}", i));
    }
    // Only 2 fit the buffer before any stream; the rest waits in the log, not dropped.
    CHECK(broker.unacked_messages(topic, "s") == 2);
    auto stream = client.receive(consumer);
    std::vector<std::string> got;
    for (int i = 0; i < 30; ++i) {
      const auto message = stream->expect();
      got.push_back(message.payload());
      client.acked(message, "s");
    }
    CHECK(got == numbered("m", 0, 30));
  }

  TEST_CASE("scenario 14: an Exclusive consumer that re-subscribes gets its unacked message first") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("reconnect");
    const auto producer = client.producer(topic);
    const auto consumer = client.consumer(topic, "c", "s", exclusive);
    auto stream = client.receive(consumer);
    for (int i = 0; i < 10; ++i) {
      client.publish(producer, topic, fmt::format("msg_{}", i));
    }
    for (int i = 0; i < 3; ++i) {
      const auto message = stream->expect();
      CHECK(message.payload() == fmt::format("msg_{}", i));
      client.acked(message, "s");
    }
    CHECK(stream->expect().payload() == "msg_3");  // received, never acked
    stream->cancel();
    client.wait_inactive(consumer);
    stream.reset();

    CHECK(client.consumer(topic, "c", "s", exclusive) == consumer);
    auto again = client.receive(consumer);
    for (int i = 3; i < 10; ++i) {
      const auto message = again->expect();
      CHECK(message.payload() == fmt::format("msg_{}", i));
      CHECK(message.msg_id().topic_offset() == static_cast<std::uint64_t>(i));
      client.acked(message, "s");
    }
    CHECK(again->quiet_for(200ms));
    CHECK(broker.unacked_messages(topic, "s") == 0);
  }

  TEST_CASE("scenario 15: repeated reconnects redeliver the same unacked message, after its ack the next one comes") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("reconnects");
    const auto producer = client.producer(topic);
    const auto consumer = client.consumer(topic, "c", "s", exclusive);
    auto stream = client.receive(consumer);
    for (int i = 0; i < 5; ++i) {
      client.publish(producer, topic, fmt::format("msg_{}", i));
    }
    client.acked(stream->expect(), "s");
    CHECK(stream->expect().payload() == "msg_1");
    wire::StreamMessage redelivered;
    for (int cycle = 0; cycle < 2; ++cycle) {
      CAPTURE(cycle);
      stream->cancel();
      client.wait_inactive(consumer);
      stream.reset();
      CHECK(client.consumer(topic, "c", "s", exclusive) == consumer);
      stream = client.receive(consumer);
      redelivered = stream->expect();
      CHECK(redelivered.payload() == "msg_1");
    }
    client.acked(redelivered, "s");
    CHECK(stream->expect().payload() == "msg_2");
  }

  TEST_CASE("a second ReceiveMessages ends the older stream but redelivers nothing until the ack timeout") {
    // Upstream cancels the older stream and attaches the new one without a redelivery pass: what
    // the old stream delivered waits for its ack timeout (consumer_handler.rs, docs/protocol.md §2.5).
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("second-stream");
    const auto producer = client.producer(topic);
    constexpr std::uint64_t ack_timeout_ms = 1500;
    failure_policy policy;
    policy.ack_timeout_ms = ack_timeout_ms;
    require_ok(broker.set_failure_policy(topic, "s", policy));
    const auto consumer = client.consumer(topic, "c", "s", exclusive);
    auto stream = client.receive(consumer);
    client.publish(producer, topic, "msg_0");
    CHECK(stream->expect().payload() == "msg_0");
    const auto opened = std::chrono::steady_clock::now();
    auto takeover = client.receive(consumer);
    CHECK(stream->wait_ended());
    CHECK(broker.streaming_consumers(topic) == 1);
    CHECK(takeover->quiet_for(500ms));
    const auto redelivered = takeover->expect();
    CHECK(redelivered.payload() == "msg_0");
    // Not before the ack timeout (less what passed between the delivery and `opened`).
    CHECK(std::chrono::steady_clock::now() - opened >= std::chrono::milliseconds(ack_timeout_ms) - 500ms);
    client.acked(redelivered, "s");
    client.publish(producer, topic, "msg_1");
    CHECK(takeover->expect().payload() == "msg_1");
  }

  TEST_CASE("scenario 16: a Shared consumer that disconnects hands its unacked messages to the other") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("shared-failover");
    const auto producer = client.producer(topic);
    const auto c1 = client.consumer(topic, "c1", "s", shared);
    const auto c2 = client.consumer(topic, "c2", "s", shared);
    auto s1 = client.receive(c1);
    auto s2 = client.receive(c2);
    for (int i = 0; i < 10; ++i) {
      client.publish(producer, topic, fmt::format("msg_{}", i));
    }
    // Round-robin from the first consumer: c1 holds msg_0, 2, 4, 6, 8 and acks none of them.
    const auto held = s1->expect(5);
    CHECK(payloads(held) == std::vector<std::string>{"msg_0", "msg_2", "msg_4", "msg_6", "msg_8"});
    std::set<std::string> union_of;
    for (const auto& message : s2->expect(5)) {
      union_of.insert(message.payload());
      client.acked(message, "s");
    }
    s1->cancel();
    client.wait_inactive(c1);
    for (int i = 0; i < 5; ++i) {
      const auto message = s2->expect();
      CHECK(contains(payloads(held), message.payload()));
      union_of.insert(message.payload());
      client.acked(message, "s");
    }
    CHECK(union_of.size() == 10);
    CHECK(broker.unacked_messages(topic, "s") == 0);
  }

  TEST_CASE("Failover, reliable: the first consumer only, a standby never takes over, redelivery on its return") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("failover");
    const auto producer = client.producer(topic);
    const auto first = client.consumer(topic, "first", "fo", failover);
    const auto standby = client.consumer(topic, "standby", "fo", failover);
    auto standby_stream = client.receive(standby);
    auto first_stream = client.receive(first);
    client.publish(producer, topic, "m0");
    CHECK(first_stream->expect().payload() == "m0");  // not acked
    first_stream->cancel();
    client.wait_inactive(first);
    client.publish(producer, topic, "m1");
    CHECK(standby_stream->quiet_for(500ms));  // upstream never fails over
    CHECK(client.consumer(topic, "first", "fo", failover) == first);
    auto back = client.receive(first);
    const auto redelivered = back->expect();
    CHECK(redelivered.payload() == "m0");
    client.acked(redelivered, "fo");
    const auto next = back->expect();
    CHECK(next.payload() == "m1");
    client.acked(next, "fo");
    CHECK(standby_stream->quiet_for(100ms));
  }

  TEST_CASE("reliable Shared under stream churn: every message is delivered at least once") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("churn");
    const auto producer = client.producer(topic);
    std::vector<std::uint64_t> consumers;
    std::vector<std::unique_ptr<receiver>> streams;
    for (int c = 0; c < 3; ++c) {
      consumers.push_back(client.consumer(topic, fmt::format("c{}", c), "s", shared));
      streams.push_back(client.receive(consumers.back()));
    }
    constexpr int per_publisher = 200;
    std::vector<std::thread> publishers;
    for (int t = 0; t < 2; ++t) {
      publishers.emplace_back([&, t] {
        wire_client own(broker);
        for (int i = 0; i < per_publisher; ++i) {
          own.publish(producer, topic, fmt::format("t{}-{}", t, i));
          if (i % 10 == 0) {
            std::this_thread::sleep_for(2ms);  // pacing, so that the churn overlaps the publishing
          }
        }
      });
    }
    std::set<std::string> seen;
    int round = 0;
    const bool complete = eventually(
        [&] {
          for (auto& stream : streams) {
            while (auto message = stream->next(0ms)) {
              seen.insert(message->payload());
              static_cast<void>(client.ack(*message, "s"));
            }
          }
          // Churn: the last consumer's stream is dropped, or taken over by a re-Subscribe.
          if (++round % 10 == 0 && round < 400) {
            if (round % 20 == 0) {
              streams.back()->cancel();
              client.wait_inactive(consumers.back());
            } else {
              client.consumer(topic, "c2", "s", shared);
            }
            streams.back() = client.receive(consumers.back());
          }
          return seen.size() == 2 * per_publisher && round >= 100;
        },
        30s);
    for (auto& publisher : publishers) {
      publisher.join();
    }
    CHECK(complete);
    CHECK(seen.size() == 2 * per_publisher);
    auto stopping = std::async(std::launch::async, [&] { broker.stop(); });
    REQUIRE(stopping.wait_for(5s) == std::future_status::ready);
  }

  // ---------------------------------------------------------------------------------------------
  // Nack, ack timeout and the failure policy (§6.5, §6.6)

  TEST_CASE("scenario 17: a nacked message comes back with the same offset and payload (Exclusive, Shared)") {
    auto broker = start_broker();
    wire_client client(broker);
    for (const int type : {exclusive, shared}) {
      CAPTURE(type);
      const auto topic = unique_topic("nack");
      require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
      require_ok(broker.set_failure_policy(topic, "s", fixed_policy(2, poison::block)));
      auto stream = client.receive(client.consumer(topic, "c", "s", type));
      const auto producer = client.producer(topic);
      client.publish(producer, topic, "nack-me");
      const auto first = stream->expect();
      client.nacked(first, "s", 0);
      const auto again = stream->expect(5000ms);
      CHECK(again.payload() == "nack-me");
      CHECK(again.msg_id().topic_offset() == first.msg_id().topic_offset());
      client.acked(again, "s");
      CHECK(broker.unacked_messages(topic, "s") == 0);
    }
  }

  TEST_CASE("nack delay_ms lengthens the policy delay, capped by max_redelivery_delay_ms") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("nack-delay");
    require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
    auto policy = fixed_policy(5, poison::block);
    policy.max_redelivery_delay_ms = 2000;
    require_ok(broker.set_failure_policy(topic, "s", policy));
    auto stream = client.receive(client.consumer(topic, "c", "s", exclusive));
    const auto producer = client.producer(topic);
    client.publish(producer, topic, "later");

    const auto first = stream->expect();
    auto nacked_at = std::chrono::steady_clock::now();
    client.nacked(first, "s", 700);
    const auto second = stream->expect();
    CHECK(std::chrono::steady_clock::now() - nacked_at >= 690ms);
    CHECK(second.msg_id().topic_offset() == first.msg_id().topic_offset());

    nacked_at = std::chrono::steady_clock::now();
    client.nacked(second, "s", 600000);  // capped at 2 s
    const auto third = stream->expect();
    const auto waited = std::chrono::steady_clock::now() - nacked_at;
    CHECK(waited >= 1990ms);
    CHECK(waited < 8000ms);
    client.acked(third, "s");
  }

  TEST_CASE("scenario 18: a message not acked within ack_timeout_ms is redelivered") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("ack-timeout");
    require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
    auto policy = fixed_policy(3, poison::block);
    policy.ack_timeout_ms = 200;
    require_ok(broker.set_failure_policy(topic, "s", policy));
    auto stream = client.receive(client.consumer(topic, "c", "s", exclusive));
    const auto producer = client.producer(topic);
    client.publish(producer, topic, "slow");
    const auto first = stream->expect();
    const auto again = stream->expect();
    CHECK(again.payload() == "slow");
    CHECK(again.msg_id().topic_offset() == first.msg_id().topic_offset());
    client.acked(again, "s");
    CHECK(stream->quiet_for(500ms));  // acked: no further redelivery
  }

  TEST_CASE("scenario 19: Block, an exhausted message holds its subscription up") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("block");
    require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
    require_ok(broker.set_failure_policy(topic, "s", fixed_policy(0, poison::block)));
    auto stream = client.receive(client.consumer(topic, "c", "s", exclusive));
    const auto producer = client.producer(topic);
    client.publish(producer, topic, "A");
    client.nacked(stream->expect(), "s", 0, "poison");
    client.publish(producer, topic, "B");
    CHECK(stream->quiet_for(2000ms));
    CHECK(broker.unacked_messages(topic, "s") == 1);
  }

  TEST_CASE("scenario 20: Drop, an exhausted message is skipped and the next one comes") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("drop");
    require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
    require_ok(broker.set_failure_policy(topic, "s", fixed_policy(0, poison::drop)));
    auto stream = client.receive(client.consumer(topic, "c", "s", exclusive));
    const auto producer = client.producer(topic);
    client.publish(producer, topic, "A");
    client.nacked(stream->expect(), "s", 0);
    client.publish(producer, topic, "B");
    const auto next = stream->expect();
    CHECK(next.payload() == "B");
    client.acked(next, "s");
    CHECK(stream->quiet_for(200ms));
  }

  TEST_CASE("a message is delivered at most max_redelivery_count + 1 times") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("attempts");
    require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
    require_ok(broker.set_failure_policy(topic, "s", fixed_policy(2, poison::drop)));
    auto stream = client.receive(client.consumer(topic, "c", "s", shared));
    const auto producer = client.producer(topic);
    client.publish(producer, topic, "flaky");
    for (int delivery = 0; delivery < 3; ++delivery) {
      const auto message = stream->expect();
      CHECK(message.payload() == "flaky");
      client.nacked(message, "s");
    }
    client.publish(producer, topic, "next");
    CHECK(stream->expect().payload() == "next");
  }

  TEST_CASE("scenario 21: DeadLetter republishes to the DLQ with the x-* attributes, then moves on") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("dead");
    const auto dlq = topic + "-dlq";
    require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
    require_ok(broker.create_topic(dlq, danube::dispatch_strategy::reliable));
    require_ok(broker.set_failure_policy(topic, "s", fixed_policy(0, poison::dead_letter, dlq)));
    auto main_stream = client.receive(client.consumer(topic, "c", "s", exclusive));
    auto dlq_stream = client.receive(client.consumer(dlq, "reader", "dlq-sub", exclusive));
    const auto producer = client.producer(topic);
    client.publish(producer, topic, outgoing{"A", "key-a", {{"k", "v"}}});
    const auto original = main_stream->expect();
    client.nacked(original, "s", 0, "dead-letter it");

    const auto dead = dlq_stream->expect();
    CHECK(dead.payload() == "A");
    CHECK(dead.msg_id().topic_name() == dlq);
    CHECK(dead.msg_id().topic_offset() == 0);
    CHECK(dead.msg_id().broker_addr() == broker.url());
    CHECK(dead.producer_name().starts_with("broker-replicator-"));
    CHECK_FALSE(dead.has_routing_key());
    const std::map<std::string, std::string> attributes(dead.attributes().begin(), dead.attributes().end());
    CHECK(attributes == std::map<std::string, std::string>{
                            {"k", "v"},
                            {"x-original-topic", topic},
                            {"x-original-subscription", "s"},
                            {"x-original-topic-offset", "0"},
                            {"x-original-producer-id", fmt::format("{}", producer)},
                            {"x-original-broker-addr", "http://127.0.0.1:1"},
                            {"x-poison-policy", "dead_letter"},
                            {"x-delivery-attempt", "1"},
                            {"x-failure-reason", "dead-letter it"},
                        });
    client.acked(dead, "dlq-sub");

    // The main subscription proceeds.
    client.publish(producer, topic, "B");
    const auto next = main_stream->expect();
    CHECK(next.payload() == "B");
    client.acked(next, "s");
    REQUIRE(eventually([&] { return broker.unacked_messages(topic, "s") == 0; }));
  }

  TEST_CASE("DeadLetter after ack timeouts: reason \"ack timeout\", a missing DLQ topic is created reliable") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("dead-timeout");
    const auto dlq = topic + "-dlq";
    require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
    auto policy = fixed_policy(1, poison::dead_letter, dlq);
    policy.ack_timeout_ms = 100;
    require_ok(broker.set_failure_policy(topic, "s", policy));
    auto stream = client.receive(client.consumer(topic, "c", "s", exclusive));
    const auto producer = client.producer(topic);
    client.publish(producer, topic, "ignored");
    CHECK(stream->expect().payload() == "ignored");
    CHECK(stream->expect().payload() == "ignored");  // the one redelivery, never acked either
    REQUIRE(eventually([&] { return contains(broker.topics(), dlq); }));
    REQUIRE(eventually([&] { return broker.unacked_messages(topic, "s") == 0; }));
    // Created by the internal producer, hence reliable: a non-reliable producer is refused.
    wire::ProducerResponse response;
    CHECK(client.create_producer(dlq, "p", non_reliable, response).error_code() ==
          grpc::StatusCode::FAILED_PRECONDITION);
    // What the dead letters carry, seen by a DLQ subscription (which starts at Latest, so with the
    // next message).
    auto dlq_stream = client.receive(client.consumer(dlq, "reader", "r", exclusive));
    client.publish(producer, topic, "ignored-too");
    CHECK(stream->expect().payload() == "ignored-too");
    CHECK(stream->expect().payload() == "ignored-too");
    const auto dead = dlq_stream->expect();
    CHECK(dead.payload() == "ignored-too");
    CHECK(dead.attributes().at("x-failure-reason") == "ack timeout");
    CHECK(dead.attributes().at("x-delivery-attempt") == "2");
    CHECK(dead.attributes().at("x-original-topic-offset") == "1");
  }

  TEST_CASE("DeadLetter to a non-reliable topic is refused: the message stays, the subscription goes on") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("dead-refused");
    const auto dlq = topic + "-dlq";
    require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
    require_ok(broker.create_topic(dlq, danube::dispatch_strategy::non_reliable));
    require_ok(broker.set_failure_policy(topic, "s", fixed_policy(0, poison::dead_letter, dlq)));
    auto stream = client.receive(client.consumer(topic, "c", "s", exclusive));
    auto dlq_stream = client.receive(client.consumer(dlq, "reader", "r", exclusive));
    const auto producer = client.producer(topic);
    client.publish(producer, topic, "A");
    client.nacked(stream->expect(), "s", 0, "no place for it");
    client.publish(producer, topic, "B");
    const auto next = stream->expect();
    CHECK(next.payload() == "B");
    client.acked(next, "s");
    CHECK(dlq_stream->quiet_for(1000ms));
    CHECK(broker.unacked_messages(topic, "s") == 1);
  }

  // ---------------------------------------------------------------------------------------------
  // KeyShared (§6.3)

  TEST_CASE("scenario 22: KeyShared affinity, every key to one consumer - reliable keeps per-key order") {
    for (const int strategy : {non_reliable, reliable}) {
      CAPTURE(strategy);
      auto broker = start_broker();
      wire_client client(broker);
      const auto topic = unique_topic("affinity");
      const auto producer = client.producer(topic, strategy);
      std::vector<std::unique_ptr<receiver>> streams;
      streams.push_back(client.receive(client.consumer(topic, "c0", "ks", key_shared)));
      streams.push_back(client.receive(client.consumer(topic, "c1", "ks", key_shared)));
      const std::vector<std::string> keys{"alpha", "beta", "gamma", "delta"};
      for (int round = 0; round < 5; ++round) {
        for (const auto& key : keys) {
          client.publish(producer, topic, outgoing{fmt::format("{}-{}", key, round), key});
        }
      }
      std::map<std::string, std::set<std::size_t>> consumers_of;
      std::map<std::string, std::vector<std::string>> order;
      std::size_t received = 0;
      REQUIRE(eventually([&] {
        for (std::size_t c = 0; c < streams.size(); ++c) {
          while (auto message = streams[c]->next(0ms)) {
            consumers_of[message->routing_key()].insert(c);
            order[message->routing_key()].push_back(message->payload());
            ++received;
            if (strategy == reliable) {
              client.acked(*message, "ks");
            }
          }
        }
        return received == 20;
      }));
      for (const auto& key : keys) {
        CAPTURE(key);
        CHECK(consumers_of[key].size() == 1);
        CHECK(order[key] == std::vector<std::string>{fmt::format("{}-0", key), fmt::format("{}-1", key),
                                                     fmt::format("{}-2", key), fmt::format("{}-3", key),
                                                     fmt::format("{}-4", key)});
      }
      for (auto& stream : streams) {
        CHECK(stream->quiet_for(100ms));
      }
    }
  }

  TEST_CASE("KeyShared without a routing key routes by producer name") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("by-producer");
    const auto producer = client.producer(topic, reliable);
    auto stream = client.receive(client.consumer(topic, "c", "ks", key_shared, {"writ*"}));
    client.publish(producer, topic, outgoing{"keyless"});
    client.publish(producer, topic, outgoing{"keyed", "other"});  // admitted by nobody: skipped
    client.publish(producer, topic, outgoing{"keyless-2"});
    const auto first = stream->expect();
    CHECK(first.payload() == "keyless");
    client.acked(first, "ks");
    const auto second = stream->expect();
    CHECK(second.payload() == "keyless-2");
    client.acked(second, "ks");
    CHECK(stream->quiet_for(200ms));
    CHECK(broker.unacked_messages(topic, "ks") == 0);
  }

  TEST_CASE("scenario 23: KeyShared glob filters isolate keys (plain, reliable, multi-pattern)") {
    struct variant {
      int strategy;
      std::vector<std::string> a_filters;
      std::vector<std::string> b_filters;
      std::vector<std::string> a_keys;
      std::vector<std::string> b_keys;
    };
    const std::vector<variant> variants{
        {non_reliable, {"user-*"}, {"order-*"}, {"user-1", "user-2"}, {"order-1", "order-2"}},
        {reliable, {"eu-*"}, {"us-*"}, {"eu-west", "eu-north"}, {"us-east", "us-west"}},
        {reliable, {"eu-*", "ap-*"}, {"us-*", "af-*"}, {"eu-1", "ap-1", "ap-2"}, {"us-1", "af-1", "af-2"}},
    };
    for (const auto& v : variants) {
      CAPTURE(v.a_filters.front());
      auto broker = start_broker();
      wire_client client(broker);
      const auto topic = unique_topic("filters");
      const auto producer = client.producer(topic, v.strategy);
      auto a = client.receive(client.consumer(topic, "a", "ks", key_shared, v.a_filters));
      auto b = client.receive(client.consumer(topic, "b", "ks", key_shared, v.b_filters));
      for (std::size_t i = 0; i < std::max(v.a_keys.size(), v.b_keys.size()); ++i) {
        for (const auto* keys : {&v.a_keys, &v.b_keys}) {
          if (i < keys->size()) {
            for (int n = 0; n < 3; ++n) {
              client.publish(producer, topic, outgoing{fmt::format("{}#{}", (*keys)[i], n), (*keys)[i]});
            }
          }
        }
      }
      for (auto [stream, keys] : {std::pair{a.get(), &v.a_keys}, std::pair{b.get(), &v.b_keys}}) {
        for (std::size_t i = 0; i < keys->size() * 3; ++i) {
          const auto message = stream->expect();
          CHECK(std::ranges::find(*keys, message.routing_key()) != keys->end());
          if (v.strategy == reliable) {
            client.acked(message, "ks");
          }
        }
        CHECK(stream->quiet_for(100ms));
      }
    }
  }

  TEST_CASE("scenario 24: KeyShared mixed filters, vip-* to its consumer only, the rest shared by the ring") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("mixed");
    const auto producer = client.producer(topic, non_reliable);
    auto vip = client.receive(client.consumer(topic, "vip", "ks", key_shared, {"vip-*"}));
    auto anyone = client.receive(client.consumer(topic, "anyone", "ks", key_shared));
    std::size_t sent = 0;
    for (int i = 0; i < 10; ++i) {
      client.publish(producer, topic, outgoing{fmt::format("v{}", i), fmt::format("vip-{}", i)});
      client.publish(producer, topic, outgoing{fmt::format("r{}", i), fmt::format("regular-{}", i)});
      sent += 2;
    }
    std::size_t from_vip = 0;
    std::size_t from_anyone = 0;
    REQUIRE(eventually([&] {
      while (auto message = vip->next(0ms)) {
        CHECK(message->routing_key().starts_with("vip-"));
        ++from_vip;
      }
      while (anyone->next(0ms)) {
        ++from_anyone;
      }
      return from_vip + from_anyone == sent;
    }));
    CHECK(from_anyone >= 10);  // every regular key, plus the vip keys its ring share holds
    CHECK(vip->quiet_for(100ms));
    CHECK(anyone->quiet_for(0ms));
  }

  TEST_CASE("key_filters are ignored for other subscription types and for joiners not asking for KeyShared") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("ignored-filters");
    const auto producer = client.producer(topic, non_reliable);
    auto only = client.receive(client.consumer(topic, "c", "ex", exclusive, {"nothing-matches"}));
    // A Shared request joining a KeyShared subscription brings no filters.
    auto ks = client.receive(client.consumer(topic, "k", "ks", key_shared, {"nothing-matches"}));
    auto joiner = client.receive(client.consumer(topic, "j", "ks", shared, {"nothing-matches"}));
    client.publish(producer, topic, outgoing{"m", "some-key"});
    CHECK(only->expect().payload() == "m");
    CHECK(joiner->expect().payload() == "m");
    CHECK(ks->quiet_for(100ms));
  }

  TEST_CASE("scenario 25: KeyShared out-of-order acks, everything accounted for and delivery goes on") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("ooo");
    const auto producer = client.producer(topic, reliable);
    auto stream = client.receive(client.consumer(topic, "c", "ks", key_shared));
    for (int i = 0; i < 10; ++i) {
      client.publish(producer, topic, outgoing{fmt::format("ooo-{}", i), fmt::format("key-{}", i)});
    }
    auto messages = stream->expect(10);
    CHECK(stream->quiet_for(200ms));  // the window is full
    std::ranges::reverse(messages);
    for (const auto& message : messages) {
      client.acked(message, "ks");
    }
    CHECK(broker.unacked_messages(topic, "ks") == 0);
    for (int i = 10; i < 20; ++i) {
      client.publish(producer, topic, outgoing{fmt::format("ooo-{}", i), fmt::format("key-{}", i % 3)});
    }
    std::map<std::string, std::vector<std::string>> per_key;
    for (int i = 10; i < 20; ++i) {
      const auto message = stream->expect();
      per_key[message.routing_key()].push_back(message.payload());
      client.acked(message, "ks");
    }
    CHECK(per_key["key-0"] == std::vector<std::string>{"ooo-12", "ooo-15", "ooo-18"});
    CHECK(per_key["key-1"] == std::vector<std::string>{"ooo-10", "ooo-13", "ooo-16", "ooo-19"});
    CHECK(per_key["key-2"] == std::vector<std::string>{"ooo-11", "ooo-14", "ooo-17"});
  }

  TEST_CASE("reliable KeyShared: one message per key in flight, the next of that key after its ack") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("per-key");
    const auto producer = client.producer(topic, reliable);
    auto stream = client.receive(client.consumer(topic, "c", "ks", key_shared));
    client.publish(producer, topic, outgoing{"a1", "a"});
    client.publish(producer, topic, outgoing{"a2", "a"});
    client.publish(producer, topic, outgoing{"b1", "b"});
    const auto a1 = stream->expect();
    CHECK(a1.payload() == "a1");
    CHECK(stream->expect().payload() == "b1");
    CHECK(stream->quiet_for(200ms));  // a2 waits behind a1
    CHECK(broker.unacked_messages(topic, "ks") == 3);
    client.acked(a1, "ks");
    CHECK(stream->expect().payload() == "a2");
  }

  TEST_CASE("scenario 26: KeyShared Block stalls only the poisoned key") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("ks-block");
    require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
    require_ok(broker.set_failure_policy(topic, "ks", fixed_policy(0, poison::block)));
    auto stream = client.receive(client.consumer(topic, "c", "ks", key_shared));
    const auto producer = client.producer(topic, reliable);
    client.publish(producer, topic, outgoing{"block-me", "blocked-key"});
    const auto first = stream->expect();
    CHECK(first.payload() == "block-me");
    client.nacked(first, "ks", 0, "block it");
    client.publish(producer, topic, outgoing{"other-key-msg", "healthy-key"});
    const auto healthy = stream->expect();
    CHECK(healthy.payload() == "other-key-msg");
    client.acked(healthy, "ks");
    client.publish(producer, topic, outgoing{"still-blocked", "blocked-key"});
    CHECK(stream->quiet_for(2000ms));
  }

  TEST_CASE("KeyShared Drop and DeadLetter free the key for its next message") {
    for (const poison on_poison : {poison::drop, poison::dead_letter}) {
      CAPTURE(static_cast<int>(on_poison));
      auto broker = start_broker();
      wire_client client(broker);
      const auto topic = unique_topic("ks-free");
      const auto dlq = topic + "-dlq";
      require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
      require_ok(broker.create_topic(dlq, danube::dispatch_strategy::reliable));
      require_ok(broker.set_failure_policy(
          topic, "ks",
          fixed_policy(0, on_poison, on_poison == poison::dead_letter ? std::optional(dlq) : std::nullopt)));
      auto stream = client.receive(client.consumer(topic, "c", "ks", key_shared));
      auto dlq_stream = client.receive(client.consumer(dlq, "r", "r", exclusive));
      const auto producer = client.producer(topic, reliable);
      client.publish(producer, topic, outgoing{"poisoned", "order"});
      client.publish(producer, topic, outgoing{"after", "order"});  // waits behind "poisoned"
      client.nacked(stream->expect(), "ks", 0, "bad");
      const auto next = stream->expect();
      CHECK(next.payload() == "after");
      client.acked(next, "ks");
      if (on_poison == poison::dead_letter) {
        const auto dead = dlq_stream->expect();
        CHECK(dead.payload() == "poisoned");
        CHECK(dead.attributes().at("x-original-subscription") == "ks");
      } else {
        CHECK(dlq_stream->quiet_for(200ms));
      }
    }
  }

  TEST_CASE("scenario 27: KeyShared on 3 partitions: all messages arrive, keys spread, affinity with 2 consumers") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto base = unique_topic("ks-parts");
    require_ok(broker.create_topic(base, danube::dispatch_strategy::reliable, 3));
    const auto parts = client.partitions(base);
    REQUIRE(parts.size() == 3);
    std::vector<std::uint64_t> producers;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      producers.push_back(client.producer(parts[i], reliable, fmt::format("writer-{}", i)));
    }
    const std::vector<std::string> keys{"k-north", "k-south", "k-east", "k-west", "k-center"};
    // The client's key routing: FNV-1a 64 of the key modulo the partition count.
    const auto partition_of = [&](const std::string& key) {
      return static_cast<std::size_t>(danube::testing::detail::fnv1a_64(key) % parts.size());
    };
    std::set<std::size_t> used;
    for (const auto& key : keys) {
      used.insert(partition_of(key));
    }
    CHECK(used.size() >= 2);

    // Two consumers, each subscribed to every partition under the same names.
    std::vector<std::vector<std::unique_ptr<receiver>>> streams(2);
    for (std::size_t c = 0; c < 2; ++c) {
      for (const auto& part : parts) {
        streams[c].push_back(client.receive(client.consumer(part, fmt::format("c{}", c), "ks", key_shared)));
      }
    }
    for (int round = 0; round < 4; ++round) {
      for (const auto& key : keys) {
        const auto p = partition_of(key);
        client.publish(producers[p], parts[p], outgoing{fmt::format("{}-{}", key, round), key});
      }
    }
    std::map<std::string, std::set<std::size_t>> consumers_of;
    std::map<std::string, std::vector<std::string>> order;
    std::set<std::string> partitions_seen;
    std::size_t received = 0;
    REQUIRE(eventually([&] {
      for (std::size_t c = 0; c < 2; ++c) {
        for (auto& stream : streams[c]) {
          while (auto message = stream->next(0ms)) {
            consumers_of[message->routing_key()].insert(c);
            order[message->routing_key()].push_back(message->payload());
            partitions_seen.insert(message->msg_id().topic_name());
            CHECK(message->msg_id().topic_name() == parts[partition_of(message->routing_key())]);
            client.acked(*message, "ks");
            ++received;
          }
        }
      }
      return received == keys.size() * 4;
    }));
    CHECK(partitions_seen.size() == used.size());
    for (const auto& key : keys) {
      CAPTURE(key);
      CHECK(consumers_of[key].size() == 1);
      CHECK(order[key] == std::vector<std::string>{fmt::format("{}-0", key), fmt::format("{}-1", key),
                                                   fmt::format("{}-2", key), fmt::format("{}-3", key)});
    }
  }

  TEST_CASE("reliable KeyShared: a consumer gone for the 3 s grace leaves the ring, its messages move on") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("ks-evict");
    const auto producer = client.producer(topic, reliable);
    const auto c0 = client.consumer(topic, "c0", "ks", key_shared);
    const auto c1 = client.consumer(topic, "c1", "ks", key_shared);
    std::vector<std::unique_ptr<receiver>> streams;
    streams.push_back(client.receive(c0));
    streams.push_back(client.receive(c1));
    const auto key_of = key_per_stream(client, producer, topic, streams, "ks");
    const auto& moving = key_of.at(0);
    client.publish(producer, topic, outgoing{"held", moving});
    CHECK(streams[0]->expect().payload() == "held");  // not acked
    streams[0]->cancel();
    client.wait_inactive(c0);
    const auto gone_at = std::chrono::steady_clock::now();
    client.publish(producer, topic, outgoing{"later", moving});
    // Within the grace the key stays with c0 and waits; then c1 gets the unacked message first.
    const auto first = streams[1]->expect();
    CHECK(std::chrono::steady_clock::now() - gone_at >= 2500ms);
    CHECK(first.payload() == "held");
    client.acked(first, "ks");
    const auto second = streams[1]->expect();
    CHECK(second.payload() == "later");
    client.acked(second, "ks");
    // c0 comes back and rejoins the ring: its key is its own again.
    CHECK(client.consumer(topic, "c0", "ks", key_shared) == c0);
    streams[0] = client.receive(c0);
    client.publish(producer, topic, outgoing{"home", moving});
    const auto home = streams[0]->expect();
    CHECK(home.payload() == "home");
    client.acked(home, "ks");
  }

  // ---------------------------------------------------------------------------------------------
  // Shutdown

  TEST_CASE("stop() is prompt with timers, redeliveries and dead letters pending") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("stop");
    require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
    auto policy = fixed_policy(3, poison::dead_letter, topic + "-dlq");
    policy.base_redelivery_delay_ms = 60000;
    policy.max_redelivery_delay_ms = 60000;
    require_ok(broker.set_failure_policy(topic, "s", policy));
    auto stream = client.receive(client.consumer(topic, "c", "s", shared));
    const auto producer = client.producer(topic);
    for (int i = 0; i < 10; ++i) {
      client.publish(producer, topic, fmt::format("m{}", i));
    }
    for (const auto& message : stream->expect(10)) {
      client.nacked(message, "s");  // each waits a minute for its redelivery
    }
    auto stopping = std::async(std::launch::async, [&] { broker.stop(); });
    REQUIRE(stopping.wait_for(5s) == std::future_status::ready);
    CHECK(stream->wait_ended());
  }
}

// The embedded broker against the upstream behaviours listed in docs/protocol.md that it once
// lacked (issue 14): idle subscription reaping, acks during a backoff, namespaces, request size,
// cluster-wide creation conflicts.
TEST_SUITE("broker_fidelity") {
  TEST_CASE("an ack while a nacked message waits out its backoff is ignored, the message still comes again") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("ack-in-backoff");
    const auto producer = client.producer(topic);
    auto policy = fixed_policy(3, poison::block);
    policy.base_redelivery_delay_ms = 600;
    policy.max_redelivery_delay_ms = 600;
    require_ok(broker.set_failure_policy(topic, "s", policy));
    const auto consumer = client.consumer(topic, "c", "s", exclusive);
    auto stream = client.receive(consumer);
    client.publish(producer, topic, "payment");
    const auto first = stream->expect();
    client.nacked(first, "s");
    // Upstream's handle_ack counts an ack only for an offset awaiting it (dispatcher/*/reliable.rs).
    client.acked(first, "s");
    CHECK(broker.unacked_messages(topic, "s") == 1);
    const auto again = stream->expect();
    CHECK(again.payload() == "payment");
    CHECK(again.msg_id().topic_offset() == first.msg_id().topic_offset());
    client.acked(again, "s");
    CHECK(eventually([&] { return broker.unacked_messages(topic, "s") == 0; }));
  }

  TEST_CASE("idle non-reliable subscriptions are removed after the grace, with their consumers") {
    broker_options options;
    options.idle_subscription_grace = 1s;
    auto broker = start_broker(options);
    wire_client client(broker);
    const auto topic = unique_topic("idle-reaped");
    const auto producer = client.producer(topic, non_reliable);
    const auto idle = client.consumer(topic, "c", "idle", exclusive);
    const auto busy = client.consumer(topic, "c", "busy", exclusive);
    auto busy_stream = client.receive(busy);
    {
      auto idle_stream = client.receive(idle);
      idle_stream->cancel();
      client.wait_inactive(idle);
    }
    // The first message that finds no active consumer marks "idle" idle; "busy" takes it.
    client.publish(producer, topic, "m0");
    CHECK(busy_stream->expect().payload() == "m0");
    CHECK(client.health_status(consumer_client, idle) == wire::HealthCheckResponse::CLOSE);
    // Gone after the grace, with its consumer (unknown now: NOT_FOUND); the busy one untouched.
    const auto subscriptions = [&] { return broker.subscriptions(topic); };
    CHECK(subscriptions() == std::vector<std::string>{"busy", "idle"});
    CHECK(eventually([&] { return subscriptions() == std::vector<std::string>{"busy"}; }));
    CHECK(client.receive_status(idle).error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(client.health_status(consumer_client, idle) == wire::HealthCheckResponse::CLOSE);
    CHECK(client.health_status(consumer_client, busy) == wire::HealthCheckResponse::OK);
    client.publish(producer, topic, "m1");
    CHECK(busy_stream->expect().payload() == "m1");
    // Subscribing again creates the subscription and a new consumer.
    CHECK(client.consumer(topic, "c", "idle", exclusive) != idle);
  }

  TEST_CASE("a Subscribe before the grace ends keeps an idle subscription, reliable ones are never removed") {
    broker_options options;
    options.idle_subscription_grace = 300ms;
    auto broker = start_broker(options);
    wire_client client(broker);
    const auto topic = unique_topic("idle-kept");
    const auto producer = client.producer(topic, non_reliable);
    const auto consumer = client.consumer(topic, "c", "s", exclusive);
    client.receive(consumer)->cancel();
    client.wait_inactive(consumer);
    client.publish(producer, topic, "lost");
    CHECK(client.consumer(topic, "c", "s", exclusive) == consumer);  // takeover: active, not idle
    std::this_thread::sleep_for(600ms);
    CHECK(broker.subscriptions(topic) == std::vector<std::string>{"s"});
    auto stream = client.receive(consumer);
    client.publish(producer, topic, "kept");
    CHECK(stream->expect().payload() == "kept");

    const auto durable = unique_topic("idle-reliable");
    const auto writer = client.producer(durable, reliable);
    const auto reader = client.consumer(durable, "c", "s", exclusive);
    client.receive(reader)->cancel();
    client.wait_inactive(reader);
    client.publish(writer, durable, "waits");
    std::this_thread::sleep_for(600ms);
    auto resumed = client.receive(reader);
    CHECK(resumed->expect().payload() == "waits");
  }

  TEST_CASE("a topic in a namespace that does not exist is not created: UNAVAILABLE, as upstream") {
    broker_options options;
    options.namespaces.emplace_back("tenant");
    auto broker = start_broker(options);
    wire_client client(broker);
    wire::ProducerResponse response;
    check_status(client.create_producer("/missing/orders", "p", reliable, response), grpc::StatusCode::UNAVAILABLE,
                 "Unable to find the namespace missing, the topic can be created only for an exisiting namespace");
    CHECK(client.partitions("/missing/orders").empty());
    // The format and the dispatch strategy are checked first.
    check_status(client.create_producer("/missing/orders", "p", 7, response), grpc::StatusCode::INVALID_ARGUMENT,
                 "Dispatch strategy is missing");
    CHECK(client.create_producer("/system/orders", "p", reliable, response).ok());
    CHECK(client.create_producer("/tenant/orders", "p", reliable, response).ok());
    const auto refused = broker.create_topic("/missing/jobs", danube::dispatch_strategy::reliable);
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == danube::errc::unavailable);
  }

  TEST_CASE("a request over 4 MiB is OUT_OF_RANGE with tonic's text, one just under it is served") {
    auto broker = start_broker();
    wire_client client(broker);
    const auto topic = unique_topic("oversized");
    const auto producer = client.producer(topic, non_reliable);
    auto message = wire::StreamMessage();
    message.set_request_id(1);
    message.mutable_msg_id()->set_producer_id(producer);
    message.mutable_msg_id()->set_topic_name(topic);
    message.set_payload(std::string(4U * 1024U * 1024U, 'x'));
    const auto size = message.ByteSizeLong();
    check_status(
        client.send(message), grpc::StatusCode::OUT_OF_RANGE,
        fmt::format("Error, decoded message length too large: found {} bytes, the limit is: 4194304 bytes", size));
    message.set_payload(std::string(4U * 1024U * 1024U - 1024U, 'x'));
    CHECK(client.send(message).ok());
  }

  TEST_CASE("partitioned and non-partitioned topics of one base name never coexist in a cluster") {
    auto cluster = danube::testing::embedded_cluster::start(2);
    REQUIRE(cluster);
    wire_client first(cluster->broker(0));
    wire_client second(cluster->broker(1));
    const auto base = unique_topic("cluster-conflict");
    wire::ProducerResponse response;
    REQUIRE(first.create_producer(base + "-part-0", "p", reliable, response).ok());
    check_status(second.create_producer(base, "p", reliable, response), grpc::StatusCode::ALREADY_EXISTS,
                 fmt::format("Cannot create topic '{}': partitioned topics with this base name already exist (found 1 "
                             "partitions). Delete the partitioned topics first.",
                             base));
    const auto plain = unique_topic("cluster-plain");
    REQUIRE(second.create_producer(plain, "p", reliable, response).ok());
    check_status(first.create_producer(plain + "-part-0", "p", reliable, response), grpc::StatusCode::ALREADY_EXISTS,
                 fmt::format("Cannot create partitioned topic '{0}-part-0': a non-partitioned topic '{0}' already "
                             "exists. Delete the non-partitioned topic first.",
                             plain));
    CHECK_FALSE(cluster->owner(base).has_value());
  }

  TEST_CASE("huge timer options neither overflow nor hold up stop(): pending reaps and starts are dropped") {
    broker_options options;
    options.idle_subscription_grace = std::chrono::milliseconds::max();
    options.quirks.failover_start_delay = std::chrono::milliseconds::max();
    auto broker = start_broker(options);
    wire_client client(broker);
    const auto topic = unique_topic("huge-timers");
    const auto producer = client.producer(topic, non_reliable);
    const auto idle = client.consumer(topic, "c", "idle", exclusive);
    client.receive(idle)->cancel();
    client.wait_inactive(idle);
    client.publish(producer, topic, "marks it idle");  // schedules a removal check a year away
    const auto durable = unique_topic("huge-timers-failover");
    const auto writer = client.producer(durable, reliable);
    auto stream = client.receive(client.consumer(durable, "c", "s", failover));
    client.publish(writer, durable, "before the start");
    CHECK(stream->quiet_for(200ms));
    CHECK(broker.subscriptions(topic) == std::vector<std::string>{"idle"});
    const auto stopping = std::chrono::steady_clock::now();
    broker.stop();
    CHECK(std::chrono::steady_clock::now() - stopping < 2s);
    CHECK(stream->wait_ended());
  }

  TEST_CASE("quirk on request: a reliable Failover subscription misses what is published before it starts") {
    // Upstream's Subscribe does not wait for a Failover dispatcher to fix its start (subscription.rs):
    // failover_start_delay reproduces that window (docs/consumer.md).
    broker_options options;
    options.quirks.failover_start_delay = 1s;
    auto broker = start_broker(options);
    wire_client client(broker);
    const auto topic = unique_topic("failover-start");
    const auto producer = client.producer(topic, reliable);
    const auto consumer = client.consumer(topic, "c", "s", failover);
    auto stream = client.receive(consumer);
    client.publish(producer, topic, "early");
    CHECK(stream->quiet_for(1200ms));  // the start passes meanwhile
    client.publish(producer, topic, "late");
    CHECK(stream->expect().payload() == "late");
    // Exclusive has no such window, with the same option.
    const auto exclusive_consumer = client.consumer(topic, "c", "x", exclusive);
    auto exclusive_stream = client.receive(exclusive_consumer);
    client.publish(producer, topic, "at once");
    CHECK(exclusive_stream->expect().payload() == "at once");
  }

  TEST_CASE(
      "quirk on request: an evicted reliable KeyShared consumer never gets messages again, its unacked ones are lost") {
    broker_options options;
    options.quirks.key_shared_eviction_is_permanent = true;
    auto broker = start_broker(options);
    wire_client client(broker);
    const auto topic = unique_topic("ks-evict-forever");
    const auto producer = client.producer(topic, reliable);
    const auto c0 = client.consumer(topic, "c0", "ks", key_shared);
    const auto c1 = client.consumer(topic, "c1", "ks", key_shared);
    std::vector<std::unique_ptr<receiver>> streams;
    streams.push_back(client.receive(c0));
    streams.push_back(client.receive(c1));
    const auto key_of = key_per_stream(client, producer, topic, streams, "ks");
    const auto& moving = key_of.at(0);
    client.publish(producer, topic, outgoing{"held", moving});
    CHECK(streams[0]->expect().payload() == "held");  // never acked
    streams[0]->cancel();
    client.wait_inactive(c0);
    client.publish(producer, topic, outgoing{"later", moving});
    // After the 3 s grace the key moves to c1, but "held" counts as acknowledged: lost.
    const auto first = streams[1]->expect();
    CHECK(first.payload() == "later");
    client.acked(first, "ks");
    CHECK(broker.unacked_messages(topic, "ks") == 0);
    // c0 comes back, active, and still gets nothing: every key now belongs to c1.
    CHECK(client.consumer(topic, "c0", "ks", key_shared) == c0);
    streams[0] = client.receive(c0);
    client.publish(producer, topic, outgoing{"home", moving});
    client.publish(producer, topic, outgoing{"other", key_of.at(1)});
    auto rest = payloads(streams[1]->expect(std::size_t{2}));
    std::ranges::sort(rest);
    CHECK(rest == std::vector<std::string>{"home", "other"});
    CHECK(streams[0]->quiet_for(300ms));
  }
}

}  // namespace broker_dispatch_wire_test
