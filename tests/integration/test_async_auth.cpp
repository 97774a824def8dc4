// The api-key exchange end to end (issue 13 item 5, issue 14 item 3): it never blocks a gRPC or
// scheduler thread, a retryable failure stays retryable, closing one client never fails another
// client's calls that share the policy, and a token without `exp` is usable with a default
// lifetime.
#include "support/test_support.hpp"
#include "support/unsigned_jwt.hpp"
#include <danube/detail/client_core.hpp>
#include <danube/detail/proto.hpp>
#include <danube/detail/receive_queue.hpp>
#include <danube/detail/service_url.hpp>
#include <danube/detail/topic_consumer.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

namespace async_auth_test {

using namespace std::chrono_literals;
using danube_test::require_ok;
namespace testing = danube::testing;

using exchange_client = danube::basic_client<danube::auth::api_key_exchange, danube::tls::plaintext_insecure>;

testing::broker_options exchanging_broker(std::chrono::seconds token_ttl = std::chrono::hours(1)) {
  testing::broker_options options;
  options.auth.require_token = true;
  options.auth.jwt_secret = "async-auth-test-secret";
  options.auth.api_keys = {"key-1"};
  options.auth.token_ttl = token_ttl;
  return options;
}

// A legacy AuthService that answers with a token the test chose (the embedded broker's always has
// an exp), and a Discovery service that records the authorization header of each lookup.
class scripted_auth final : public danube::AuthService::CallbackService, public danube::Discovery::CallbackService {
 public:
  std::string token;
  std::atomic<int> authenticate_calls{0};
  std::mutex mu;
  std::vector<std::string> lookup_headers;

  grpc::ServerUnaryReactor* Authenticate(grpc::CallbackServerContext* context, const danube::AuthRequest* /*request*/,
                                         danube::AuthResponse* response) override {
    ++authenticate_calls;
    response->set_token(token);
    return finish(context, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* TopicLookup(grpc::CallbackServerContext* context, const danube::TopicLookupRequest* /*r*/,
                                        danube::TopicLookupResponse* /*response*/) override {
    const auto& metadata = context->client_metadata();
    const auto it = metadata.find("authorization");
    {
      std::lock_guard lock(mu);
      lookup_headers.emplace_back(it == metadata.end() ? "<none>" : std::string(it->second.data(), it->second.size()));
    }
    return finish(context, grpc::Status(grpc::StatusCode::NOT_FOUND, "no such topic"));
  }

 private:
  static grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* context, const grpc::Status& status) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(status);
    return reactor;
  }
};

// A user-written asynchronous policy: hands the header over later, from a thread of its own (as a
// policy asking a token service would).
// A created producer whose token has expired while its exchange never answers: from here on every
// call waits for a token. The broker issues tokens that live 2 s; the client's calls may take 10 s.
struct producer_waiting_for_token {
  producer_waiting_for_token(std::string_view topic_stem, std::chrono::milliseconds send_timeout)
      : broker(danube_test::start_broker(exchanging_broker(std::chrono::seconds(2)))),
        client(require_ok(exchange_client::builder()
                              .service_url(broker.url())
                              .call_timeout(std::chrono::seconds(10))
                              .auth(danube::auth::api_key_exchange("key-1", std::chrono::seconds(1)))
                              .build())),
        producer(require_ok(client.new_producer()
                                .topic(danube_test::unique_topic(topic_stem))
                                .name("p")
                                .send_timeout(send_timeout)
                                .build())) {
    require_ok(producer.create());
    broker.never_answer(testing::rpc::authenticate);
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  }

  danube::testing::embedded_broker broker;
  exchange_client client;
  danube::producer producer;
};

struct deferred_token {
  static constexpr bool sends_credentials = true;

  struct workers {
    std::mutex mu;
    std::vector<std::thread> threads;
    std::atomic<int> asked{0};
    // Called by the test once the client is closed (never from a destructor: the last copy of the
    // policy may go away on one of these threads).
    void join_all() {
      std::vector<std::thread> done;
      {
        std::lock_guard lock(mu);
        done.swap(threads);
      }
      for (auto& t : done) {
        t.join();
      }
    }
  };
  std::string token;
  std::shared_ptr<workers> pool = std::make_shared<workers>();

  void authorization_async(const danube::auth_context& /*context*/, danube::auth_completion done) const {
    ++pool->asked;
    std::lock_guard lock(pool->mu);
    pool->threads.emplace_back([header = "Bearer " + token, done = std::move(done)] {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      done(std::optional<std::string>(header));
    });
  }
};
static_assert(danube::auth_policy<deferred_token>);

// An asynchronous policy whose answers the test hands over by hand (or never).
struct held_policy {
  std::mutex mu;
  std::vector<danube::auth_completion> held;
  [[nodiscard]] std::function<void(const danube::auth_context&, danube::auth_completion)> form() {
    return [this](const danube::auth_context& /*context*/, danube::auth_completion done) {
      std::lock_guard lock(mu);
      held.push_back(std::move(done));
    };
  }
  [[nodiscard]] danube::auth_completion take() {
    std::lock_guard lock(mu);
    REQUIRE_FALSE(held.empty());
    auto done = std::move(held.front());
    held.erase(held.begin());
    return done;
  }
};

// A user-written asynchronous policy (no header: the broker needs none) that answers at once
// while its gate is open and holds its answers while the gate is closed, for the test to hand
// over later (in any order), or never. Copies share the gate.
struct gated_policy {
  static constexpr bool sends_credentials = true;

