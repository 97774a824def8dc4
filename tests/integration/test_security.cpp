// TLS, mutual TLS, bearer tokens and the legacy api-key exchange: our client's TLS and auth
// policies against the embedded broker's TLS and JWT checks (docs/protocol.md §7, §1.3), with
// certificates generated at test time.
#include "support/certificates.hpp"
#include "support/test_support.hpp"
#include <danube/detail/proto.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <latch>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

// A named namespace: the integration tests are one unity-built translation unit.
namespace security_test {

using namespace std::chrono_literals;
using danube_test::require_ok;
namespace testing = danube::testing;

constexpr std::string_view secret = "embedded-broker-test-secret";

using tls_client = danube::basic_client<danube::auth::none, danube::tls::ca_file>;
using mtls_client = danube::basic_client<danube::auth::none, danube::tls::mutual>;
using token_client = danube::basic_client<danube::auth::static_token, danube::tls::ca_file>;
using supplier_client = danube::basic_client<danube::auth::token_supplier, danube::tls::ca_file>;
using exchange_client = danube::basic_client<danube::auth::api_key_exchange, danube::tls::ca_file>;
using insecure_exchange_client = danube::basic_client<danube::auth::api_key_exchange, danube::tls::plaintext_insecure>;

// One set of certificates for the whole run (removed at exit).
const danube_test::test_certificates& certificates() {
  static const danube_test::test_certificates made;
  REQUIRE_MESSAGE(made.ok(), made.error);
  return made;
}

testing::broker_options tls_options(bool require_client_certificate = false) {
  const auto& certs = certificates();
  testing::broker_options options;
  options.tls = testing::broker_tls{certs.server_pem, certs.server_key_pem,
                                    require_client_certificate ? certs.ca_pem : std::string()};
  return options;
}

// TLS plus `auth.mode: tls` JWT checks.
testing::broker_options secure_options(std::vector<std::string> api_keys = {}) {
  auto options = tls_options();
  options.auth.require_token = true;
  options.auth.jwt_secret = std::string(secret);
  options.auth.api_keys = std::move(api_keys);
  return options;
}

template <class Client>
Client build(auto builder) {
  auto client = builder.connect_timeout(5s).build();
  REQUIRE_MESSAGE(client.has_value(), fmt::format("{}", client.error()));
  return std::move(*client);
}

tls_client tls_connect(const testing::embedded_broker& broker) {
  return build<tls_client>(
      tls_client::builder().service_url(broker.url()).tls(danube::tls::ca_file(certificates().ca_file)));
}

// Publishes one message and receives it on a fresh subscription; returns the message's id.
template <class Client>
danube::message_id round_trip(Client& client, const std::string& topic) {
  auto producer = require_ok(client.new_producer().topic(topic).name("writer").build());
  require_ok(producer.create());
  auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("reader").subscription("sub").build());
  require_ok(consumer.subscribe());
  const auto id = require_ok(producer.send("secret payload"));
  auto m = require_ok(consumer.receive(5s));
  CHECK(m.payload_string() == "secret payload");
  require_ok(consumer.ack(m));
  return id;
}

// A user-written auth policy: models danube::auth_policy, derives from nothing.
struct fixed_header_auth {
  static constexpr bool sends_credentials = true;
  std::string header;
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);

  [[nodiscard]] danube::result<std::optional<std::string>> authorization(const danube::auth_context& /*unused*/) const {
    calls->fetch_add(1);
    return std::optional<std::string>(header);
  }
};
static_assert(danube::auth_policy<fixed_header_auth>);

}  // namespace security_test

