// Reliability under faults, against the embedded broker and cluster: brokers restarted and topics
// moved mid-stream, tokens expiring mid-stream, CLOSE answered over and over, a broker that never
// answers, many producers at once, and create/close cycles that must not leak threads or file
// descriptors. What each test asserts, and the figures it prints, are in docs/reliability.md.
#include "support/test_support.hpp"
#include <danube/testing/embedded_cluster.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <future>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// A named namespace: the integration tests are one unity-built translation unit.
// No ';' in test names: CTest discovery (doctest.cmake) splits names there and the truncated test
// then matches nothing and "passes" without running.
namespace reliability_test {

using namespace std::chrono_literals;
using danube_test::require_ok;
namespace testing = danube::testing;

testing::embedded_cluster start_cluster(std::size_t brokers, const testing::broker_options& options = {}) {
  auto cluster = testing::embedded_cluster::start(brokers, options);
  REQUIRE_MESSAGE(cluster.has_value(), fmt::format("{}", cluster.error()));
  return std::move(*cluster);
}

template <class Client = danube::client>
Client connect(const std::string& url, std::chrono::milliseconds health_interval = 5s) {
  auto client = Client::builder().service_url(url).health_check_interval(health_interval).build();
  REQUIRE_MESSAGE(client.has_value(), fmt::format("{}", client.error()));
  return std::move(*client);
}

// Entries of a /proc/self directory (threads, open file descriptors).
std::size_t count_entries(const char* dir) {
  std::error_code ec;
  std::size_t n = 0;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    ++n;
  }
  return n;
}

// Sends "0", "1", "2", ... one at a time on its own thread until stopped, recording every outcome.
// acked() counts the sends the broker acknowledged, in order (a send completes only after the one
// before it). A failed send is recorded and the loop goes on.
class send_loop {
 public:
  template <class Producer>
  send_loop(Producer& producer, std::chrono::milliseconds pace)
      : thread_([this, &producer, pace] {
          for (std::uint64_t i = 0; !stop_.load(); ++i) {
            auto sent = producer.send(std::to_string(i));
            {
              const std::lock_guard lock(mu_);
              if (sent) {
                ids_.push_back(*sent);
              } else {
                failures_.push_back(fmt::format("send {}: {}", i, sent.error()));
                ids_.emplace_back();
              }
            }
            acked_.fetch_add(1);
            if (pace.count() > 0) {
              std::this_thread::sleep_for(pace);
            }
          }
        }) {}
  send_loop(const send_loop&) = delete;
  send_loop& operator=(const send_loop&) = delete;
  ~send_loop() { stop(); }