  struct gate {
    std::mutex mu;
    bool open = true;
    std::vector<danube::auth_completion> held;
  };
  std::shared_ptr<gate> g = std::make_shared<gate>();

  void authorization_async(const danube::auth_context& /*context*/, danube::auth_completion done) const {
    {
      std::lock_guard lock(g->mu);
      if (!g->open) {
        g->held.push_back(std::move(done));
        return;
      }
    }
    done(std::optional<std::string>());
  }
  [[nodiscard]] std::function<void(const danube::auth_context&, danube::auth_completion)> form() const {
    return [copy = *this](const danube::auth_context& context, danube::auth_completion done) {
      copy.authorization_async(context, std::move(done));
    };
  }
  void close_gate() const {
    std::lock_guard lock(g->mu);
    g->open = false;
  }
  [[nodiscard]] std::size_t held() const {
    std::lock_guard lock(g->mu);
    return g->held.size();
  }
  // Opens the gate and answers what it held, the newest first.
  void open_and_answer() const {
    std::vector<danube::auth_completion> answers;
    {
      std::lock_guard lock(g->mu);
      g->open = true;
      answers.swap(g->held);
    }
    std::reverse(answers.begin(), answers.end());
    for (auto& done : answers) {
      done(std::optional<std::string>());
    }
  }
};
static_assert(danube::auth_policy<gated_policy>);
using gated_client = danube::basic_client<gated_policy, danube::tls::plaintext_insecure>;

[[nodiscard]] danube::detail::client_settings held_settings(held_policy& policy) {
  danube::detail::client_settings settings;
  settings.url = require_ok(danube::detail::parse_service_url("http://127.0.0.1:1"));
  settings.authorization_async = policy.form();
  return settings;
}

}  // namespace async_auth_test