TEST_SUITE("security") {
  using namespace security_test;

  TEST_CASE("TLS: a round trip through tls::ca_file with certificates generated at test time") {
    auto broker = danube_test::start_broker(tls_options());
    CHECK(broker.url().starts_with("https://127.0.0.1:"));
    auto client = tls_connect(broker);
    const auto topic = danube_test::unique_topic("tls");
    const auto id = round_trip(client, topic);
    CHECK(id.broker_addr == broker.url());
    const auto found = require_ok(client.lookup_topic(topic));
    CHECK(found.connect_url == broker.url());
  }

  TEST_CASE("mutual TLS: tls::mutual works, a client without a certificate is refused in the handshake") {
    auto broker = danube_test::start_broker(tls_options(true));
    const auto& certs = certificates();
    auto client =
        build<mtls_client>(mtls_client::builder()
                               .service_url(broker.url())
                               .tls(danube::tls::mutual(certs.ca_file, certs.client_file, certs.client_key_file)));
    round_trip(client, danube_test::unique_topic("mtls"));

    const auto lookups_before = broker.calls(testing::rpc::topic_lookup);
    auto anonymous = build<tls_client>(
        tls_client::builder().service_url(broker.url()).call_timeout(5s).tls(danube::tls::ca_file(certs.ca_file)));
    const auto refused = anonymous.lookup_topic(danube_test::unique_topic("mtls-refused"));
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == danube::errc::unavailable);
    // The call never reached the broker's handlers.
    CHECK(broker.calls(testing::rpc::topic_lookup) == lookups_before);
  }

  TEST_CASE("build() rejects TLS files with an error naming the file") {
    const auto& certs = certificates();
    const auto expect_error = [](const auto& built, const std::string& path) {
      REQUIRE_FALSE(built);
      CHECK(built.error() == danube::errc::invalid_argument);
      CHECK_MESSAGE(built.error().message().find(path) != std::string::npos, built.error().message());
    };
    SUBCASE("a CA file that does not exist") {
      expect_error(tls_client::builder()
                       .service_url("https://127.0.0.1:6650")
                       .tls(danube::tls::ca_file(certs.missing_file))
                       .build(),
                   certs.missing_file);
    }
    SUBCASE("a CA file that is not PEM") {
      expect_error(tls_client::builder()
                       .service_url("https://127.0.0.1:6650")
                       .tls(danube::tls::ca_file(certs.garbage_file))
                       .build(),
                   certs.garbage_file);
    }
    SUBCASE("a client key that does not belong to the client certificate") {
      expect_error(mtls_client::builder()
                       .service_url("https://127.0.0.1:6650")
                       .tls(danube::tls::mutual(certs.ca_file, certs.client_file, certs.unrelated_key_file))
                       .build(),
                   certs.unrelated_key_file);
    }
    SUBCASE("a client certificate that is not PEM") {
      expect_error(mtls_client::builder()
                       .service_url("https://127.0.0.1:6650")
                       .tls(danube::tls::mutual(certs.ca_file, certs.garbage_file, certs.client_key_file))
                       .build(),
                   certs.garbage_file);
    }
  }

  TEST_CASE("the broker checks its own TLS material: start() names the field") {
    const auto& certs = certificates();
    auto options = tls_options();
    options.tls->private_key = certs.unrelated_key_pem;
    auto mismatched = testing::embedded_broker::start(options);
    REQUIRE_FALSE(mismatched);
    CHECK(mismatched.error() == danube::errc::invalid_argument);
    CHECK(mismatched.error().message().find("broker_options.tls.private_key") != std::string::npos);

    options = tls_options();
    options.tls->certificate_chain = "not PEM";
    auto garbage = testing::embedded_broker::start(options);
    REQUIRE_FALSE(garbage);
    CHECK(garbage.error().message().find("broker_options.tls.certificate_chain") != std::string::npos);
  }

  TEST_CASE("bearer tokens over TLS: static_token and token_supplier are accepted") {
    auto broker = danube_test::start_broker(secure_options());
    const auto& certs = certificates();
    const auto token = require_ok(broker.issue_token("app"));

    auto with_static = build<token_client>(token_client::builder()
                                               .service_url(broker.url())
                                               .auth(danube::auth::static_token(token))
                                               .tls(danube::tls::ca_file(certs.ca_file)));
    round_trip(with_static, danube_test::unique_topic("static-token"));

    auto supplied = std::make_shared<std::atomic<int>>(0);
    auto with_supplier = build<supplier_client>(supplier_client::builder()
                                                    .service_url(broker.url())
                                                    .auth(danube::auth::token_supplier([supplied, token] {
                                                      supplied->fetch_add(1);
                                                      return token;
                                                    }))
                                                    .tls(danube::tls::ca_file(certs.ca_file)));
    round_trip(with_supplier, danube_test::unique_topic("token-supplier"));
    // Asked per call: lookups, create, partitions, subscribe, the stream, the send, the ack...
    CHECK(supplied->load() >= 6);
  }

  TEST_CASE("no token: errc::unauthenticated with the broker's message, and no retry") {
    auto broker = danube_test::start_broker(secure_options());
    auto client = tls_connect(broker);
    const auto topic = danube_test::unique_topic("no-token");
    const auto looked_up = client.lookup_topic(topic);
    REQUIRE_FALSE(looked_up);
    CHECK(looked_up.error() == danube::errc::unauthenticated);
    CHECK(looked_up.error().message() == "Authentication credentials are missing");

    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    const auto created = producer.create();
    REQUIRE_FALSE(created);
    CHECK(created.error() == danube::errc::unauthenticated);
    // Refused at the lookup before CreateProducer, and not retried (not a retryable code).
    CHECK(broker.calls(testing::rpc::topic_lookup) == 2);
    CHECK(broker.calls(testing::rpc::create_producer) == 0);
    CHECK(broker.topics().empty());
  }

  TEST_CASE("expired, foreign and unprefixed tokens are 'Invalid token'") {
    auto broker = danube_test::start_broker(secure_options());
    const auto& certs = certificates();
    const auto topic = danube_test::unique_topic("bad-token");
    const auto lookup_with = [&](std::string token) {
      auto client = build<token_client>(token_client::builder()
                                            .service_url(broker.url())
                                            .auth(danube::auth::static_token(std::move(token)))
                                            .tls(danube::tls::ca_file(certs.ca_file)));
      return client.lookup_topic(topic);
    };
    // Past its exp by more than the broker's 60 s leeway.
    const auto expired = lookup_with(require_ok(broker.issue_token("app", -2min)));
    REQUIRE_FALSE(expired);
    CHECK(expired.error() == danube::errc::unauthenticated);
    CHECK(expired.error().message() == "Invalid token");

    // Within the leeway an expired token still passes, as upstream (jsonwebtoken's 60 s).
    const auto recently_expired = lookup_with(require_ok(broker.issue_token("app", -10s)));
    REQUIRE_FALSE(recently_expired);
    CHECK(recently_expired.error() == danube::errc::not_found);

    testing::token_claims claims;
    claims.iss = "someone";
    claims.sub = claims.principal_name = "app";
    claims.exp = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch() + 1h)
            .count());
    const auto foreign = lookup_with(require_ok(testing::sign_token("another secret", claims)));
    REQUIRE_FALSE(foreign);
    CHECK(foreign.error() == danube::errc::unauthenticated);
    CHECK(foreign.error().message() == "Invalid token");

    const auto garbage = lookup_with("not.a.jwt");
    REQUIRE_FALSE(garbage);
    CHECK(garbage.error().message() == "Invalid token");
  }

  TEST_CASE("a user-written auth policy plugs in, the broker wants the Bearer prefix") {
    auto broker = danube_test::start_broker(secure_options());
    const auto& certs = certificates();
    const auto token = require_ok(broker.issue_token("custom"));
    using custom_client = danube::basic_client<fixed_header_auth, danube::tls::ca_file>;

    fixed_header_auth bearer{"Bearer " + token};
    auto client = build<custom_client>(
        custom_client::builder().service_url(broker.url()).auth(bearer).tls(danube::tls::ca_file(certs.ca_file)));
    round_trip(client, danube_test::unique_topic("custom-auth"));
    CHECK(bearer.calls->load() > 0);

    auto lowercase = build<custom_client>(custom_client::builder()
                                              .service_url(broker.url())
                                              .auth(fixed_header_auth{"bearer " + token})
                                              .tls(danube::tls::ca_file(certs.ca_file)));
    CHECK(lowercase.lookup_topic(danube_test::unique_topic("x")).error() == danube::errc::not_found);

    auto unprefixed = build<custom_client>(custom_client::builder()
                                               .service_url(broker.url())
                                               .auth(fixed_header_auth{token})
                                               .tls(danube::tls::ca_file(certs.ca_file)));
    const auto refused = unprefixed.lookup_topic(danube_test::unique_topic("x"));
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == danube::errc::unauthenticated);
    CHECK(refused.error().message() == "Invalid token");
  }

  TEST_CASE("tokens required but no JWT secret: FAILED_PRECONDITION 'JWT support is not enabled'") {
    auto options = tls_options();
    options.auth.require_token = true;
    auto broker = danube_test::start_broker(options);
    const auto& certs = certificates();
    auto client = build<token_client>(token_client::builder()
                                          .service_url(broker.url())
                                          .auth(danube::auth::static_token("whatever"))
                                          .tls(danube::tls::ca_file(certs.ca_file)));
    const auto refused = client.lookup_topic(danube_test::unique_topic("no-jwt"));
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == danube::errc::failed_precondition);
    CHECK(refused.error().message() == "JWT support is not enabled");
  }

  TEST_CASE("wire level: the internal-broker header needs no token, AuthService is not behind the check") {
    namespace wire = danube::detail::wire;
    auto options = secure_options({"key-1"});
    options.tls.reset();  // plaintext keeps the raw stubs simple; the checks are the same
    auto broker = danube_test::start_broker(options);
    const auto channel = grpc::CreateChannel(broker.url().substr(std::string_view("http://").size()),
                                             grpc::InsecureChannelCredentials());
    const auto lookup = [&](std::optional<std::pair<std::string, std::string>> header) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 5s);
      if (header) {
        context.AddMetadata(header->first, header->second);
      }
      wire::TopicLookupRequest request;
      request.set_topic("/default/nowhere");
      wire::TopicLookupResponse response;
      return wire::Discovery::NewStub(channel)->TopicLookup(&context, request, &response);
    };
    CHECK(lookup(std::nullopt).error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(lookup(std::pair<std::string, std::string>{"x-danube-internal-broker", "broker/1"}).error_code() ==
          grpc::StatusCode::NOT_FOUND);

    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    wire::AuthRequest request;
    request.set_api_key("key-1");
    wire::AuthResponse response;
    REQUIRE(wire::AuthService::NewStub(channel)->Authenticate(&context, request, &response).ok());
    CHECK(lookup(std::pair<std::string, std::string>{"authorization", "Bearer " + response.token()}).error_code() ==
          grpc::StatusCode::NOT_FOUND);
  }

  TEST_CASE("api_key_exchange: the broker's AuthService exchanges the key, end to end over TLS") {
    auto broker = danube_test::start_broker(secure_options({"key-1", "key-2"}));
    const auto& certs = certificates();
    danube::auth::api_key_exchange exchange("key-2");
    auto client = build<exchange_client>(
        exchange_client::builder().service_url(broker.url()).auth(exchange).tls(danube::tls::ca_file(certs.ca_file)));
    round_trip(client, danube_test::unique_topic("exchange"));
    // One exchange serves every call while the token is fresh (default TTL one hour).
    CHECK(broker.authenticate_calls() == 1);
    CHECK(exchange.exchanges() == 1);
  }

  TEST_CASE("api_key_exchange refreshes the token before its exp") {
    auto options = secure_options({"key-1"});
    options.tls.reset();
    options.auth.token_ttl = 2s;
    // Strict broker: no leeway and no cache, so an expired token would be refused at once.
    options.auth.leeway = 0s;
    options.auth.validation_cache = 0s;
    auto broker = danube_test::start_broker(options);
    auto client = build<insecure_exchange_client>(insecure_exchange_client::builder()
                                                      .service_url(broker.url())
                                                      .auth(danube::auth::api_key_exchange("key-1", 1s)));
    const auto topic = danube_test::unique_topic("refresh");
    CHECK(client.lookup_topic(topic).error() == danube::errc::not_found);
    CHECK(broker.authenticate_calls() == 1);
    // Keep calling: every call is authenticated, and the token is exchanged again once less than
    // the margin is left.
    bool all_authenticated = true;
    const bool refreshed = danube_test::wait_until(
        [&] {
          const auto looked_up = client.lookup_topic(topic);
          all_authenticated = all_authenticated && !looked_up && looked_up.error() == danube::errc::not_found;
          return broker.authenticate_calls() >= 3;
        },
        8s);
    CHECK(refreshed);
    CHECK(all_authenticated);
  }

  TEST_CASE("api_key_exchange: 32 threads asking for a token at once cause exactly one Authenticate call") {
    auto options = secure_options({"key-1"});
    options.tls.reset();
    auto broker = danube_test::start_broker(options);
    // A slow exchange, so that every thread asks while it is still running.
    broker.delay(testing::rpc::authenticate, 200ms);
    auto client = build<insecure_exchange_client>(
        insecure_exchange_client::builder().service_url(broker.url()).auth(danube::auth::api_key_exchange("key-1")));
    const auto topic = danube_test::unique_topic("single-flight");
    constexpr int threads = 32;
    std::latch go(threads);
    std::vector<std::future<danube::result<danube::topic_lookup>>> lookups;
    lookups.reserve(threads);
    for (int i = 0; i < threads; ++i) {
      lookups.push_back(std::async(std::launch::async, [&] {
        go.arrive_and_wait();
        return client.lookup_topic(topic);
      }));
    }
    for (auto& lookup : lookups) {
      const auto looked_up = lookup.get();
      REQUIRE_FALSE(looked_up);
      CHECK(looked_up.error() == danube::errc::not_found);  // authenticated, the topic is just unknown
    }
    CHECK(broker.authenticate_calls() == 1);
    CHECK(broker.calls(testing::rpc::topic_lookup) == threads);
  }

  // A token refresh due when a health check runs: close() cancels the Authenticate call rather than
  // waiting for its deadline (it once ran as a blocking RPC on the scheduler thread).
  TEST_CASE("close() returns within 1 s while a token refresh hangs in a health check") {
    auto options = secure_options({"key-1"});
    options.tls.reset();
    options.auth.token_ttl = 2s;
    auto broker = danube_test::start_broker(options);
    auto client = build<insecure_exchange_client>(insecure_exchange_client::builder()
                                                      .service_url(broker.url())
                                                      .call_timeout(3s)
                                                      .health_check_interval(100ms)
                                                      .auth(danube::auth::api_key_exchange("key-1", 1s)));
    auto producer =
        require_ok(client.new_producer().topic(danube_test::unique_topic("refresh-hang")).name("p").build());
    require_ok(producer.create());
    REQUIRE(broker.authenticate_calls() == 1);
    broker.never_answer(testing::rpc::authenticate);
    // Within about a second the token needs a refresh; the next health check asks for it.
    REQUIRE(danube_test::wait_until([&] { return broker.authenticate_calls() >= 2; }, 5s));
    const auto start = std::chrono::steady_clock::now();
    client.close();
    const auto took = danube_test::elapsed_since(start);
    MESSAGE("close() took ", took.count(), " ms while Authenticate hung");
    CHECK(took < 1s);
  }

  TEST_CASE("api_key_exchange against a broker that accepts no such key: errc::unauthenticated") {
    auto options = secure_options();  // no api keys
    options.tls.reset();
    auto broker = danube_test::start_broker(options);
    auto client = build<insecure_exchange_client>(
        insecure_exchange_client::builder().service_url(broker.url()).auth(danube::auth::api_key_exchange("key-1")));
    const auto refused = client.lookup_topic(danube_test::unique_topic("no-keys"));
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == danube::errc::unauthenticated);
    CHECK_MESSAGE(refused.error().message().find("Invalid token") != std::string::npos, refused.error().message());
    CHECK(broker.authenticate_calls() >= 1);
    CHECK(broker.calls(testing::rpc::topic_lookup) == 0);  // nothing was sent without a token
  }

  TEST_CASE("api_key_exchange against a broker without JWT or without AuthService: errc::unauthenticated") {
    SUBCASE("JWT not enabled: FAILED_PRECONDITION from Authenticate") {
      auto broker = danube_test::start_broker();
      auto client = build<insecure_exchange_client>(
          insecure_exchange_client::builder().service_url(broker.url()).auth(danube::auth::api_key_exchange("key-1")));
      const auto refused = client.lookup_topic(danube_test::unique_topic("no-jwt"));
      REQUIRE_FALSE(refused);
      CHECK(refused.error() == danube::errc::unauthenticated);
      CHECK_MESSAGE(refused.error().message().find("JWT support is not enabled") != std::string::npos,
                    refused.error().message());
    }
    SUBCASE("a v0.15.1-like broker: UNIMPLEMENTED") {
      testing::broker_options options;
      options.auth.legacy_auth_service = false;
      auto broker = danube_test::start_broker(options);
      auto client = build<insecure_exchange_client>(
          insecure_exchange_client::builder().service_url(broker.url()).auth(danube::auth::api_key_exchange("key-1")));
      const auto refused = client.lookup_topic(danube_test::unique_topic("no-service"));
      REQUIRE_FALSE(refused);
      CHECK(refused.error() == danube::errc::unauthenticated);
      CHECK_MESSAGE(refused.error().message().find("unimplemented") != std::string::npos, refused.error().message());
    }
  }
}