  // Sends completed so far (acknowledged or failed): message i is the i-th send.
  [[nodiscard]] std::uint64_t completed() const { return acked_.load(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  [[nodiscard]] std::vector<std::string> failures() const {
    const std::lock_guard lock(mu_);
    return failures_;
  }
  [[nodiscard]] std::vector<danube::message_id> ids() const {
    const std::lock_guard lock(mu_);
    return ids_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<danube::message_id> ids_;
  std::vector<std::string> failures_;
  std::atomic<std::uint64_t> acked_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Receives (and acks) on its own thread until stopped, recording the payload indexes in arrival
// order and the errors the consumer reported.
class receive_loop {
 public:
  template <class Consumer>
  explicit receive_loop(Consumer& consumer)
      : thread_([this, &consumer] {
          while (!stop_.load()) {
            auto m = consumer.receive(50ms);
            if (!m) {
              if (m.error() != danube::errc::timeout) {
                const std::lock_guard lock(mu_);
                errors_.push_back(m.error());
              }
              continue;
            }
            (void)consumer.ack(*m);  // may fail while the broker is away; reliable topics redeliver
            const std::lock_guard lock(mu_);
            arrivals_.push_back(std::stoull(std::string(m->payload_string())));
            seen_.insert(arrivals_.back());
          }
        }) {}
  receive_loop(const receive_loop&) = delete;
  receive_loop& operator=(const receive_loop&) = delete;
  ~receive_loop() { stop(); }

  void stop() {
    stop_ = true;
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  [[nodiscard]] bool has(std::uint64_t index) const {
    const std::lock_guard lock(mu_);
    return seen_.contains(index);
  }
  [[nodiscard]] std::size_t distinct() const {
    const std::lock_guard lock(mu_);
    return seen_.size();
  }
  // Every index of [from, to) arrived.
  [[nodiscard]] bool has_all(std::uint64_t from, std::uint64_t to) const {
    const std::lock_guard lock(mu_);
    for (auto i = from; i < to; ++i) {
      if (!seen_.contains(i)) {
        return false;
      }
    }
    return true;
  }
  [[nodiscard]] std::vector<std::uint64_t> missing(std::uint64_t from, std::uint64_t to) const {
    const std::lock_guard lock(mu_);
    std::vector<std::uint64_t> out;
    for (auto i = from; i < to; ++i) {
      if (!seen_.contains(i)) {
        out.push_back(i);
      }
    }
    return out;
  }
  [[nodiscard]] std::vector<std::uint64_t> arrivals() const {
    const std::lock_guard lock(mu_);
    return arrivals_;
  }
  [[nodiscard]] std::vector<danube::error> errors() const {
    const std::lock_guard lock(mu_);
    return errors_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::uint64_t> arrivals_;
  std::set<std::uint64_t> seen_;
  std::vector<danube::error> errors_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The first arrival of each index in [from, to) comes in increasing index order.
bool first_arrivals_in_order(const std::vector<std::uint64_t>& arrivals, std::uint64_t from, std::uint64_t to) {
  std::set<std::uint64_t> seen;
  std::optional<std::uint64_t> last;
  for (const auto i : arrivals) {
    if (i < from || i >= to || !seen.insert(i).second) {
      continue;
    }
    if (last && i < *last) {
      return false;
    }
    last = i;
  }
  return true;
}

std::size_t duplicates(const std::vector<std::uint64_t>& arrivals) {
  return arrivals.size() - std::set<std::uint64_t>(arrivals.begin(), arrivals.end()).size();
}

// Quick retries for consumers whose re-subscription should not wait long.
danube::retry::exponential_backoff quick_backoff() {
  danube::retry::exponential_backoff policy;
  policy.base = 20ms;
  policy.cap = 200ms;
  return policy;
}

}  // namespace reliability_test

TEST_SUITE("reliability") {
  using namespace reliability_test;

  // The embedded broker forgets stored reliable messages and subscriptions on restart (the real
  // one keeps them in its WAL), so what is asserted is what the client guarantees: every send is
  // acknowledged (none fails), and every message sent after the consumer's re-subscription on the
  // restarted broker arrives, first arrivals in order. Message W, in flight when the
  // re-subscription was seen, may have been stored before the subscription existed.
  TEST_CASE(
      "broker restart mid-stream, reliable: every send succeeds, every message sent after re-subscription "
      "arrives, in order") {
    auto cluster = start_cluster(2);
    const auto topic = danube_test::unique_topic("restart-reliable");
    // The topic lives on broker 1; the client's service URL is broker 0 (lookups redirect).
    auto client = connect(cluster.url(0), 200ms);
    auto producer = require_ok(
        client.new_producer().topic(topic).name("writer").dispatch(danube::dispatch_strategy::reliable).build());
    {
      auto owner = connect(cluster.url(1));
      auto creator = require_ok(
          owner.new_producer().topic(topic).name("creator").dispatch(danube::dispatch_strategy::reliable).build());
      require_ok(creator.create());
    }
    REQUIRE(cluster.owner(topic) == 1U);
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer()
                                   .topic(topic)
                                   .consumer_name("reader")
                                   .subscription("sub")
                                   .subscription_type(danube::subscription_type::exclusive)
                                   .retry_policy(quick_backoff())
                                   .build());
    require_ok(consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return cluster.broker(1).streaming_consumers(topic) == 1; }));

    receive_loop received(consumer);
    send_loop sends(producer, 2ms);
    REQUIRE(danube_test::wait_until([&] { return sends.completed() >= 100 && received.distinct() >= 50; }, 30s));

    const auto restart_at = std::chrono::steady_clock::now();
    const auto before = sends.completed();
    require_ok(cluster.restart_broker(1));
    REQUIRE(danube_test::wait_until([&] { return cluster.broker(1).streaming_consumers(topic) == 1; }, 30s));
    const auto watermark = sends.completed();
    const auto back_after = danube_test::elapsed_since(restart_at);
    REQUIRE(danube_test::wait_until([&] { return sends.completed() >= watermark + 200; }, 60s));
    sends.stop();
    const auto total = sends.completed();
    const bool all_arrived = danube_test::wait_until([&] { return received.has_all(watermark + 1, total); }, 20s);
    received.stop();

    MESSAGE(
        fmt::format("restart after {} sends; consumer back after {} ms at send {}; {} sends in all; {} "
                    "duplicates; lost before re-subscription (broker forgets on restart): {}",
                    before, back_after.count(), watermark, total, duplicates(received.arrivals()),
                    received.missing(0, watermark + 1).size()));
    CHECK_MESSAGE(sends.failures().empty(), fmt::format("{}", fmt::join(sends.failures(), "; ")));
    CHECK_MESSAGE(all_arrived, fmt::format("missing: {}", fmt::join(received.missing(watermark + 1, total), ",")));
    CHECK(first_arrivals_in_order(received.arrivals(), watermark + 1, total));
    CHECK(received.has_all(0, std::min<std::uint64_t>(before, 50)));  // the steady state before the restart
    const auto start = std::chrono::steady_clock::now();
    client.close();
    CHECK(danube_test::elapsed_since(start) < 1s);
  }

  TEST_CASE(
      "broker restarted three times mid-stream, non-reliable: the client recovers each time, no send fails, "
      "no hang") {
    auto cluster = start_cluster(1);
    const auto topic = danube_test::unique_topic("restart-plain");
    auto client = connect(cluster.url(0), 200ms);
    auto producer = require_ok(client.new_producer().topic(topic).name("writer").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer()
                                   .topic(topic)
                                   .consumer_name("reader")
                                   .subscription("sub")
                                   .retry_policy(quick_backoff())
                                   .build());
    require_ok(consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return cluster.broker(0).streaming_consumers(topic) == 1; }));

    receive_loop received(consumer);
    send_loop sends(producer, 2ms);
    std::uint64_t watermark = 0;
    for (int restart = 0; restart < 3; ++restart) {
      const auto target = sends.completed() + 50;
      REQUIRE(danube_test::wait_until([&] { return sends.completed() >= target; }, 30s));
      require_ok(cluster.restart_broker(0));
      REQUIRE(danube_test::wait_until([&] { return cluster.broker(0).streaming_consumers(topic) == 1; }, 30s));
      watermark = sends.completed();
    }
    REQUIRE(danube_test::wait_until([&] { return sends.completed() >= watermark + 100; }, 60s));
    sends.stop();
    const auto total = sends.completed();
    // Non-reliable messages published while the consumer is away are not kept; once it is back
    // (and keeps up) everything arrives.
    const bool recovered = danube_test::wait_until([&] { return received.has_all(watermark + 1, total); }, 20s);
    received.stop();
    MESSAGE(fmt::format("{} sends across 3 restarts, {} received, {} errors reported by the consumer", total,
                        received.distinct(), received.errors().size()));
    CHECK_MESSAGE(sends.failures().empty(), fmt::format("{}", fmt::join(sends.failures(), "; ")));
    CHECK(recovered);
    const auto start = std::chrono::steady_clock::now();
    client.close();
    CHECK(danube_test::elapsed_since(start) < 1s);
  }

  // A move unloads the topic from its old owner (producers and consumers forgotten, stored
  // messages not carried over): the producer re-creates itself on the new owner and resends, the
  // consumer re-subscribes there. Asserted: no send fails; sends after a move land on the new
  // owner; every message sent after the consumer is back, up to the next move's catch-up point,
  // arrives in order.
  TEST_CASE(
      "topic moved between brokers during sends and receives: the producer continues on the new owner, no send "
      "fails or is lost") {
    auto cluster = start_cluster(2);
    const auto topic = danube_test::unique_topic("moving");
    auto client = connect(cluster.url(0), 200ms);
    auto producer = require_ok(
        client.new_producer().topic(topic).name("writer").dispatch(danube::dispatch_strategy::reliable).build());
    require_ok(producer.create());
    REQUIRE(cluster.owner(topic) == 0U);
    auto consumer = require_ok(client.new_consumer()
                                   .topic(topic)
                                   .consumer_name("reader")
                                   .subscription("sub")
                                   .subscription_type(danube::subscription_type::exclusive)
                                   .retry_policy(quick_backoff())
                                   .build());
    require_ok(consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return cluster.broker(0).streaming_consumers(topic) == 1; }));

