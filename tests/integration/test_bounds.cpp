// Bounded time and memory: every send ends within its send timeout (recovery, retries and a full
// pending queue included), flush() waits only for what was sent before it, a consumer whose topic
// is gone reports a bounded number of errors and backs off, and nothing recurses per message.
#include "support/test_support.hpp"
#include "support/watchdog.hpp"
#include <danube/detail/service_url.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace bounds_test {

using namespace std::chrono_literals;
using danube_test::require_ok;
namespace testing = danube::testing;

// A policy that never gives up: 50 ms between attempts, forever.
struct forever_retry {
  [[nodiscard]] std::optional<std::chrono::milliseconds> next_delay(const danube::error& /*failure*/,
                                                                    unsigned /*attempt*/) const {
    return 50ms;
  }
};
static_assert(danube::retry_policy<forever_retry>);

// Records the attempt numbers it is asked about; waits 100 ms per attempt, at most 400 ms.
struct recording_retry {
  struct log {
    std::mutex mu;
    std::vector<unsigned> attempts;
  };
  std::shared_ptr<log> asked = std::make_shared<log>();

  [[nodiscard]] std::optional<std::chrono::milliseconds> next_delay(const danube::error& /*failure*/,
                                                                    unsigned attempt) const {
    std::lock_guard lock(asked->mu);
    asked->attempts.push_back(attempt);
    return std::min(std::chrono::milliseconds(100 * attempt), std::chrono::milliseconds(400));
  }

  [[nodiscard]] unsigned highest() const {
    std::lock_guard lock(asked->mu);
    return asked->attempts.empty() ? 0 : *std::max_element(asked->attempts.begin(), asked->attempts.end());
  }
};
static_assert(danube::retry_policy<recording_retry>);

// Asks for the longest wait there is after every failure: "wait for ever", not "retry at once".
struct longest_retry {
  [[nodiscard]] std::optional<std::chrono::milliseconds> next_delay(const danube::error& /*failure*/,
                                                                    unsigned /*attempt*/) const {
    return std::chrono::milliseconds::max();
  }
};
static_assert(danube::retry_policy<longest_retry>);

}  // namespace bounds_test