TEST_SUITE("api key exchange") {
  using namespace async_auth_test;

  TEST_CASE("a retryable exchange failure (the broker restarting: UNAVAILABLE) is retried, not unauthenticated") {
    auto broker = danube_test::start_broker(exchanging_broker());
    broker.fail_next(testing::rpc::authenticate, 1, grpc::StatusCode::UNAVAILABLE, "restarting");
    auto client = require_ok(
        exchange_client::builder().service_url(broker.url()).auth(danube::auth::api_key_exchange("key-1")).build());
    auto producer = require_ok(client.new_producer()
                                   .topic(danube_test::unique_topic("retryable-exchange"))
                                   .name("p")
                                   .retry_policy(danube::retry::exponential_backoff{.base = 10ms})
                                   .build());
    require_ok(producer.create());
    CHECK(broker.authenticate_calls() == 2);
    // Without retries the failure itself is reported: unavailable, retryable.
    broker.fail_next(testing::rpc::authenticate, 1, grpc::StatusCode::UNAVAILABLE, "restarting");
    auto other = require_ok(
        exchange_client::builder().service_url(broker.url()).auth(danube::auth::api_key_exchange("key-1")).build());
    const auto looked_up = other.lookup_topic(danube_test::unique_topic("retryable-exchange"));
    REQUIRE_FALSE(looked_up);
    CHECK(looked_up.error() == danube::errc::unavailable);
    CHECK(looked_up.error().retryable());
  }

  TEST_CASE("closing client A does not fail client B's calls waiting for the exchange A started") {
    auto broker = danube_test::start_broker(exchanging_broker());
    broker.delay(testing::rpc::authenticate, 500ms);
    const danube::auth::api_key_exchange shared("key-1");  // copies share the token and the flight
    auto a = require_ok(exchange_client::builder().service_url(broker.url()).auth(shared).build());
    auto b = require_ok(exchange_client::builder().service_url(broker.url()).auth(shared).build());
    const auto topic = danube_test::unique_topic("shared-exchange");
    auto through_a = std::async(std::launch::async, [&] { return a.lookup_topic(topic); });
    REQUIRE(danube_test::wait_until([&] { return broker.authenticate_calls() == 1; }, 5s));
    auto through_b = std::async(std::launch::async, [&] { return b.lookup_topic(topic); });
    std::this_thread::sleep_for(100ms);  // b's lookup is waiting for a's exchange now
    a.close();
    const auto a_result = through_a.get();
    REQUIRE_FALSE(a_result);
    CHECK(a_result.error() == danube::errc::closed);
    const auto b_result = through_b.get();
    REQUIRE_FALSE(b_result);
    CHECK_MESSAGE(b_result.error() == danube::errc::not_found, b_result.error().message());  // authenticated
    CHECK(broker.authenticate_calls() == 2);  // b exchanged through its own connection
    CHECK(broker.calls(testing::rpc::topic_lookup) == 1);
  }

  // The exchange used to be a blocking RPC inside the health check on the client's scheduler
  // thread; a producer's close() waits for its running health check, so it waited for the
  // exchange's deadline.
  TEST_CASE("a hanging token refresh blocks no thread: health checks go on, producer.close() returns at once") {
    auto broker = danube_test::start_broker(exchanging_broker(4s));
    auto client = require_ok(exchange_client::builder()
                                 .service_url(broker.url())
                                 .call_timeout(5s)
                                 .health_check_interval(100ms)
                                 .auth(danube::auth::api_key_exchange("key-1", 3s))
                                 .build());
    auto producer =
        require_ok(client.new_producer().topic(danube_test::unique_topic("refresh-hang")).name("p").build());
    require_ok(producer.create());
    REQUIRE(broker.authenticate_calls() == 1);
    broker.never_answer(testing::rpc::authenticate);
    // About a second after the exchange the token is within its 3 s margin: a refresh starts and hangs.
    REQUIRE(danube_test::wait_until([&] { return broker.authenticate_calls() >= 2; }, 5s));
    // The old token is still valid for about 3 s: health checks keep using it meanwhile.
    const auto checks = broker.calls(testing::rpc::health_check);
    CHECK(danube_test::wait_until([&] { return broker.calls(testing::rpc::health_check) >= checks + 3; }, 1500ms));
    CHECK(broker.authenticate_calls() == 2);  // one refresh in flight, not one per check
    const auto start = std::chrono::steady_clock::now();
    producer.close();
    const auto took = danube_test::elapsed_since(start);
    MESSAGE("producer.close() took ", took.count(), " ms while the refresh hung");
    CHECK(took < 1s);
    client.close();
  }

  TEST_CASE("a send waiting for a hanging token exchange fails at its own send_timeout, not the exchange's") {
    producer_waiting_for_token setup("send-waits-for-token", 500ms);
    auto& [broker, client, producer] = setup;
    const auto start = std::chrono::steady_clock::now();
    const auto sent = producer.send("late");
    const auto took = danube_test::elapsed_since(start);
    MESSAGE("the send failed after ", took.count(), " ms");
    REQUIRE_FALSE(sent);
    CHECK(sent.error() == danube::errc::timeout);
    CHECK(took < 2s);  // the exchange's own deadline is 10 s
    CHECK(broker.calls(testing::rpc::send_message) == 0);
    client.close();
  }

  TEST_CASE("a user-written asynchronous auth policy: every call waits for its answer and carries the header") {
    auto options = exchanging_broker();
    auto broker = danube_test::start_broker(options);
    deferred_token policy;
    policy.token = require_ok(broker.issue_token("svc"));
    using deferred_client = danube::basic_client<deferred_token, danube::tls::plaintext_insecure>;
    {
      auto client = require_ok(deferred_client::builder().service_url(broker.url()).auth(policy).build());
      const auto topic = danube_test::unique_topic("deferred-auth");
      auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
      require_ok(producer.create());
      auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
      require_ok(consumer.subscribe());
      require_ok(producer.send("via a deferred token"));
      CHECK(require_ok(consumer.receive(5s)).payload_string() == "via a deferred token");
    }
    policy.pool->join_all();
    CHECK(policy.pool->asked >= 5);  // lookups, create, subscribe, the stream, the send
  }

  TEST_CASE("producer.close() returns at once while a send waits for a hanging token exchange, the send is closed") {
    producer_waiting_for_token setup("close-while-waiting-for-token", 8s);
    auto& [broker, client, producer] = setup;
    auto pending = producer.send_async("waiting");
    REQUIRE(pending.wait_for(300ms) == std::future_status::timeout);
    const auto start = std::chrono::steady_clock::now();
    producer.close();
    const auto took = danube_test::elapsed_since(start);
    MESSAGE("producer.close() took ", took.count(), " ms with a send waiting for a token");
    CHECK(took < 1s);
    REQUIRE(pending.wait_for(1s) == std::future_status::ready);
    const auto sent = pending.get();
    REQUIRE_FALSE(sent);
    CHECK(sent.error() == danube::errc::closed);
    client.close();
  }

  TEST_CASE("a token without exp: refused by default, used for default_lifetime when one is set") {
    async_auth_test::scripted_auth service;
    service.token = danube_test::jwt_with_payload(R"({"sub":"svc"})");
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(static_cast<danube::AuthService::CallbackService*>(&service));
    builder.RegisterService(static_cast<danube::Discovery::CallbackService*>(&service));
    auto server = builder.BuildAndStart();
    REQUIRE(server != nullptr);
    const auto url = fmt::format("http://127.0.0.1:{}", port);
    {
      auto strict =
          require_ok(exchange_client::builder().service_url(url).auth(danube::auth::api_key_exchange("k")).build());
      const auto refused = strict.lookup_topic("/default/t");
      REQUIRE_FALSE(refused);
      CHECK(refused.error() == danube::errc::unauthenticated);
      CHECK_MESSAGE(refused.error().message().find("no exp claim") != std::string::npos, refused.error().message());
    }
    {
      auto lenient =
          require_ok(exchange_client::builder()
                         .service_url(url)
                         .auth(danube::auth::api_key_exchange("k", {.default_lifetime = std::chrono::hours(1)}))
                         .build());
      for (int i = 0; i < 3; ++i) {
        CHECK(lenient.lookup_topic("/default/t").error() == danube::errc::not_found);  // the call went out
      }
    }
    CHECK(service.authenticate_calls == 2);  // one per client: the lenient one reused its token
    {
      std::lock_guard lock(service.mu);
      CHECK(service.lookup_headers == std::vector<std::string>(3, "Bearer " + service.token));
    }
    server->Shutdown(std::chrono::system_clock::now() + 1s);
  }

  // A call's owner (a producer closing) ends its token wait; the policy's late answer must then
  // touch nothing: the call, and the ClientContext it owned, may be gone.
  TEST_CASE("prepare_async: abandon() ends a token wait at once, a late answer and a second abandon are no-ops") {
    held_policy policy;
    const auto core = std::make_shared<danube::detail::client_core>(held_settings(policy));
    const danube::detail::broker_address address{.broker_url = "http://127.0.0.1:1",
                                                 .connect_url = "http://127.0.0.1:1"};
    auto context = std::make_unique<grpc::ClientContext>();
    int runs = 0;
    std::optional<danube::result<void>> outcome;
    const auto wait = core->prepare_async(*context, address, std::nullopt, [&](danube::result<void> prepared) {
      ++runs;
      outcome = std::move(prepared);
    });
    REQUIRE(wait != nullptr);  // waiting for the policy
    CHECK(runs == 0);
    wait->abandon(danube::error(danube::errc::closed, "the owner closed"));
    REQUIRE(runs == 1);
    REQUIRE_FALSE(*outcome);
    CHECK(outcome->error() == danube::errc::closed);
    CHECK(outcome->error().message() == "the owner closed");
    context.reset();  // the call is gone
    policy.take()(std::optional<std::string>("Bearer late"));
    wait->abandon(danube::error(danube::errc::closed, "again"));
    CHECK(runs == 1);
    core->close();
  }

  TEST_CASE("prepare_async: an answer at once leaves no wait, and a call's deadline ends its wait with timeout") {
    held_policy policy;
    const auto core = std::make_shared<danube::detail::client_core>(held_settings(policy));
    const danube::detail::broker_address address{.broker_url = "http://127.0.0.1:1",
                                                 .connect_url = "http://127.0.0.1:1"};
    std::atomic<int> runs{0};
    std::mutex mu;
    std::optional<danube::result<void>> outcome;
    const auto record = [&](danube::result<void> prepared) {
      std::lock_guard lock(mu);
      outcome = std::move(prepared);
      ++runs;
    };
    grpc::ClientContext waits_for_deadline;
    const auto wait = core->prepare_async(waits_for_deadline, address, 50ms, record);
    REQUIRE(wait != nullptr);
    REQUIRE(danube_test::wait_until([&] { return runs == 1; }, 5s));
    {
      std::lock_guard lock(mu);
      REQUIRE_FALSE(*outcome);
      CHECK(outcome->error() == danube::errc::timeout);
    }
    policy.take()(std::optional<std::string>("Bearer late"));  // after the deadline: ignored
    wait->abandon(danube::error(danube::errc::closed, "late"));
    CHECK(runs == 1);

    // The policy answers on the caller's thread, before prepare_async returns: nothing to abandon.
    danube::detail::client_settings settings = held_settings(policy);
    settings.authorization_async = [](const danube::auth_context& /*context*/, danube::auth_completion done) {
      done(std::optional<std::string>("Bearer at-once"));
    };
    const auto immediate = std::make_shared<danube::detail::client_core>(std::move(settings));
    grpc::ClientContext answered;
    CHECK(immediate->prepare_async(answered, address, 50ms, record) == nullptr);
    CHECK(runs == 2);
    {
      std::lock_guard lock(mu);
      CHECK(outcome->has_value());
    }
    immediate->close();
    core->close();
  }

  // Before the exchange was asynchronous, a send started inside a send completion (on the thread
  // delivering completions, a gRPC thread) ran the blocking exchange there: the completion did not
  // return until the exchange's own deadline (call_timeout, 10 s here).
  TEST_CASE("a send started inside a send completion while the token exchange hangs: the completion returns at once") {
    auto broker = danube_test::start_broker(exchanging_broker(2s));
    auto client = require_ok(exchange_client::builder()
                                 .service_url(broker.url())
                                 .call_timeout(10s)
                                 .auth(danube::auth::api_key_exchange("key-1", 1s))
                                 .build());
    auto producer = require_ok(client.new_producer()
                                   .topic(danube_test::unique_topic("send-inside-completion"))
                                   .name("p")
                                   .send_timeout(8s)
                                   .build());
    require_ok(producer.create());
    broker.never_answer(testing::rpc::authenticate);
    // The first send goes out with the valid token and completes after it has expired.
    broker.delay(testing::rpc::send_message, 2500ms);
    std::atomic<bool> inner_returned{false};
    std::atomic<bool> first_ok{false};
    std::promise<danube::result<danube::message_id>> second;
    auto second_outcome = second.get_future();
    require_ok(producer.send_async("first", {}, [&](danube::result<danube::message_id> sent) {
      first_ok = sent.has_value();
      const auto started = producer.send_async(
          "second", {}, [&](danube::result<danube::message_id> r) { second.set_value(std::move(r)); });
      CHECK(started.has_value());
      inner_returned = true;
    }));
    CHECK(danube_test::wait_until([&] { return inner_returned.load(); }, 6s));
    CHECK(first_ok);
    // The second send asked for a new token (its exchange reaches the broker a moment later).
    CHECK(danube_test::wait_until([&] { return broker.authenticate_calls() >= 2; }, 5s));
    producer.close();
    REQUIRE(second_outcome.wait_for(5s) == std::future_status::ready);
    const auto r = second_outcome.get();
    REQUIRE_FALSE(r);
    CHECK(r.error() == danube::errc::closed);
    client.close();
  }

  // Pooled send_ops (issue 16) and token waits: an op waiting for its token stays in flight and
  // queued, so it is neither completed nor handed to another message before its own continuation
  // has run; answers in any order start each send once, with its own message.
  TEST_CASE("sends waiting for a token, answered newest first: each completes once with its own message") {
    auto broker = danube_test::start_broker();
    const gated_policy policy;
    auto client = require_ok(gated_client::builder().service_url(broker.url()).auth(policy).build());
    const auto topic = danube_test::unique_topic("pooled-token-wait");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").max_in_flight(4).send_timeout(20s).build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    for (int i = 0; i < 8; ++i) {
      require_ok(producer.send("warm-" + std::to_string(i)));  // fills the pool
    }
    policy.close_gate();
    constexpr int count = 8;
    std::array<std::atomic<int>, count> completions{};
    std::array<std::atomic<bool>, count> succeeded{};
    for (int i = 0; i < count; ++i) {
      require_ok(producer.send_async("waited-" + std::to_string(i), {}, [&, i](danube::result<danube::message_id> r) {
        succeeded[static_cast<std::size_t>(i)] = r.has_value();
        ++completions[static_cast<std::size_t>(i)];
      }));
    }
    REQUIRE(danube_test::wait_until([&] { return policy.held() >= 4; }, 5s));  // the window waits
    CHECK(broker.calls(testing::rpc::send_message) == 8);
    policy.open_and_answer();
    REQUIRE(danube_test::wait_until(
        [&] {
          return std::all_of(completions.begin(), completions.end(), [](const auto& c) { return c.load() >= 1; });
        },
        10s));
    std::vector<std::string> received;
    for (int i = 0; i < 8 + count; ++i) {
      received.emplace_back(require_ok(consumer.receive(5s)).payload_string());
    }
    std::vector<std::string> waited(received.begin() + 8, received.end());
    std::sort(waited.begin(), waited.end());
    std::vector<std::string> expected;
    for (int i = 0; i < count; ++i) {
      expected.push_back("waited-" + std::to_string(i));
    }
    CHECK(waited == expected);  // max_in_flight(4): the order may differ, the contents may not
    // The ops went back to the pool and carry the next messages, each its own.
    for (int i = 0; i < 4; ++i) {
      require_ok(producer.send("after-" + std::to_string(i)));
      CHECK(require_ok(consumer.receive(5s)).payload_string() == "after-" + std::to_string(i));
    }
    client.close();
    for (int i = 0; i < count; ++i) {
      CAPTURE(i);
      CHECK(completions[static_cast<std::size_t>(i)] == 1);
      CHECK(succeeded[static_cast<std::size_t>(i)]);
    }
  }

  TEST_CASE(
      "producer.close() during token waits of several pooled sends: each closed once, late answers send nothing") {
    auto broker = danube_test::start_broker();
    const gated_policy policy;
    auto client = require_ok(gated_client::builder().service_url(broker.url()).auth(policy).build());
    auto producer = require_ok(client.new_producer()
                                   .topic(danube_test::unique_topic("close-pooled-token-wait"))
                                   .name("p")
                                   .max_in_flight(4)
                                   .send_timeout(20s)
                                   .build());
    require_ok(producer.create());
    for (int i = 0; i < 4; ++i) {
      require_ok(producer.send("warm"));
    }
    policy.close_gate();
    constexpr int count = 6;
    std::array<std::atomic<int>, count> completions{};
    std::array<std::atomic<bool>, count> closed{};
    for (int i = 0; i < count; ++i) {
      require_ok(producer.send_async("waiting", {}, [&, i](danube::result<danube::message_id> r) {
        closed[static_cast<std::size_t>(i)] = !r && r.error() == danube::errc::closed;
        ++completions[static_cast<std::size_t>(i)];
      }));
    }
    REQUIRE(danube_test::wait_until([&] { return policy.held() >= 4; }, 5s));
    producer.close();
    for (int i = 0; i < count; ++i) {
      CAPTURE(i);
      CHECK(completions[static_cast<std::size_t>(i)] == 1);  // close() returned after every completion
      CHECK(closed[static_cast<std::size_t>(i)]);
    }
    policy.open_and_answer();  // the late answers find the waits over
    CHECK(broker.calls(testing::rpc::send_message) == 4);
    client.close();
    for (int i = 0; i < count; ++i) {
      CHECK(completions[static_cast<std::size_t>(i)] == 1);
    }
  }

  // The answer and the send's deadline race; whichever ends the wait, the completion runs once and
  // a pooled op is reused only after it (run under ASan: a reuse while the other side still ran
  // would be a use after free or a wrong message).
  TEST_CASE("a token answer racing the send's deadline: one completion per send, the op reused after it") {
    auto broker = danube_test::start_broker();
    const gated_policy policy;
    auto client = require_ok(gated_client::builder().service_url(broker.url()).auth(policy).build());
    const auto topic = danube_test::unique_topic("token-deadline-race");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").send_timeout(20ms).build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    constexpr int rounds = 30;
    std::array<std::atomic<int>, rounds> completions{};
    std::vector<std::string> acknowledged;
    for (int i = 0; i < rounds; ++i) {
      policy.close_gate();
      std::promise<bool> done;
      auto outcome = done.get_future();
      require_ok(producer.send_async("round-" + std::to_string(i), {}, [&, i](danube::result<danube::message_id> r) {
        if (++completions[static_cast<std::size_t>(i)] == 1) {
          done.set_value(r.has_value());
        }
      }));
      std::this_thread::sleep_for(std::chrono::milliseconds(15 + i % 10));  // around the 20 ms deadline
      policy.open_and_answer();
      if (outcome.get()) {
        acknowledged.push_back("round-" + std::to_string(i));
      }
    }
    MESSAGE(acknowledged.size(), " of ", rounds, " sends got their token and their answer before their deadline");
    // A marker from a patient producer: every acknowledged round was stored before it. A round that
    // timed out may have been stored too (the broker answered late), or not.
    auto marker = require_ok(client.new_producer().topic(topic).name("marker").build());
    require_ok(marker.create());
    require_ok(marker.send("last"));
    std::vector<std::string> received;
    for (;;) {
      const auto m = require_ok(consumer.receive(5s));
      std::string payload(m.payload_string());
      if (payload == "last") {
        break;
      }
      CHECK(payload.starts_with("round-"));
      CHECK(std::find(received.begin(), received.end(), payload) == received.end());  // each its own message
      received.push_back(std::move(payload));
    }
    for (const auto& round : acknowledged) {
      CAPTURE(round);
      CHECK(std::find(received.begin(), received.end(), round) != received.end());
    }
    client.close();
    for (int i = 0; i < rounds; ++i) {
      CHECK(completions[static_cast<std::size_t>(i)] == 1);
    }
  }

  // A stream waits for its token without a deadline (it lives as long as the consumer): close()
  // must end that wait, or what the wait holds (the stream's reader, with it the consumer's message
  // queue, and a channel) stays until the policy answers, if it ever does.
  TEST_CASE("topic_consumer close() ends its stream's token wait and releases what the wait held") {
    auto broker = danube_test::start_broker();
    const auto topic = danube_test::unique_topic("stream-token-wait");
    require_ok(broker.create_topic(topic));
    const gated_policy policy;
    danube::detail::client_settings settings;
    settings.url = require_ok(danube::detail::parse_service_url(broker.url()));
    settings.authorization_async = policy.form();
    const auto core = std::make_shared<danube::detail::client_core>(std::move(settings));
    danube::consumer_options options;
    options.topic = topic;
    options.consumer_name = "c";
    options.subscription = "s";
    auto queue = std::make_shared<danube::detail::receive_queue>(options.receive_queue_capacity);
    const std::weak_ptr<danube::detail::receive_queue> watched = queue;
    auto partition = std::make_shared<danube::detail::topic_consumer>(
        core, topic, options,
        [](const danube::error& /*e*/, unsigned /*attempt*/) -> std::optional<std::chrono::milliseconds> {
          return std::nullopt;
        },
        std::move(queue));
    std::promise<danube::result<void>> subscribed;
    partition->subscribe([&](danube::result<void> r) { subscribed.set_value(std::move(r)); });
    require_ok(subscribed.get_future().get());
    policy.close_gate();
    partition->start();  // asks for the stream's token on this thread: held
    REQUIRE(policy.held() >= 1);
    partition->close();
    partition.reset();
    // A gRPC thread may still be returning from the subscribe's callback (which held the partition).
    // Before the fix the wait's continuation held the reader, the reader the queue, until an answer.
    CHECK(danube_test::wait_until([&] { return watched.expired(); }, 5s));
    policy.open_and_answer();  // late: no stream opens
    CHECK(broker.streaming_consumers(topic) == 0);
    core->close();
  }
}