    receive_loop received(consumer);
    send_loop sends(producer, 2ms);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> guaranteed;  // [from, to) that must arrive
    std::uint64_t back_at = 0;
    for (const std::size_t to : {1U, 0U, 1U}) {
      // Catch up first: what the broker holds when the topic moves is not carried over.
      const auto target = sends.completed() + 100;
      REQUIRE(danube_test::wait_until([&] { return sends.completed() >= target; }, 30s));
      REQUIRE(danube_test::wait_until([&] { return received.has_all(back_at + 1, target); }, 20s));
      guaranteed.emplace_back(back_at + 1, target);
      const auto moving = std::chrono::steady_clock::now();
      require_ok(cluster.move_topic(topic, to));
      REQUIRE(danube_test::wait_until([&] { return cluster.broker(to).streaming_consumers(topic) == 1; }, 30s));
      back_at = sends.completed();
      MESSAGE(fmt::format("moved to broker {} at send {}; consumer back after {} ms", to, target,
                          danube_test::elapsed_since(moving).count()));
    }
    REQUIRE(danube_test::wait_until([&] { return sends.completed() >= back_at + 100; }, 30s));
    sends.stop();
    const auto total = sends.completed();
    guaranteed.emplace_back(back_at + 1, total);
    for (const auto& [from, to] : guaranteed) {
      CAPTURE(from);
      CAPTURE(to);
      CHECK_MESSAGE(danube_test::wait_until([&] { return received.has_all(from, to); }, 20s),
                    fmt::format("missing: {}", fmt::join(received.missing(from, to), ",")));
      CHECK(first_arrivals_in_order(received.arrivals(), from, to));
    }
    received.stop();
    CHECK_MESSAGE(sends.failures().empty(), fmt::format("{}", fmt::join(sends.failures(), "; ")));
    const auto ids = sends.ids();
    REQUIRE(ids.size() == total);
    CHECK(ids.front().broker_addr == cluster.url(0));
    CHECK(ids.back().broker_addr == cluster.url(1));
    std::size_t on_new_owner = 0;
    for (const auto& id : ids) {
      on_new_owner += id.broker_addr == cluster.url(1) ? 1U : 0U;
    }
    MESSAGE(fmt::format("{} sends over 3 moves, {} acknowledged by broker 1, {} distinct received, {} duplicates",
                        total, on_new_owner, received.distinct(), duplicates(received.arrivals())));
  }

  TEST_CASE(
      "a token that expires mid-stream: token_supplier and api_key_exchange refresh it, sends and streams go on") {
    using insecure_supplier_client =
        danube::basic_client<danube::auth::token_supplier, danube::tls::plaintext_insecure>;
    using insecure_exchange_client =
        danube::basic_client<danube::auth::api_key_exchange, danube::tls::plaintext_insecure>;
    testing::broker_options options;
    options.auth.require_token = true;
    options.auth.jwt_secret = "reliability-secret";
    options.auth.api_keys = {"api-key-7f3c9e1d"};
    options.auth.token_ttl = 2s;
    // Strict: an expired token is refused at once (no leeway, no validation cache).
    options.auth.leeway = 0s;
    options.auth.validation_cache = 0s;
    auto broker = danube_test::start_broker(options);

    // Runs 5 s of traffic (2.5 token lifetimes) with a forced re-creation of the producer and the
    // consumer (health-check CLOSE) in the middle, so that new streams open with refreshed tokens.
    auto [lines, sink] = danube_test::log_lines::make();
    const auto exercise = [&](auto& client, const std::string& topic) {
      auto producer = require_ok(
          client.new_producer().topic(topic).name("writer").dispatch(danube::dispatch_strategy::reliable).build());
      require_ok(producer.create());
      auto consumer = require_ok(client.new_consumer()
                                     .topic(topic)
                                     .consumer_name("reader")
                                     .subscription("sub")
                                     .retry_policy(quick_backoff())
                                     .build());
      require_ok(consumer.subscribe());
      REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));
      receive_loop received(consumer);
      send_loop sends(producer, 20ms);
      std::this_thread::sleep_for(2500ms);
      broker.answer_close_for_all(true);
      std::this_thread::sleep_for(300ms);
      broker.answer_close_for_all(false);
      std::this_thread::sleep_for(2500ms);
      sends.stop();
      const auto total = sends.completed();
      CHECK(danube_test::wait_until([&] { return received.has_all(0, total); }, 20s));
      received.stop();
      CHECK_MESSAGE(sends.failures().empty(), fmt::format("{}", fmt::join(sends.failures(), "; ")));
      std::size_t unauthenticated = 0;
      for (const auto& e : received.errors()) {
        unauthenticated += e == danube::errc::unauthenticated ? 1U : 0U;
      }
      CHECK(unauthenticated == 0);
      return total;
    };

    SUBCASE("token_supplier") {
      struct issued {
        std::mutex mu;
        std::string token;
        std::chrono::steady_clock::time_point expires;
        std::vector<std::string> all;
      };
      auto state = std::make_shared<issued>();
      auto client =
          require_ok(insecure_supplier_client::builder()
                         .service_url(broker.url())
                         .health_check_interval(100ms)
                         .logger(sink)
                         .auth(danube::auth::token_supplier([state, &broker]() -> danube::result<std::string> {
                           const std::lock_guard lock(state->mu);
                           // A fresh 2 s token once less than 1 s is left.
                           if (state->token.empty() || std::chrono::steady_clock::now() + 1s > state->expires) {
                             auto token = broker.issue_token("supplied", 2s);
                             if (!token) {
                               return token;
                             }
                             state->token = std::move(*token);
                             state->expires = std::chrono::steady_clock::now() + 2s;
                             state->all.push_back(state->token);
                           }
                           return state->token;
                         }))
                         .build());
      const auto total = exercise(client, danube_test::unique_topic("token-supplier"));
      const std::lock_guard lock(state->mu);
      MESSAGE(fmt::format("token_supplier: {} messages, {} tokens issued", total, state->all.size()));
      CHECK(state->all.size() >= 4);
      // Credentials are never logged.
      CHECK_FALSE(lines->all().empty());
      for (const auto& line : lines->all()) {
        for (const auto& token : state->all) {
          CHECK(line.find(token) == std::string::npos);
          CHECK(line.find(token.substr(token.rfind('.'))) == std::string::npos);  // not even the signature
        }
      }
    }
    SUBCASE("api_key_exchange") {
      danube::auth::api_key_exchange exchange("api-key-7f3c9e1d", 1s);
      auto client = require_ok(insecure_exchange_client::builder()
                                   .service_url(broker.url())
                                   .health_check_interval(100ms)
                                   .logger(sink)
                                   .auth(exchange)
                                   .build());
      const auto total = exercise(client, danube_test::unique_topic("api-key"));
      MESSAGE(fmt::format("api_key_exchange: {} messages, {} exchanges", total, exchange.exchanges()));
      CHECK(exchange.exchanges() >= 4);
      CHECK(broker.authenticate_calls() == exchange.exchanges());
      CHECK_FALSE(lines->all().empty());
      for (const auto& line : lines->all()) {
        CHECK(line.find("7f3c9e1d") == std::string::npos);  // the api key is never logged
        CHECK(line.find("eyJ") == std::string::npos);       // nor any JWT (base64url of '{"')
      }
    }
  }

  TEST_CASE("CLOSE answered repeatedly: at most one re-creation per health-check interval, recovery when it stops") {
    constexpr auto interval = 100ms;
    constexpr auto storm = 1500ms;
    auto broker = danube_test::start_broker();
    auto [lines, sink] = danube_test::log_lines::make();
    auto client = require_ok(
        danube::client::builder().service_url(broker.url()).health_check_interval(interval).logger(sink).build());
    const auto topic = danube_test::unique_topic("close-storm");
    auto producer = require_ok(client.new_producer().topic(topic).name("writer").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("reader").subscription("sub").build());
    require_ok(consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));

    const auto creates = broker.calls(testing::rpc::create_producer);
    const auto subscribes = broker.calls(testing::rpc::subscribe);
    broker.answer_close_for_all(true);
    // Sends go on meanwhile: each waits for the producer's re-creation when it is under way.
    const auto until = std::chrono::steady_clock::now() + storm;
    int sent = 0;
    while (std::chrono::steady_clock::now() < until) {
      require_ok(producer.send("during the storm"));
      ++sent;
      std::this_thread::sleep_for(10ms);
    }
    broker.answer_close_for_all(false);
    const auto recreated = broker.calls(testing::rpc::create_producer) - creates;
    const auto resubscribed = broker.calls(testing::rpc::subscribe) - subscribes;
    MESSAGE(fmt::format("{} ms of CLOSE answers every {} ms: {} producer re-creations, {} re-subscriptions, {} sends",
                        storm.count(), interval.count(), recreated, resubscribed, sent));
    const auto bound = static_cast<std::uint64_t>(storm / interval) + 2;
    CHECK(recreated >= 3);
    CHECK(recreated <= bound);
    CHECK(resubscribed >= 3);
    CHECK(resubscribed <= bound);

    // Once the broker stops answering CLOSE everything works again.
    std::this_thread::sleep_for(3 * interval);
    REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));
    const auto settled = broker.calls(testing::rpc::create_producer);
    std::this_thread::sleep_for(5 * interval);
    CHECK(broker.calls(testing::rpc::create_producer) == settled);
    require_ok(producer.send("after the storm"));
    bool arrived = false;
    while (!arrived) {
      auto m = consumer.receive(5s);
      if (!m) {
        break;
      }
      arrived = m->payload_string() == "after the storm";  // after those sent during the storm
    }
    CHECK(arrived);
  }

  TEST_CASE(
      "a broker that accepts connections but never answers: every call fails with errc::timeout, close() "
      "within 1 s") {
    constexpr auto call_timeout = 300ms;
    auto broker = danube_test::start_broker();
    auto client = require_ok(danube::client::builder()
                                 .service_url(broker.url())
                                 .call_timeout(call_timeout)
                                 .health_check_interval(100ms)
                                 .build());
    const auto topic = danube_test::unique_topic("silent");
    // A producer and a consumer made while the broker still answers, for send and ack.
    auto producer = require_ok(client.new_producer().topic(topic).name("writer").send_timeout(500ms).build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("reader").subscription("sub").build());
    require_ok(consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));
    require_ok(producer.send("to ack"));
    const auto m = require_ok(consumer.receive(5s));

    for (const auto method : {testing::rpc::topic_lookup, testing::rpc::topic_partitions, testing::rpc::create_producer,
                              testing::rpc::send_message, testing::rpc::subscribe, testing::rpc::ack,
                              testing::rpc::nack, testing::rpc::health_check}) {
      broker.never_answer(method);
    }
    const auto timed = [&](auto call) {
      const auto start = std::chrono::steady_clock::now();
      auto outcome = call();
      const auto took = danube_test::elapsed_since(start);
      REQUIRE_FALSE(outcome);
      CHECK_MESSAGE(outcome.error() == danube::errc::timeout, fmt::format("{}", outcome.error()));
      return took;
    };
    CHECK(timed([&] { return client.lookup_topic(topic); }) < 2s);
    CHECK(timed([&] { return client.topic_partitions(topic); }) < 2s);
    auto fresh = require_ok(client.new_producer<danube::basic_producer<danube::retry::none>>()
                                .topic(danube_test::unique_topic("silent-create"))
                                .name("p")
                                .build());
    CHECK(timed([&] { return fresh.create(); }) < 2s);
    auto late = require_ok(client.new_consumer<danube::basic_consumer<danube::retry::none>>()
                               .topic(topic)
                               .consumer_name("late")
                               .subscription("late")
                               .build());
    CHECK(timed([&] { return late.subscribe(); }) < 2s);
    const auto send_took = timed([&] { return producer.send("never answered"); });
    CHECK(send_took >= 400ms);  // the send timeout, not the call timeout, bounds a send
    CHECK(send_took < 3s);
    CHECK(timed([&] { return consumer.ack(m); }) < 2s);
    CHECK(timed([&] { return consumer.nack(m); }) < 2s);

    // Calls hanging while the client closes: close() does not wait for them.
    auto hanging_send = producer.send_async("hanging");
    auto hanging_create = std::async(std::launch::async, [&] { return fresh.create(); });
    REQUIRE(danube_test::wait_until([&] { return broker.held_calls() >= 2; }));
    const auto start = std::chrono::steady_clock::now();
    client.close();
    const auto took = danube_test::elapsed_since(start);
    MESSAGE("close() with calls hanging took ", took.count(), " ms");
    CHECK(took < 1s);
    REQUIRE(hanging_send.wait_for(2s) == std::future_status::ready);
    CHECK_FALSE(hanging_send.get());
    REQUIRE(hanging_create.wait_for(2s) == std::future_status::ready);
    CHECK_FALSE(hanging_create.get());
  }

  TEST_CASE("64 producers on 8 threads sending at once: every send acknowledged, every message received once") {
    constexpr int threads = 8;
    constexpr int per_thread = 8;
    constexpr int messages = 25;
    testing::broker_options options;
    options.consumer_buffer = 100'000;  // the consumer must not fall behind the broker's buffer
    auto broker = danube_test::start_broker(options);
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("crowd");
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("reader").subscription("sub").build());
    {
      auto creator = require_ok(client.new_producer().topic(topic).name("creator").build());
      require_ok(creator.create());
    }
    require_ok(consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));

    // Built here (build() does no I/O); created and used on the 8 threads.
    std::vector<std::vector<danube::producer>> groups(threads);
    for (int t = 0; t < threads; ++t) {
      for (int p = 0; p < per_thread; ++p) {
        groups[static_cast<std::size_t>(t)].push_back(
            require_ok(client.new_producer().topic(topic).name(fmt::format("p{}-{}", t, p)).build()));
      }
    }
    std::latch go(threads);
    std::atomic<int> acknowledged{0};
    std::vector<std::string> failures;
    std::mutex failures_mu;
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        auto& producers = groups[static_cast<std::size_t>(t)];
        go.arrive_and_wait();
        for (auto& producer : producers) {
          if (auto ok = producer.create(); !ok) {
            const std::lock_guard lock(failures_mu);
            failures.push_back(fmt::format("create: {}", ok.error()));
          }
        }
        std::vector<std::future<danube::result<danube::message_id>>> sends;
        for (int i = 0; i < messages; ++i) {
          for (int p = 0; p < per_thread; ++p) {
            sends.push_back(producers[static_cast<std::size_t>(p)].send_async(fmt::format("{}-{}:{}", t, p, i)));
          }
        }
        for (auto& send : sends) {
          if (auto id = send.get(); id) {
            acknowledged.fetch_add(1);
          } else {
            const std::lock_guard lock(failures_mu);
            failures.push_back(fmt::format("send: {}", id.error()));
          }
        }
      });
    }
    for (auto& worker : workers) {
      worker.join();
    }
    const auto took = danube_test::elapsed_since(started);
    constexpr int total = threads * per_thread * messages;
    CHECK_MESSAGE(failures.empty(), fmt::format("{}", fmt::join(failures, "; ")));
    CHECK(acknowledged.load() == total);

    // Every message arrives once, and each producer's messages in the order they were sent.
    std::map<std::string, int> next;  // producer -> next expected index
    int received = 0;
    bool in_order = true;
    while (received < total) {
      auto m = consumer.receive(5s);
      if (!m) {
        break;
      }
      const auto text = std::string(m->payload_string());
      const auto colon = text.find(':');
      const auto index = std::stoi(text.substr(colon + 1));
      auto& expected = next[text.substr(0, colon)];
      in_order = in_order && index == expected;
      expected = index + 1;
      ++received;
    }
    MESSAGE(fmt::format("64 producers, {} messages acknowledged in {} ms, {} received", total, took.count(), received));
    CHECK(received == total);
    CHECK(in_order);
    CHECK(next.size() == static_cast<std::size_t>(threads * per_thread));
    CHECK(consumer.receive(100ms).error() == danube::errc::timeout);  // nothing twice
  }

  TEST_CASE("1,000 create/close cycles of client, producer and consumer: flat thread and file-descriptor counts") {
    constexpr int cycles = 1000;
    auto broker = danube_test::start_broker();
    const auto topic = danube_test::unique_topic("cycles");
    const auto cycle = [&] {
      auto client = danube_test::connect(broker);
      auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
      require_ok(producer.create());
      auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
      require_ok(consumer.subscribe());
      producer.close();
      consumer.close();
      client.close();
    };
    // Warm-up: gRPC starts its own threads and pollers lazily, once per process.
    for (int i = 0; i < 20; ++i) {
      cycle();
    }
    const auto threads_before = count_entries("/proc/self/task");
    const auto fds_before = count_entries("/proc/self/fd");
    const auto start = std::chrono::steady_clock::now();
    // Connections close asynchronously in gRPC (a closed client's channel is destroyed by the
    // channel reaper once its last callback has let go, and gRPC then closes the socket on its own
    // threads), and its callback executor sizes its thread pool to the load (up to a bound): allow
    // a small constant, give them a moment, then compare.
    constexpr std::size_t thread_slack = 8;
    constexpr std::size_t fd_slack = 8;
    // The peak is what is still open once closes under way have had a moment to finish: how many
    // closes are under way at one instant depends on how loaded the machine is (a test run at load
    // 12 saw 49 fds against a bound of 47), a leak does not go away with time.
    const auto settled_count = [](const char* dir, std::size_t bound) {
      danube_test::wait_until([&] { return count_entries(dir) <= bound; }, 5s);
      return count_entries(dir);
    };
    std::size_t threads_peak = threads_before;
    std::size_t fds_peak = fds_before;
    for (int i = 0; i < cycles; ++i) {
      cycle();
      if (i % 50 == 0) {
        threads_peak = std::max(threads_peak, settled_count("/proc/self/task", threads_before + thread_slack));
        fds_peak = std::max(fds_peak, settled_count("/proc/self/fd", fds_before + 4 * fd_slack));
      }
    }
    const auto took = danube_test::elapsed_since(start);
    danube_test::wait_until(
        [&] {
          return count_entries("/proc/self/task") <= threads_before + thread_slack &&
                 count_entries("/proc/self/fd") <= fds_before + fd_slack;
        },
        5s);
    const auto threads_after = count_entries("/proc/self/task");
    const auto fds_after = count_entries("/proc/self/fd");
    MESSAGE(fmt::format("{} cycles in {} ms ({:.1f} ms each); threads {} -> {} (peak {}), fds {} -> {} (peak {})",
                        cycles, took.count(), static_cast<double>(took.count()) / cycles, threads_before, threads_after,
                        threads_peak, fds_before, fds_after, fds_peak));
    CHECK(threads_after <= threads_before + thread_slack);
    CHECK(fds_after <= fds_before + fd_slack);
    CHECK(threads_peak <= threads_before + thread_slack);
    CHECK(fds_peak <= fds_before + 4 * fd_slack);
  }
}
