// The statistics building blocks (danube/detail/stats.hpp) and the public types' formatting
// (danube/stats.hpp): exact counts, histogram precision bounds, the redelivery record's bound.
#include <danube/detail/stats.hpp>
#include <danube/stats.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace std::chrono_literals;
using danube::detail::latency_counts;
using danube::detail::latency_histogram;
using danube::detail::recent_keys;

TEST_SUITE("stats") {
  TEST_CASE("latency buckets: exact below 16 us, each bucket's upper bound at most 12.5 percent above its values") {
    for (std::uint64_t v = 0; v < 16; ++v) {
      CHECK(latency_counts::upper_bound(latency_counts::bucket_of(v)) == v);
    }
    std::mt19937_64 random(42);
    std::size_t previous_bucket = 0;
    for (std::uint64_t v = 16; v < (std::uint64_t{1} << 36); v = v + 1 + v / 7 + random() % 5) {
      const auto bucket = latency_counts::bucket_of(v);
      REQUIRE(bucket < latency_counts::bucket_count - 1);
      CHECK(bucket >= previous_bucket);  // monotonic
      previous_bucket = bucket;
      const auto upper = latency_counts::upper_bound(bucket);
      CHECK(upper >= v);
      CHECK(static_cast<double>(upper) <= static_cast<double>(v) * 1.125);
      CHECK(latency_counts::bucket_of(upper) == bucket);
      CHECK(latency_counts::bucket_of(upper + 1) == bucket + 1);
    }
    CHECK(latency_counts::bucket_of(std::uint64_t{1} << 36) == latency_counts::bucket_count - 1);
    CHECK(latency_counts::bucket_of(UINT64_MAX) == latency_counts::bucket_count - 1);
  }

  TEST_CASE("latency histogram: p50, p99 and max of 1..1000 us, and all zero when empty") {
    latency_histogram empty;
    CHECK(empty.counts().summary() == danube::latency_stats{});

    latency_histogram h;
    for (int v = 1000; v >= 1; --v) {
      h.record(std::chrono::microseconds(v));
    }
    const auto s = h.counts().summary();
    CHECK(s.count == 1000);
    CHECK(s.max == 1000us);
    CHECK(s.p50 >= 500us);
    CHECK(s.p50 <= 563us);
    CHECK(s.p99 >= 990us);
    CHECK(s.p99 <= 1000us);  // never above max
  }

  TEST_CASE("latency histogram: negative durations count as 0, overflow values keep an exact max") {
    latency_histogram h;
    h.record(-5ms);
    h.record(std::chrono::hours(24 * 400));
    const auto counts = h.counts();
    CHECK(counts.buckets[0] == 1);
    CHECK(counts.buckets[latency_counts::bucket_count - 1] == 1);
    CHECK(counts.max == static_cast<std::uint64_t>(std::chrono::microseconds(std::chrono::hours(24 * 400)).count()));
    CHECK(counts.summary().p99.count() == static_cast<std::int64_t>(counts.max));
  }

  TEST_CASE("latency counts of two partitions add up: the total's percentiles are those of all values") {
    latency_histogram fast;
    latency_histogram slow;
    for (int i = 0; i < 99; ++i) {
      fast.record(10us);
    }
    slow.record(50ms);
    auto total = fast.counts();
    total.add(slow.counts());
    const auto s = total.summary();
    CHECK(s.count == 100);
    CHECK(s.p50 == 10us);
    CHECK(s.p99 == 10us);
    CHECK(s.max == 50ms);
  }

  TEST_CASE("counters written by four threads taking turns (the partition lock), read meanwhile: exact counts") {
    latency_histogram h;
    danube::detail::producer_counters counters;
    danube::detail::consumer_counters received;
    std::mutex partition_lock;  // what topic_producer's mu_ is to the hooks
    std::atomic<bool> done{false};
    std::thread reader([&] {
      while (!done) {
        const auto s = counters.snapshot();
        CHECK(s.messages_acked + s.messages_failed <= 40'000);
        (void)h.counts().summary();
      }
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        danube::message m;
        for (int i = 0; i < 10'000; ++i) {
          {
            std::lock_guard lock(partition_lock);
            h.record(std::chrono::microseconds(i % 100 + t));
            counters.on_queued(3);
            counters.on_done(i % 10 != 0, 3, std::chrono::microseconds(i));
          }
          received.on_received(m, static_cast<std::uint64_t>(t * 10'000 + i));    // its own lock
          received.on_ack_done(true, danube::detail::consumer_counters::ack_key(  // any thread
                                         0, 0, static_cast<std::uint64_t>(t * 10'000 + i)));
          counters.on_reconnected();  // any thread
        }
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    done = true;
    reader.join();
    CHECK(h.counts().count == 40'000);
    CHECK(h.counts().max == 102);
    CHECK(received.snapshot().messages_received == 40'000);
    CHECK(received.snapshot().messages_acked == 40'000);
    CHECK(received.snapshot().messages_redelivered == 0);
    CHECK(counters.snapshot().reconnections == 40'000);
    const auto s = counters.snapshot();
    CHECK(s.messages_sent == 40'000);
    CHECK(s.bytes_sent == 120'000);
    CHECK(s.messages_acked == 36'000);
    CHECK(s.messages_failed == 4'000);
    CHECK(s.bytes_failed == 12'000);
    CHECK(s.send_latency.count == 36'000);
  }

  TEST_CASE("producer counters: each queued message is sent once, further attempts retried, outcomes acked or failed") {
    danube::detail::producer_counters c;
    c.on_queued(100);
    c.on_retried(100);
    c.on_retried(100);
    c.on_done(true, 100, 3ms);
    c.on_queued(7);
    c.on_done(false, 7, 1s);
    c.on_reconnected();
    const auto s = c.snapshot();
    CHECK(s.messages_sent == 2);
    CHECK(s.bytes_sent == 107);
    CHECK(s.messages_retried == 2);
    CHECK(s.bytes_retried == 200);
    CHECK(s.messages_acked == 1);
    CHECK(s.bytes_acked == 100);
    CHECK(s.messages_failed == 1);
    CHECK(s.bytes_failed == 7);
    CHECK(s.reconnections == 1);
    CHECK(s.send_latency.count == 1);
    CHECK(s.send_latency.max == 3ms);
  }

  TEST_CASE("recent keys: a key seen again is reported, an erased one is not, key 0 is a key") {
    recent_keys keys(8);
    CHECK_FALSE(keys.insert(0));
    CHECK(keys.insert(0));
    CHECK_FALSE(keys.insert(42));
    CHECK(keys.insert(42));
    keys.erase(42);
    CHECK_FALSE(keys.contains(42));
    CHECK_FALSE(keys.insert(42));
    keys.erase(12345);  // never inserted: nothing happens
    CHECK(keys.contains(0));
  }

  TEST_CASE("recent keys: the oldest keys fall out at the capacity, against a model") {
    constexpr std::size_t capacity = 64;
    recent_keys keys(capacity);
    std::deque<std::uint64_t> order;  // the model: insertion order, and what is still remembered
    std::set<std::uint64_t> remembered;
    std::mt19937_64 random(7);
    for (int step = 0; step < 200'000; ++step) {
      // Few distinct keys, many collisions in the table: probing and backward-shift deletion.
      const std::uint64_t key = random() % 300;
      if (random() % 3 == 0) {
        keys.erase(key);
        remembered.erase(key);
        continue;
      }
      const bool known = remembered.contains(key);
      REQUIRE(keys.insert(key) == known);
      if (!known) {
        if (order.size() == capacity) {
          remembered.erase(order.front());
          order.pop_front();
        }
        order.push_back(key);
        remembered.insert(key);
      }
    }
    for (std::uint64_t key = 0; key < 300; ++key) {
      CHECK(keys.contains(key) == remembered.contains(key));
    }
  }

  TEST_CASE("consumer counters: a message received again after its ack failed is a redelivery") {
    // The broker did not take the ack, so it may send the message again: that is a redelivery,
    // whatever the client had asked.
    danube::detail::consumer_counters c;
    danube::message m;
    c.on_received(m, 7);
    c.on_ack_done(false, danube::detail::consumer_counters::ack_key(0, 0, 7));
    c.on_received(m, 7);
    auto s = c.snapshot();
    CHECK(s.ack_failures == 1);
    CHECK(s.messages_acked == 0);
    CHECK(s.messages_redelivered == 1);
    c.on_ack_done(true, danube::detail::consumer_counters::ack_key(0, 0, 7));
    c.on_received(m, 7);  // after an acknowledged ack: not a redelivery the client can tell
    s = c.snapshot();
    CHECK(s.messages_acked == 1);
    CHECK(s.messages_redelivered == 1);
    CHECK(s.messages_received == 3);
  }

  TEST_CASE("consumer counters: a message received again before its ack is a redelivery, after it is not") {
    danube::detail::consumer_counters c;
    danube::message m;  // producer 0, offset 0: a non-reliable message; the request id tells them apart
    c.on_received(m, 1);
    c.on_received(m, 2);
    CHECK(c.snapshot().messages_redelivered == 0);
    c.on_received(m, 1);  // the same message again
    CHECK(c.snapshot().messages_redelivered == 1);
    c.on_ack_done(true, danube::detail::consumer_counters::ack_key(0, 0, 1));  // m's ids, request id 1
    c.on_received(m, 1);  // acknowledged before: a new delivery as far as the client can tell
    c.on_nack_done(true);
    c.on_ack_done(false, danube::detail::consumer_counters::ack_key(0, 0, 99));
    c.on_resubscribed();
    c.on_stream_end();
    const auto s = c.snapshot();
    CHECK(s.messages_received == 4);
    CHECK(s.messages_redelivered == 1);
    CHECK(s.messages_acked == 1);
    CHECK(s.messages_nacked == 1);
    CHECK(s.ack_failures == 1);
    CHECK(s.resubscriptions == 1);
    CHECK(s.reconnections == 1);
  }

  TEST_CASE("stats format: one line per producer or consumer, a line per partition with {:p}") {
    danube::producer_stats p;
    p.name = "writer";
    p.topic = "/default/orders";
    p.messages_sent = 3;
    p.bytes_sent = 30;
    p.messages_acked = 3;
    p.send_latency = {3, 120us, 450us, 500us};
    auto part = p;
    part.topic = "/default/orders-part-0";
    part.name = "writer-0";
    p.partitions.push_back(part);
    const auto line = fmt::format("{}", p);
    CHECK(line.find("producer writer on /default/orders: sent 3 (30 B), acked 3") == 0);
    CHECK(line.find("latency p50 120 us, p99 450 us, max 500 us (3 acked)") != std::string::npos);
    CHECK(line.find('\n') == std::string::npos);
    const auto lines = fmt::format("{:p}", p);
    CHECK(lines.find("\n  producer writer-0 on /default/orders-part-0: sent 3") != std::string::npos);

    danube::consumer_stats c;
    c.name = "c1";
    c.subscription = "billing";
    c.topic = "/default/orders";
    c.messages_received = 5;
    c.messages_redelivered = 1;
    c.queue_depth = 2;
    CHECK(fmt::format("{}", c) ==
          "consumer c1 (billing) on /default/orders: received 5 (0 B), acked 0, nacked 0, ack failures 0, "
          "redelivered 1, resubscriptions 0, reconnections 0, queue depth 2");

    danube::client_stats all;
    CHECK(fmt::format("{}", all) == "no producers or consumers");
    all.producers.push_back(p);
    all.consumers.push_back(c);
    const auto both = fmt::format("{}", all);
    CHECK(both.find("producer writer") == 0);
    CHECK(both.find("\nconsumer c1") != std::string::npos);
    CHECK_THROWS_AS((void)fmt::format(fmt::runtime("{:x}"), p), fmt::format_error);
  }
}