// Hostile review of the asynchronous exchange (issue 13): close() ends every wait, a hanging
// exchange ends by its own deadline, a rejected token is exchanged again, and a lookup's own token
// timeout is no reason to register elsewhere.
TEST_SUITE("api key exchange") {
  using namespace async_auth_test;

  // client.close() stops the scheduler, and with it the deadline of every token wait: calls
  // waiting through async_unary (lookups, create, subscribe) or prepare() (a blocking lookup) had
  // no one left to end them.
  TEST_CASE("client.close() ends every token wait: create, subscribe, send and lookup return closed") {
    auto broker = danube_test::start_broker();
    const gated_policy policy;
    auto client = require_ok(gated_client::builder()
                                 .service_url(broker.url())
                                 .call_timeout(std::chrono::hours(1))
                                 .health_check_interval(std::chrono::hours(1))
                                 .auth(policy)
                                 .build());
    const auto topic = danube_test::unique_topic("close-ends-token-waits");
    auto producer =
        require_ok(client.new_producer().topic(topic).name("p").send_timeout(std::chrono::hours(1)).build());
    require_ok(producer.create());
    // The producer's first health check (at once) had its token: the waits counted below are the calls'.
    REQUIRE(danube_test::wait_until([&] { return broker.calls(testing::rpc::health_check) >= 1; }, 5s));
    auto late_producer = require_ok(client.new_producer().topic(topic).name("late").build());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    policy.close_gate();  // from now on the policy never answers
    auto created = std::async(std::launch::async, [&] { return late_producer.create(); });
    auto subscribed = std::async(std::launch::async, [&] { return consumer.subscribe(); });
    auto looked_up = std::async(std::launch::async, [&] { return client.lookup_topic(topic); });
    auto sent = producer.send_async("waits for its token");
    REQUIRE(danube_test::wait_until([&] { return policy.held() >= 4; }, 5s));
    auto closing = std::async(std::launch::async, [&] { client.close(); });
    const auto ready = [](auto& f) { return f.wait_for(10s) == std::future_status::ready; };
    const bool closed_in_time = ready(closing);
    CHECK(closed_in_time);
    const bool all_returned = ready(created) && ready(subscribed) && ready(looked_up) && ready(sent);
    CHECK(all_returned);
    if (!closed_in_time || !all_returned) {
      policy.open_and_answer();  // so that a failing run ends (the late answers find the client closed)
    }
    const auto c = created.get();
    REQUIRE_FALSE(c);
    CHECK(c.error() == danube::errc::closed);
    const auto s = subscribed.get();
    REQUIRE_FALSE(s);
    CHECK(s.error() == danube::errc::closed);
    const auto l = looked_up.get();
    REQUIRE_FALSE(l);
    CHECK(l.error() == danube::errc::closed);
    const auto m = sent.get();
    REQUIRE_FALSE(m);
    CHECK(m.error() == danube::errc::closed);
    closing.get();
  }

  // With call_timeout(max) the exchange had no deadline: a broker that never answered it kept every
  // call waiting for its token for ever (and every client sharing the policy).
  TEST_CASE("an exchange that never ends fails the calls waiting for it with timeout, even with call_timeout max") {
    auto broker = danube_test::start_broker(exchanging_broker());
    broker.never_answer(testing::rpc::authenticate);
    auto client = require_ok(exchange_client::builder()
                                 .service_url(broker.url())
                                 .call_timeout(std::chrono::milliseconds::max())
                                 .auth(danube::auth::api_key_exchange("key-1", {.timeout = 300ms}))
                                 .build());
    const auto topic = danube_test::unique_topic("endless-exchange");
    auto looked_up = std::async(std::launch::async, [&] { return client.lookup_topic(topic); });
    // The exchange's own deadline: exchange_options::timeout (10 s by default; a unit test checks it).
    const bool ended = looked_up.wait_for(10s) == std::future_status::ready;
    CHECK(ended);
    if (!ended) {
      client.close();  // cancels the exchange, so that a failing run ends
    }
    const auto r = looked_up.get();
    REQUIRE_FALSE(r);
    CHECK_MESSAGE(r.error() == danube::errc::timeout, r.error().message());
    CHECK(r.error().retryable());
    CHECK(broker.authenticate_calls() == 1);
    client.close();
  }

  TEST_CASE("a token the broker rejects (UNAUTHENTICATED) is dropped: the next call exchanges again, once") {
    auto broker = danube_test::start_broker(exchanging_broker());
    auto client = require_ok(
        exchange_client::builder().service_url(broker.url()).auth(danube::auth::api_key_exchange("key-1")).build());
    auto producer =
        require_ok(client.new_producer().topic(danube_test::unique_topic("rejected-token")).name("p").build());
    require_ok(producer.create());
    REQUIRE(broker.authenticate_calls() == 1);
    std::this_thread::sleep_for(1100ms);  // a token younger than a second is kept (rate limit)
    broker.fail_next(testing::rpc::send_message, 1, grpc::StatusCode::UNAUTHENTICATED, "token rejected");
    const auto rejected = producer.send("rejected");
    REQUIRE_FALSE(rejected);
    CHECK(rejected.error() == danube::errc::unauthenticated);
    require_ok(producer.send("with a fresh token"));
    CHECK(broker.authenticate_calls() == 2);
    require_ok(producer.send("the fresh token, cached"));
    CHECK(broker.authenticate_calls() == 2);
  }

  TEST_CASE("a token already expired on arrival: the calls go out with it, one exchange a second, not one per call") {
    scripted_auth service;
    service.token = danube_test::jwt_with_payload(R"({"sub":"svc","exp":1000000000})");  // 2001
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(static_cast<danube::AuthService::CallbackService*>(&service));
    builder.RegisterService(static_cast<danube::Discovery::CallbackService*>(&service));
    auto server = builder.BuildAndStart();
    REQUIRE(server != nullptr);
    {
      auto client = require_ok(exchange_client::builder()
                                   .service_url(fmt::format("http://127.0.0.1:{}", port))
                                   .auth(danube::auth::api_key_exchange("k"))
                                   .build());
      const auto start = std::chrono::steady_clock::now();
      constexpr int calls = 20;
      for (int i = 0; i < calls; ++i) {
        CHECK(client.lookup_topic("/default/t").error() == danube::errc::not_found);  // the call went out
      }
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(danube_test::elapsed_since(start)).count();
      MESSAGE(calls, " lookups in ", seconds, " s took ", service.authenticate_calls.load(), " exchanges");
      CHECK(service.authenticate_calls <= 1 + seconds + 1);
    }
    {
      std::lock_guard lock(service.mu);
      CHECK(service.lookup_headers == std::vector<std::string>(20, "Bearer " + service.token));
    }
    server->Shutdown(std::chrono::system_clock::now() + 1s);
  }

  // The fallback to the last known broker is for a lookup the broker answering lookups failed; a
  // lookup that never went out because its own token did not come in time says nothing about it,
  // also when the token's exchange failed with a gRPC status of its own (DEADLINE_EXCEEDED).
  TEST_CASE("a lookup whose token exchange timed out does not fall back to the last known broker") {
    auto broker = danube_test::start_broker(exchanging_broker());
    broker.never_answer(testing::rpc::authenticate);
    auto [lines, sink] = danube_test::log_lines::make();
    auto client = require_ok(exchange_client::builder()
                                 .service_url(broker.url())
                                 .call_timeout(5s)
                                 .logger(sink)
                                 .auth(danube::auth::api_key_exchange("key-1", {.timeout = 300ms}))
                                 .build());
    auto producer = require_ok(client.new_producer()
                                   .topic(danube_test::unique_topic("exchange-timeout-no-fallback"))
                                   .name("p")
                                   .retry_policy(danube::retry::exponential_backoff{.max_retries = 0})
                                   .build());
    const auto created = producer.create();
    REQUIRE_FALSE(created);
    CHECK_MESSAGE(created.error() == danube::errc::timeout, created.error().message());
    CHECK_FALSE(lines->contains(danube::log_level::info, "trying the last known broker"));
    CHECK(broker.calls(testing::rpc::topic_lookup) == 0);
    CHECK(broker.calls(testing::rpc::create_producer) == 0);
    client.close();
  }

  // The same with a token wait that reaches its own deadline (a policy that never answers).
  TEST_CASE("a lookup whose wait for a token timed out does not fall back to the last known broker") {
    auto broker = danube_test::start_broker();
    const gated_policy policy;
    auto [lines, sink] = danube_test::log_lines::make();
    auto client = require_ok(
        gated_client::builder().service_url(broker.url()).call_timeout(300ms).logger(sink).auth(policy).build());
    auto producer = require_ok(client.new_producer()
                                   .topic(danube_test::unique_topic("token-timeout-no-fallback"))
                                   .name("p")
                                   .retry_policy(danube::retry::exponential_backoff{.max_retries = 0})
                                   .build());
    policy.close_gate();
    const auto created = producer.create();
    REQUIRE_FALSE(created);
    CHECK_MESSAGE(created.error() == danube::errc::timeout, created.error().message());
    CHECK_FALSE(lines->contains(danube::log_level::info, "trying the last known broker"));
    CHECK(broker.calls(testing::rpc::topic_lookup) == 0);
    policy.open_and_answer();
    client.close();
  }
}