TEST_SUITE("bounds") {
  using namespace bounds_test;

  TEST_CASE("flush() returns while another thread keeps sending: it waits only for the sends made before it") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    // Acknowledgements come slowly, so the sender is always ahead: the queue never runs empty.
    auto producer = std::make_shared<danube::producer>(require_ok(client.new_producer()
                                                                      .topic(danube_test::unique_topic("flush-busy"))
                                                                      .name("p")
                                                                      .max_pending_messages(50)
                                                                      .build()));
    require_ok(producer->create());
    broker.delay(testing::rpc::send_message, 20ms);
    std::atomic<bool> stop{false};
    std::atomic<int> sent{0};
    std::thread sender([&] {
      while (!stop) {
        if (!producer->send_async("more", {}, [](const danube::result<danube::message_id>&) {})) {
          break;  // refused up front (it cannot be: the callback is not empty)
        }
        ++sent;
      }
    });
    REQUIRE(danube_test::wait_until([&] { return sent > 50; }));
    const auto watched = danube_test::run_bounded(20s, [producer] { require_ok(producer->flush()); });
    stop = true;
    sender.join();
    CHECK_MESSAGE(watched.ok(), watched.describe());
  }

  TEST_CASE("flush(deadline) returns timeout while sends made before it are unfinished, ok once they are done") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    auto producer =
        require_ok(client.new_producer().topic(danube_test::unique_topic("flush-deadline")).name("p").build());
    require_ok(producer.create());
    broker.never_answer(testing::rpc::send_message);
    auto stuck = producer.send_async("not answered yet");
    REQUIRE(danube_test::wait_until([&] { return broker.held_calls() == 1; }));
    const auto timed_out = producer.flush(100ms);
    REQUIRE_FALSE(timed_out);
    CHECK(timed_out.error() == danube::errc::timeout);
    CHECK(stuck.wait_for(0ms) == std::future_status::timeout);  // the send goes on
    broker.clear_faults();
    producer.close();  // ends the held send
    REQUIRE(stuck.wait_for(5s) == std::future_status::ready);
    CHECK(producer.flush(std::chrono::steady_clock::now() + 1s).error() == danube::errc::closed);

    auto second =
        require_ok(client.new_producer().topic(danube_test::unique_topic("flush-deadline")).name("q").build());
    require_ok(second.create());
    auto sent = second.send_async("answered");
    require_ok(second.flush(5s));
    CHECK(sent.wait_for(0ms) == std::future_status::ready);
  }

  TEST_CASE("while a partition backs off, its waiting sends share one wake-up timer (not one timer per send)") {
    auto broker = danube_test::start_broker();
    danube::detail::client_settings settings;
    settings.url = require_ok(danube::detail::parse_service_url(broker.url()));
    auto core = std::make_shared<danube::detail::client_core>(settings);
    danube::producer_options options;
    options.topic = danube_test::unique_topic("one-timer");
    options.name = "p";
    auto producer = std::make_shared<danube::detail::producer_core>(
        core, options,
        [](const danube::error& /*failure*/, unsigned /*attempt*/) -> std::optional<std::chrono::milliseconds> {
          return 3s;
        });
    require_ok(producer->create());
    const auto before = core->timers().pending();  // the health check
    broker.fail_next(testing::rpc::send_message, 1, grpc::StatusCode::UNAVAILABLE);
    auto done = std::make_shared<std::atomic<int>>(0);
    const auto count = [done](const danube::result<danube::message_id>&) { ++*done; };
    producer->send(0, std::nullopt, "fails once, then backs off 3 s", {}, count);
    REQUIRE(danube_test::wait_until([&] { return broker.calls(testing::rpc::send_message) == 1; }));
    // Let the client take the failure in: the sends below then arrive during its backoff (were
    // they to arrive before, the test would pass without testing anything, never fail wrongly).
    std::this_thread::sleep_for(200ms);
    for (int i = 0; i < 500; ++i) {  // fewer than max_pending_messages: none blocks
      producer->send(0, std::nullopt, "waits behind it", {}, count);
    }
    const auto during = core->timers().pending();
    MESSAGE(during, " timers pending during the backoff (", before, " before)");
    CHECK(during <= before + 1);
    producer->close();
    CHECK(done->load() == 501);
    core->close();
  }

  TEST_CASE(
      "send_timeout bounds every send during a recovery that never succeeds, under a policy that never gives up") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    auto producer = require_ok(client.new_producer<danube::basic_producer<forever_retry, danube::route::round_robin>>()
                                   .topic(danube_test::unique_topic("recovery-timeout"))
                                   .name("p")
                                   .send_timeout(500ms)
                                   .build());
    require_ok(producer.create());
    // The broker forgets the producer; every re-creation fails, retryably, for ever.
    broker.fail_next(testing::rpc::create_producer, 1'000'000, grpc::StatusCode::UNAVAILABLE);
    broker.fail_next(testing::rpc::send_message, 1, grpc::StatusCode::NOT_FOUND, "producer not found");
    std::vector<std::future<danube::result<danube::message_id>>> sends;
    for (int i = 0; i < 20; ++i) {
      sends.push_back(producer.send_async("during recovery"));
    }
    for (auto& send : sends) {
      REQUIRE(send.wait_for(5s) == std::future_status::ready);
      const auto outcome = send.get();
      REQUIRE_FALSE(outcome);
      CHECK(outcome.error() == danube::errc::timeout);
    }
    broker.clear_faults();
  }

  TEST_CASE("send_timeout includes the time a send waited for room in a full pending queue") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    auto producer = std::make_shared<danube::producer>(require_ok(client.new_producer()
                                                                      .topic(danube_test::unique_topic("full-timeout"))
                                                                      .name("p")
                                                                      .max_pending_messages(1)
                                                                      .send_timeout(3s)
                                                                      .build()));
    require_ok(producer->create());
    broker.never_answer(testing::rpc::send_message);
    auto first = producer->send_async("holds the only slot");
    std::this_thread::sleep_for(1500ms);
    // Waits 1.5 s for the slot, then the rest of its 3 s: it must end 3 s after the call, not 4.5 s.
    auto second = std::async(std::launch::async, [producer] {
      const auto start = std::chrono::steady_clock::now();
      auto outcome = producer->send("waits for room");
      return std::make_pair(std::move(outcome), danube_test::elapsed_since(start));
    });
    REQUIRE(second.wait_for(10s) == std::future_status::ready);
    const auto [outcome, took] = second.get();
    MESSAGE("the second send ended after ", took.count(), " ms");
    REQUIRE_FALSE(outcome);
    CHECK(outcome.error() == danube::errc::timeout);
    CHECK(took < 3700ms);
    CHECK(first.get().error() == danube::errc::timeout);
    broker.clear_faults();
  }

  TEST_CASE("a consumer whose topic is gone reports a bounded number of errors and backs off per its policy") {
    auto broker = danube_test::start_broker();
    auto client = require_ok(danube::client::builder().service_url(broker.url()).health_check_interval(100ms).build());
    const auto topic = danube_test::unique_topic("gone");
    REQUIRE(broker.create_topic(topic));
    recording_retry policy;
    auto consumer = require_ok(client.new_consumer<danube::basic_consumer<recording_retry>>()
                                   .topic(topic)
                                   .consumer_name("c")
                                   .subscription("s")
                                   .retry_policy(policy)
                                   .build());
    require_ok(consumer.subscribe());
    // From now on every subscription is refused as unknown; one CLOSE makes the consumer subscribe
    // again.
    broker.fail_next(testing::rpc::subscribe, 1'000'000, grpc::StatusCode::NOT_FOUND, "topic gone");
    const auto subscribes = broker.calls(testing::rpc::subscribe);
    broker.answer_close_for_all();
    REQUIRE(danube_test::wait_until([&] { return broker.calls(testing::rpc::subscribe) > subscribes; }));
    broker.answer_close_for_all(false);
    std::this_thread::sleep_for(2500ms);  // nobody receives meanwhile
    int errors = 0;
    for (;;) {
      const auto next = consumer.try_receive();
      if (next) {
        continue;
      }
      if (next.error() == danube::errc::timeout) {
        break;
      }
      ++errors;
    }
    MESSAGE(errors, " errors queued; the policy was asked up to attempt ", policy.highest(), "; ",
            broker.calls(testing::rpc::subscribe) - subscribes, " subscriptions tried");
    CHECK(errors >= 1);            // never silent
    CHECK(errors <= 1);            // one partition: its failures coalesce
    CHECK(policy.highest() >= 3);  // consecutive failures back off further and further
    broker.clear_faults();
  }

  TEST_CASE("a send failing before it starts does not recurse per queued message (100k queued)") {
    using supplier_client = danube::basic_client<danube::auth::token_supplier, danube::tls::plaintext_insecure>;
    auto broker = danube_test::start_broker();
    auto revoked = std::make_shared<std::atomic<bool>>(false);
    auto client = require_ok(supplier_client::builder()
                                 .service_url(broker.url())
                                 .auth(danube::auth::token_supplier([revoked]() -> danube::result<std::string> {
                                   if (*revoked) {
                                     return danube::unexpected_error(danube::errc::unauthenticated, "revoked");
                                   }
                                   return std::string("token");
                                 }))
                                 .build());
    constexpr int queued = 100'000;
    auto producer = require_ok(client.new_producer()
                                   .topic(danube_test::unique_topic("no-recursion"))
                                   .name("p")
                                   .max_pending_messages(queued + 1)
                                   .send_timeout(60s)
                                   .build());
    require_ok(producer.create());
    broker.delay(testing::rpc::send_message, 1s);
    auto first = producer.send_async("first");
    // Revoked once the first send is at the broker (it has its token): every send queued behind it
    // fails to start, also one that starts before the loop below has queued them all.
    REQUIRE(danube_test::wait_until([&] { return broker.held_calls() == 1; }));
    *revoked = true;
    auto done = std::make_shared<std::atomic<int>>(0);
    auto refused = std::make_shared<std::atomic<int>>(0);
    int started = 0;
    for (int i = 0; i < queued; ++i) {
      started += producer
                     .send_async("queued", {},
                                 [done, refused](const danube::result<danube::message_id>& r) {
                                   if (!r && r.error() == danube::errc::unauthenticated) {
                                     ++*refused;
                                   }
                                   ++*done;
                                 })
                     .has_value();
    }
    REQUIRE(started == queued);  // every queued send now fails before it starts, one after the other
    REQUIRE(first.wait_for(10s) == std::future_status::ready);
    CHECK(danube_test::wait_until([&] { return done->load() == queued; }, 30s));
    CHECK(refused->load() == queued);
  }

  TEST_CASE("milliseconds::max() as a send timeout, a flush timeout or a receive timeout means a long wait, not none") {
    // now + milliseconds::max() overflows the clock: the deadline was in the past, so sends
    // failed at once with timeout and receive() returned at once.
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("forever");
    auto producer = std::make_shared<danube::producer>(require_ok(
        client.new_producer().topic(topic).name("p").send_timeout(std::chrono::milliseconds::max()).build()));
    require_ok(producer->create());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));
    require_ok(producer->send("first"));
    require_ok(producer->flush(std::chrono::milliseconds::max()));
    require_ok(consumer.receive(std::chrono::milliseconds::max()));
    auto later = std::async(std::launch::async, [producer] {
      std::this_thread::sleep_for(300ms);
      return producer->send("later");
    });
    const auto received = consumer.receive(std::chrono::milliseconds::max());
    REQUIRE_MESSAGE(received.has_value(), fmt::format("{}", received.error()));
    CHECK(received->payload_string() == "later");
    require_ok(later.get());
  }

  TEST_CASE(
      "a retry delay of milliseconds::max() from a policy waits: a send is not retried at once, until its timeout") {
    // clock::now() + milliseconds::max() overflowed into the past: the send went out again at once,
    // in a tight loop until its send timeout.
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    auto producer = require_ok(client.new_producer<danube::basic_producer<longest_retry, danube::route::round_robin>>()
                                   .topic(danube_test::unique_topic("longest-retry"))
                                   .name("p")
                                   .send_timeout(300ms)
                                   .build());
    require_ok(producer.create());
    broker.fail_next(testing::rpc::send_message, 1'000'000, grpc::StatusCode::UNAVAILABLE);
    const auto before = broker.calls(testing::rpc::send_message);
    const auto outcome = producer.send("x");
    REQUIRE_FALSE(outcome);
    CHECK(outcome.error() == danube::errc::timeout);
    CHECK(broker.calls(testing::rpc::send_message) - before == 1);
    broker.clear_faults();
  }

  TEST_CASE("a retry delay of milliseconds::max() from a policy waits: subscribe() does not spin, close() ends it") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    auto consumer = std::make_shared<danube::basic_consumer<longest_retry>>(
        require_ok(client.new_consumer<danube::basic_consumer<longest_retry>>()
                       .topic(danube_test::unique_topic("longest-retry"))
                       .consumer_name("c")
                       .subscription("s")
                       .build()));
    broker.fail_next(testing::rpc::topic_partitions, 1'000'000, grpc::StatusCode::UNAVAILABLE);
    const auto before = broker.calls(testing::rpc::topic_partitions);
    auto subscribed = std::async(std::launch::async, [consumer] { return consumer->subscribe(); });
    REQUIRE(danube_test::wait_until([&] { return broker.calls(testing::rpc::topic_partitions) > before; }));
    std::this_thread::sleep_for(200ms);  // room for the retries a wait that overflowed would make
    consumer->close();
    REQUIRE(subscribed.wait_for(10s) == std::future_status::ready);
    const auto outcome = subscribed.get();
    REQUIRE_FALSE(outcome);
    CHECK(outcome.error() == danube::errc::closed);
    CHECK(broker.calls(testing::rpc::topic_partitions) - before == 1);
    broker.clear_faults();
  }
}
