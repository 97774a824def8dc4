// Producer and consumer statistics against the embedded broker: exact counts after known
// workloads, with retries and redeliveries forced through fault injection, and the client's
// periodic report (its thread, reentrancy, and close while a report runs).
#include "support/test_support.hpp"
#include "support/watchdog.hpp"
#include <danube/stats.hpp>
#include <danube/testing/failure_policy.hpp>
#include <danube/testing/rpc.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/support/status_code_enum.h>

// A named namespace: the integration tests are one unity-built translation unit.
namespace stats_test {

using namespace std::chrono_literals;
using danube_test::require_ok;
namespace testing = danube::testing;

danube::retry::exponential_backoff quick_backoff() {
  danube::retry::exponential_backoff policy;
  policy.base = 5ms;
  policy.cap = 20ms;
  return policy;
}

// What a stats callback saw, and on which threads, for the test thread to check.
struct reports {
  std::mutex mu;
  std::vector<danube::client_stats> seen;
  std::vector<std::thread::id> threads;

  void add(const danube::client_stats& s) {
    std::lock_guard lock(mu);
    seen.push_back(s);
    threads.push_back(std::this_thread::get_id());
  }
  danube::client_stats last() {
    std::lock_guard lock(mu);
    return seen.empty() ? danube::client_stats{} : seen.back();
  }
};

// A broker, a client, and producer "p" and consumer "c" (subscription "s") of one new topic, the
// consumer's stream open: where most tests here start.
struct one_topic {
  testing::embedded_broker broker = danube_test::start_broker();
  danube::client client = danube_test::connect(broker);
  std::string topic;
  danube::producer producer;
  danube::consumer consumer;

  explicit one_topic(const std::string& name)
      : topic(danube_test::unique_topic(name)),
        producer(require_ok(client.new_producer().topic(topic).name("p").build())),
        consumer(require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build())) {
    require_ok(producer.create());
    require_ok(consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));
  }
};

}  // namespace stats_test