// Coverage asked for by the review (M4): the client-level bound on token waits, and a rejection
// reported by the control-call paths (unary_call for a lookup, async_unary for a subscribe).
TEST_SUITE("api key exchange") {
  using namespace async_auth_test;

  TEST_CASE("at most 65,536 calls of one client wait for a token: one more fails at once, close() ends the rest") {
    held_policy policy;
    const auto core = std::make_shared<danube::detail::client_core>(held_settings(policy));
    const danube::detail::broker_address address{.broker_url = "http://127.0.0.1:1",
                                                 .connect_url = "http://127.0.0.1:1"};
    constexpr std::size_t bound = 65'536;
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    std::size_t closed = 0;
    std::size_t unavailable = 0;
    for (std::size_t i = 0; i < bound + 1; ++i) {
      contexts.push_back(std::make_unique<grpc::ClientContext>());
      (void)core->prepare_async(*contexts.back(), address, std::nullopt, [&](danube::result<void> prepared) {
        if (!prepared && prepared.error() == danube::errc::closed) {
          ++closed;
        } else if (!prepared && prepared.error() == danube::errc::unavailable) {
          ++unavailable;
        }
      });
    }
    CHECK(unavailable == 1);  // the one past the bound, at once
    CHECK(closed == 0);
    core->close();
    CHECK(closed == bound);  // every wait ended by close()
    policy.held.clear();     // the policy's answers are never given
  }

  TEST_CASE("a lookup or a subscribe answered UNAUTHENTICATED drops the token too: the next call exchanges again") {
    auto broker = danube_test::start_broker(exchanging_broker());
    auto client = require_ok(
        exchange_client::builder().service_url(broker.url()).auth(danube::auth::api_key_exchange("key-1")).build());
    const auto topic = danube_test::unique_topic("rejected-control-calls");
    require_ok(broker.create_topic(topic));
    require_ok(client.lookup_topic(topic));
    REQUIRE(broker.authenticate_calls() == 1);
    std::this_thread::sleep_for(1100ms);  // a token younger than a second is kept (rate limit)
    broker.fail_next(testing::rpc::topic_lookup, 1, grpc::StatusCode::UNAUTHENTICATED, "token rejected");
    CHECK(client.lookup_topic(topic).error() == danube::errc::unauthenticated);  // unary_call
    require_ok(client.lookup_topic(topic));
    CHECK(broker.authenticate_calls() == 2);
    std::this_thread::sleep_for(1100ms);
    broker.fail_next(testing::rpc::subscribe, 1, grpc::StatusCode::UNAUTHENTICATED, "token rejected");
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    CHECK(consumer.subscribe().error() == danube::errc::unauthenticated);  // async_unary
    require_ok(consumer.subscribe());
    CHECK(broker.authenticate_calls() == 3);
  }
}