TEST_SUITE("stats") {
  using namespace stats_test;

  TEST_CASE("producer stats: exact counts after sends with two injected retries, a failure and a refusal") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("stats-producer");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").retry_policy(quick_backoff()).build());

    const auto before = producer.stats();
    CHECK(before.partitions.empty());
    CHECK(before.messages_sent == 0);
    require_ok(producer.create());

    broker.fail_next(testing::rpc::send_message, 2, grpc::StatusCode::UNAVAILABLE);
    for (int i = 0; i < 5; ++i) {
      (void)require_ok(producer.send("0123456789"));  // 10 bytes each
    }
    broker.fail_next(testing::rpc::send_message, 1, grpc::StatusCode::INVALID_ARGUMENT, "no");
    CHECK_FALSE(producer.send("abc").has_value());                                           // failed, not retried
    CHECK_FALSE(producer.send(std::string(danube::max_payload_size + 1, 'x')).has_value());  // refused

    const auto s = producer.stats();
    CHECK(s.name == "p");
    CHECK(s.topic == topic);
    CHECK(s.messages_sent == 6);
    CHECK(s.bytes_sent == 53);
    CHECK(s.messages_retried == 2);
    CHECK(s.bytes_retried == 20);
    CHECK(s.messages_acked == 5);
    CHECK(s.bytes_acked == 50);
    CHECK(s.messages_failed == 1);
    CHECK(s.bytes_failed == 3);
    CHECK(s.messages_refused == 1);
    CHECK(s.pending == 0);
    CHECK(s.in_flight == 0);
    CHECK(s.send_latency.count == 5);
    CHECK(s.send_latency.max > 0us);
    CHECK(s.send_latency.p50 <= s.send_latency.p99);
    CHECK(s.send_latency.p99 <= s.send_latency.max);
    REQUIRE(s.partitions.size() == 1);
    const auto& only = s.partitions[0];
    CHECK(only.topic == topic);
    CHECK(only.messages_sent == 6);
    CHECK(only.messages_retried == 2);
    CHECK(only.messages_refused == 0);  // refusals are the producer's, not a partition's
    CHECK(only.send_latency == s.send_latency);
    CHECK(broker.calls(testing::rpc::send_message) == 8);  // 6 messages, 2 retries
  }

  TEST_CASE("producer stats: sends that time out in the queue count as sent and failed, never lost from the sum") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    auto producer = require_ok(client.new_producer()
                                   .topic(danube_test::unique_topic("stats-expired"))
                                   .name("p")
                                   .max_in_flight(1)
                                   .send_timeout(2s)
                                   .build());
    require_ok(producer.create());
    broker.never_answer(testing::rpc::send_message);
    std::vector<std::future<danube::result<danube::message_id>>> sends;
    for (int i = 0; i < 3; ++i) {
      sends.push_back(producer.send_async("abcd"));  // the first on the wire, two behind it in the queue
    }
    REQUIRE(danube_test::wait_until([&] { return broker.held_calls() >= 1; }));
    const auto during = producer.stats();
    CHECK(during.messages_sent == 3);
    CHECK(during.pending == 3);
    CHECK(during.in_flight == 1);
    for (auto& f : sends) {
      const auto r = f.get();
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error() == danube::errc::timeout);
    }
    broker.never_answer(testing::rpc::send_message, false);
    const auto s = producer.stats();
    CHECK(s.messages_sent == 3);
    CHECK(s.bytes_sent == 12);
    CHECK(s.messages_failed == 3);
    CHECK(s.bytes_failed == 12);
    CHECK(s.messages_acked == 0);
    CHECK(s.messages_retried == 0);
    CHECK(s.pending == 0);
    CHECK(s.in_flight == 0);
    CHECK(s.messages_sent == s.messages_acked + s.messages_failed + s.pending);
    CHECK(s.send_latency.count == 0);
  }

  TEST_CASE("producer stats: every snapshot taken while sends flow has sent == acked + failed + pending") {
    // A reader polls while 2 partitions complete sends 64 at a time: each snapshot must add up,
    // per partition and in total, not only once the sends have settled.
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    auto producer = require_ok(client.new_producer()
                                   .topic(danube_test::unique_topic("stats-flowing"))
                                   .name("p")
                                   .partitions(2)
                                   .max_in_flight(64)
                                   .build());
    require_ok(producer.create());
    constexpr int sends = 4000;
    std::atomic<int> completed{0};
    std::atomic<bool> stop{false};
    std::atomic<int> snapshots{0};
    std::atomic<int> wrong{0};
    std::thread reader([&] {
      const auto adds_up = [](const danube::producer_stats& s) {
        return s.messages_sent == s.messages_acked + s.messages_failed + s.pending && s.in_flight <= s.pending;
      };
      while (!stop.load()) {
        const auto s = producer.stats();
        ++snapshots;
        bool ok = adds_up(s);
        for (const auto& partition : s.partitions) {
          ok = ok && adds_up(partition);
        }
        if (!ok) {
          ++wrong;
        }
      }
    });
    for (int i = 0; i < sends; ++i) {
      require_ok(producer.send_async("x", {}, [&](const danube::result<danube::message_id>&) { ++completed; }));
    }
    REQUIRE(danube_test::wait_until([&] { return completed.load() == sends; }, 60s));
    stop = true;
    reader.join();
    CHECK(snapshots.load() > 0);
    CHECK(wrong.load() == 0);
    const auto s = producer.stats();
    CHECK(s.messages_sent == sends);
    CHECK(s.messages_acked == sends);
    CHECK(s.pending == 0);
  }

  TEST_CASE("producer stats: three partitions, round robin, summed and per partition") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("stats-partitions");
    auto producer = require_ok(client.new_producer().topic(topic).name("pp").partitions(3).build());
    require_ok(producer.create());
    for (int i = 0; i < 9; ++i) {
      (void)require_ok(producer.send("xy"));
    }
    const auto s = producer.stats();
    CHECK(s.messages_sent == 9);
    CHECK(s.messages_acked == 9);
    CHECK(s.bytes_acked == 18);
    CHECK(s.send_latency.count == 9);
    REQUIRE(s.partitions.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(s.partitions[i].topic == fmt::format("{}-part-{}", topic, i));
      CHECK(s.partitions[i].name == fmt::format("pp-{}", i));
      CHECK(s.partitions[i].messages_acked == 3);
      CHECK(s.partitions[i].send_latency.count == 3);
    }
    const auto text = fmt::format("{:p}", s);
    CHECK(text.find(fmt::format("\n  producer pp-2 on {}-part-2: sent 3 (6 B), acked 3 (6 B)", topic)) !=
          std::string::npos);
  }

  TEST_CASE("consumer stats: a nack is redelivered once and counted, acks and bytes exact") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("stats-redelivery");
    require_ok(broker.create_topic(topic, danube::dispatch_strategy::reliable));
    testing::failure_policy policy;
    policy.max_redelivery_count = 3;
    policy.base_redelivery_delay_ms = 20;
    policy.backoff_strategy = testing::backoff::fixed;
    require_ok(broker.set_failure_policy(topic, "sub", policy));

    auto consumer = require_ok(client.new_consumer()
                                   .topic(topic)
                                   .consumer_name("c")
                                   .subscription("sub")
                                   .subscription_type(danube::subscription_type::exclusive)
                                   .build());
    require_ok(consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));
    auto producer =
        require_ok(client.new_producer().topic(topic).name("p").dispatch(danube::dispatch_strategy::reliable).build());
    require_ok(producer.create());
    for (const char* payload : {"one", "two", "three"}) {
      (void)require_ok(producer.send(payload));
    }

    // "one" is nacked the first time and acknowledged when the broker sends it again (after 20 ms).
    std::set<std::string> acked;
    bool nacked = false;
    int receives = 0;
    while (acked.size() < 3 && receives < 10) {
      auto m = require_ok(consumer.receive(10s));
      ++receives;
      if (m.payload_string() == "one" && !nacked) {
        require_ok(consumer.nack(m));
        nacked = true;
        continue;
      }
      acked.emplace(m.payload_string());
      require_ok(consumer.ack(m));
    }
    CHECK(receives == 4);
    CHECK(acked == std::set<std::string>{"one", "two", "three"});

    const auto s = consumer.stats();
    CHECK(s.name == "c");
    CHECK(s.subscription == "sub");
    CHECK(s.topic == topic);
    CHECK(s.messages_received == 4);
    CHECK(s.bytes_received == 14);
    CHECK(s.messages_redelivered == 1);
    CHECK(s.messages_nacked == 1);
    CHECK(s.messages_acked == 3);
    CHECK(s.ack_failures == 0);
    CHECK(s.queue_depth == 0);
    CHECK(s.resubscriptions == 0);
    CHECK(s.reconnections == 0);
    REQUIRE(s.partitions.size() == 1);
    CHECK(s.partitions[0].messages_redelivered == 1);
  }

  TEST_CASE("consumer stats: an injected Ack failure counts in ack_failures, the ack tried again in acked") {
    one_topic f("stats-ack-failure");
    auto& [broker, client, topic, producer, consumer] = f;
    (void)require_ok(producer.send("ab"));
    (void)require_ok(producer.send("cd"));
    const auto first = require_ok(consumer.receive(10s));
    const auto second = require_ok(consumer.receive(10s));
    broker.fail_next(testing::rpc::ack, 1, grpc::StatusCode::UNAVAILABLE);
    broker.fail_next(testing::rpc::nack, 1, grpc::StatusCode::UNAVAILABLE);
    CHECK_FALSE(consumer.ack(first).has_value());
    CHECK_FALSE(consumer.nack(second).has_value());
    require_ok(consumer.ack(first));
    const auto s = consumer.stats();
    CHECK(s.messages_received == 2);
    CHECK(s.bytes_received == 4);
    CHECK(s.ack_failures == 2);
    CHECK(s.messages_acked == 1);
    CHECK(s.messages_nacked == 0);
    CHECK(s.messages_redelivered == 0);
    CHECK(broker.calls(testing::rpc::ack) == 2);
  }

  TEST_CASE("consumer stats: an ack of a span of N counts N acks, its injected failures count as ack failures") {
    // Three partitions and more messages than ack_batch's window (64): the batch's calls go to
    // every partition, several rounds of the window. Each message of the span is one Ack call,
    // counted once on its partition, whichever of them the broker fails.
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("stats-batch-ack");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").partitions(3).build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer()
                                   .topic(topic)
                                   .consumer_name("c")
                                   .subscription("s")
                                   .subscription_type(danube::subscription_type::exclusive)
                                   .build());
    require_ok(consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] {
      std::size_t streaming = 0;
      for (int i = 0; i < 3; ++i) {
        streaming += broker.streaming_consumers(fmt::format("{}-part-{}", topic, i));
      }
      return streaming == 3;
    }));
    constexpr std::size_t count = 150;  // 50 per partition (round robin)
    for (std::size_t i = 0; i < count; ++i) {
      (void)require_ok(producer.send("ab"));
    }
    std::vector<danube::message> received;
    while (received.size() < count) {
      auto batch = require_ok(consumer.receive_batch(count, 10s));
      REQUIRE(!batch.empty());
      for (auto& m : batch) {
        received.push_back(std::move(m));
      }
    }
    REQUIRE(received.size() == count);

    const std::span<const danube::message> first_half(received.data(), 100);
    require_ok(consumer.ack(first_half));
    auto s = consumer.stats();
    CHECK(s.messages_received == count);
    CHECK(s.messages_acked == 100);
    CHECK(s.ack_failures == 0);
    CHECK(broker.calls(testing::rpc::ack) == 100);

    broker.fail_next(testing::rpc::ack, 7, grpc::StatusCode::UNAVAILABLE);
    const std::span<const danube::message> second_half(received.data() + 100, count - 100);
    const auto failed = consumer.ack(second_half);
    REQUIRE_FALSE(failed.has_value());
    CHECK(failed.error().retryable());
    s = consumer.stats();
    CHECK(s.messages_acked == count - 7);
    CHECK(s.ack_failures == 7);
    CHECK(s.messages_nacked == 0);
    CHECK(s.messages_redelivered == 0);
    CHECK(broker.calls(testing::rpc::ack) == count);
    REQUIRE(s.partitions.size() == 3);
    std::uint64_t acked = 0;
    std::uint64_t failures = 0;
    for (const auto& partition : s.partitions) {
      CHECK(partition.messages_received == count / 3);
      CHECK(partition.messages_acked + partition.ack_failures == count / 3);
      acked += partition.messages_acked;
      failures += partition.ack_failures;
    }
    CHECK(acked == count - 7);
    CHECK(failures == 7);
  }

  TEST_CASE("consumer stats: a broker restart counts a reconnection and a resubscription, and the queue depth") {
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("stats-restart");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer()
                                   .topic(topic)
                                   .consumer_name("c")
                                   .subscription("sub")
                                   .retry_policy(quick_backoff())
                                   .build());
    require_ok(consumer.subscribe());
    REQUIRE(danube_test::wait_until([&] { return broker.streaming_consumers(topic) == 1; }));
    (void)require_ok(producer.send("before"));
    REQUIRE(danube_test::wait_until([&] { return consumer.stats().queue_depth == 1; }));

    require_ok(broker.restart());
    REQUIRE(danube_test::wait_until([&] { return consumer.stats().resubscriptions >= 1; }, 10s));
    const auto s = consumer.stats();
    CHECK(s.reconnections >= 1);
    CHECK(s.messages_received == 1);
    CHECK(s.queue_depth == 1);
    CHECK(require_ok(consumer.receive(1s)).payload_string() == "before");
    CHECK(consumer.stats().queue_depth == 0);
  }

  TEST_CASE("producer and consumer stats survive close(): what was done stays counted") {
    one_topic f("stats-after-close");
    auto& [broker, client, topic, producer, consumer] = f;
    (void)require_ok(producer.send("abc"));
    require_ok(consumer.ack(require_ok(consumer.receive(10s))));
    producer.close();
    consumer.close();
    const auto p = producer.stats();
    CHECK(p.messages_acked == 1);
    CHECK(p.partitions.size() == 1);
    const auto c = consumer.stats();
    CHECK(c.messages_received == 1);
    CHECK(c.messages_acked == 1);
    CHECK(c.partitions.size() == 1);
    client.close();
    CHECK(consumer.stats().messages_received == 1);
  }

  TEST_CASE("stats after a move: the new handle keeps the counts, the moved-from one reports zeros") {
    one_topic f("stats-move");
    auto& [broker, client, topic, producer, consumer] = f;
    (void)require_ok(producer.send("abc"));
    require_ok(consumer.ack(require_ok(consumer.receive(10s))));

    auto moved_producer = std::move(producer);
    auto moved_consumer = std::move(consumer);
    CHECK(moved_producer.stats().messages_acked == 1);
    CHECK(moved_consumer.stats().messages_acked == 1);
    CHECK(producer.stats() == danube::producer_stats{});  // NOLINT(bugprone-use-after-move): what we test
    CHECK(consumer.stats() == danube::consumer_stats{});  // NOLINT(bugprone-use-after-move)
    CHECK(fmt::format("{:p}", producer.stats()) ==
          "producer  on : sent 0 (0 B), acked 0 (0 B), failed 0 (0 B), "
          "retried 0 (0 B), refused 0, reconnections 0, pending 0, in "
          "flight 0, latency p50 0 us, p99 0 us, max 0 us (0 acked)");
  }

  TEST_CASE("stats_interval: reports every producer and consumer, on one client thread") {
    auto broker = danube_test::start_broker();
    auto seen = std::make_shared<reports>();
    auto client = require_ok(danube::client::builder()
                                 .service_url(broker.url())
                                 .stats_interval(20ms, [seen](const danube::client_stats& s) { seen->add(s); })
                                 .build());
    const auto topic = danube_test::unique_topic("stats-interval");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").build());
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("c").subscription("s").build());
    require_ok(producer.create());
    require_ok(consumer.subscribe());
    for (int i = 0; i < 3; ++i) {
      (void)require_ok(producer.send("abc"));
    }
    REQUIRE(danube_test::wait_until([&] {
      const auto last = seen->last();
      return last.producers.size() == 1 && last.producers[0].messages_acked == 3 && last.consumers.size() == 1 &&
             last.consumers[0].messages_received == 3;
    }));
    CHECK(fmt::format("{}", seen->last()).find("producer p on " + topic + ": sent 3 (9 B), acked 3 (9 B)") == 0);
    std::lock_guard lock(seen->mu);
    for (const auto id : seen->threads) {
      CHECK(id == seen->threads.front());
      CHECK(id != std::this_thread::get_id());
    }
  }

  TEST_CASE("stats_interval: the callback may make blocking calls that need the scheduler, and close the client") {
    auto broker = danube_test::start_broker();
    struct shared {
      std::mutex mu;
      danube::producer* producer = nullptr;
      danube::client* client = nullptr;
      std::atomic<int> calls{0};
      std::atomic<bool> sent{false};
      std::atomic<bool> closed{false};
    };
    auto state = std::make_shared<shared>();
    auto client = require_ok(danube::client::builder()
                                 .service_url(broker.url())
                                 .stats_interval(10ms,
                                                 [state](const danube::client_stats&) {
                                                   state->calls.fetch_add(1);
                                                   std::lock_guard lock(state->mu);
                                                   if (state->producer != nullptr && !state->sent) {
                                                     // A retried send waits for a backoff timer on the
                                                     // scheduler: this must not be that thread.
                                                     state->sent =
                                                         state->producer->send("from the callback").has_value();
                                                     (void)state->producer->stats();
                                                     return;
                                                   }
                                                   if (state->sent && state->client != nullptr && !state->closed) {
                                                     state->client->close();
                                                     state->closed = true;
                                                   }
                                                 })
                                 .build());
    const auto topic = danube_test::unique_topic("stats-reentrant");
    auto producer = require_ok(client.new_producer().topic(topic).name("p").retry_policy(quick_backoff()).build());
    require_ok(producer.create());
    broker.fail_next(testing::rpc::send_message, 2, grpc::StatusCode::UNAVAILABLE);
    {
      std::lock_guard lock(state->mu);
      state->producer = &producer;
      state->client = &client;
    }
    REQUIRE(danube_test::wait_until([&] { return state->closed.load(); }, 10s));
    CHECK(state->sent);
    CHECK(producer.stats().messages_retried == 2);
    const auto calls = state->calls.load();
    std::this_thread::sleep_for(100ms);  // ten intervals: no report after close()
    CHECK(state->calls.load() == calls);
    const auto after = producer.send("after");
    REQUIRE_FALSE(after.has_value());
    CHECK(after.error() == danube::errc::closed);
    std::lock_guard lock(state->mu);
    state->producer = nullptr;
    state->client = nullptr;
  }

  TEST_CASE("stats_interval: close() while a report runs waits for it, and no report starts after close returns") {
    auto broker = danube_test::start_broker();
    auto entered = std::make_shared<std::atomic<int>>(0);
    auto release = std::make_shared<std::atomic<bool>>(false);
    auto client = require_ok(danube::client::builder()
                                 .service_url(broker.url())
                                 .stats_interval(10ms,
                                                 [entered, release](const danube::client_stats&) {
                                                   entered->fetch_add(1);
                                                   const auto bound = std::chrono::steady_clock::now() + 5s;
                                                   while (!*release && std::chrono::steady_clock::now() < bound) {
                                                     std::this_thread::sleep_for(1ms);
                                                   }
                                                 })
                                 .build());
    auto producer = require_ok(client.new_producer().topic(danube_test::unique_topic("stats-close")).name("p").build());
    require_ok(producer.create());
    REQUIRE(danube_test::wait_until([&] { return entered->load() == 1; }));
    std::thread releaser([release] {
      std::this_thread::sleep_for(100ms);
      *release = true;
    });
    auto shared_client = std::make_shared<danube::client>(std::move(client));
    const auto closed = danube_test::run_bounded(10s, [shared_client] { shared_client->close(); });
    CHECK_MESSAGE(closed.ok(), closed.describe());
    // close() returned only once the report in progress had finished: no user code of this client
    // runs after close().
    CHECK(release->load());
    releaser.join();
    std::this_thread::sleep_for(50ms);
    CHECK(entered->load() == 1);
  }

  TEST_CASE("stats_interval: a zero, negative or absurdly long interval is an error from build()") {
    // milliseconds::max() would overflow the scheduler's time arithmetic into a report loop.
    for (const auto interval : {0ms, -5ms, std::chrono::milliseconds::max(), std::chrono::milliseconds(24h + 1ms)}) {
      CAPTURE(interval.count());
      auto client = danube::client::builder()
                        .service_url("http://127.0.0.1:6650")
                        .stats_interval(interval, [](const danube::client_stats&) {})
                        .build();
      REQUIRE_FALSE(client.has_value());
      CHECK(client.error() == danube::errc::invalid_argument);
    }
    CHECK(danube::client::builder()
              .service_url("http://127.0.0.1:6650")
              .stats_interval(24h, [](const danube::client_stats&) {})
              .build()
              .has_value());
  }
  TEST_CASE("stats_interval: the callback closes the client while another thread is closing it, and neither waits") {
    // The other thread's close() waits for the listener thread (the report in progress); a close()
    // from the report must then not wait for that close() to finish.
    auto broker = danube_test::start_broker();
    struct shared {
      std::mutex mu;
      std::shared_ptr<danube::client> client;
      std::atomic<bool> entered{false};
      std::atomic<bool> closing{false};
      std::atomic<bool> inner_returned{false};
    };
    auto state = std::make_shared<shared>();
    auto built = require_ok(danube::client::builder()
                                .service_url(broker.url())
                                .stats_interval(10ms,
                                                [state](const danube::client_stats&) {
                                                  if (state->entered.exchange(true)) {
                                                    return;
                                                  }
                                                  const auto bound = std::chrono::steady_clock::now() + 5s;
                                                  while (!state->closing && std::chrono::steady_clock::now() < bound) {
                                                    std::this_thread::sleep_for(1ms);
                                                  }
                                                  // Let the other close() reach the listener thread.
                                                  std::this_thread::sleep_for(100ms);
                                                  std::shared_ptr<danube::client> client;
                                                  {
                                                    std::lock_guard lock(state->mu);
                                                    client = state->client;
                                                  }
                                                  if (client) {
                                                    client->close();
                                                  }
                                                  state->inner_returned = true;
                                                })
                                .build());
    {
      std::lock_guard lock(state->mu);
      state->client = std::make_shared<danube::client>(std::move(built));
    }
    auto producer =
        require_ok(state->client->new_producer().topic(danube_test::unique_topic("stats-close2")).name("p").build());
    require_ok(producer.create());
    REQUIRE(danube_test::wait_until([&] { return state->entered.load(); }));
    state->closing = true;
    const auto closed = danube_test::run_bounded(10s, [state] {
      std::shared_ptr<danube::client> client;
      {
        std::lock_guard lock(state->mu);
        client = state->client;
      }
      client->close();
    });
    CHECK_MESSAGE(closed.ok(), closed.describe());
    CHECK(state->inner_returned.load());
    if (closed.ok()) {
      std::lock_guard lock(state->mu);
      state->client.reset();  // the client's callback holds `state`: break the cycle
    }
  }

  TEST_CASE("stats_interval: close() stops the reports at once, whatever the interval") {
    auto broker = danube_test::start_broker();
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto client = std::make_shared<danube::client>(
        require_ok(danube::client::builder()
                       .service_url(broker.url())
                       .stats_interval(danube::max_stats_interval, [calls](const danube::client_stats&) { ++*calls; })
                       .build()));
    auto producer = require_ok(client->new_producer().topic(danube_test::unique_topic("stats-stop")).name("p").build());
    require_ok(producer.create());  // the report is scheduled from here, 24 h away
    const auto closed = danube_test::run_bounded(5s, [client] { client->close(); });
    CHECK_MESSAGE(closed.ok(), closed.describe());
    CHECK(calls->load() == 0);
  }

  TEST_CASE("stats_interval: an empty callback is an error from build()") {
    auto client = danube::client::builder()
                      .service_url("http://127.0.0.1:6650")
                      .stats_interval(10s, std::function<void(const danube::client_stats&)>{})
                      .build();
    REQUIRE_FALSE(client.has_value());
    CHECK(client.error() == danube::errc::invalid_argument);
    CHECK(client.error().message().find("stats_interval") != std::string::npos);
  }
}
