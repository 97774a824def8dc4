// The real-broker suite: the client against a running Danube broker named by DANUBE_BROKER_URL
// (e.g. http://127.0.0.1:6650, plaintext, no authentication). Without it every test case says so and
// returns, and CTest reports it as skipped (tests/real_broker/CMakeLists.txt). Topic names carry a
// random suffix, because a real broker keeps its topics from one run to the next.
#include <danube/danube.hpp>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace std::chrono_literals;

namespace {

// The broker's URL, or std::nullopt (after saying that the test is skipped).
std::optional<std::string> broker_url() {
  const char* url = std::getenv("DANUBE_BROKER_URL");  // NOLINT(concurrency-mt-unsafe): read-only
  if (url == nullptr || *url == '\0') {
    MESSAGE("DANUBE_BROKER_URL is not set: skipped (set it to a Danube broker's URL, e.g. http://127.0.0.1:6650)");
    return std::nullopt;
  }
  return std::string(url);
}

// /default/cpp-<stem>-<random>: a topic no earlier run created.
std::string fresh_topic(std::string_view stem) {
  static const std::uint64_t run =
      std::random_device{}() ^ static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  static int counter = 0;
  return fmt::format("/default/cpp-{}-{:x}-{}", stem, run, counter++);
}

template <class T>
T require_ok(danube::result<T> r) {
  REQUIRE_MESSAGE(r.has_value(), fmt::format("{}", r.error()));
  return std::move(*r);
}

void require_ok(const danube::result<void>& r) { REQUIRE_MESSAGE(r.has_value(), fmt::format("{}", r.error())); }

danube::client connect(const std::string& url) {
  return require_ok(danube::client::builder().service_url(url).build());
}

}  // namespace

TEST_SUITE("real_broker") {
  TEST_CASE("round trip: payload, attributes and producer name arrive intact") {
    const auto url = broker_url();
    if (!url) {
      return;
    }
    auto client = connect(*url);
    const auto topic = fresh_topic("round-trip");
    auto producer = require_ok(client.new_producer().topic(topic).name("cpp-writer").build());
    require_ok(producer.create());
    auto consumer = require_ok(client.new_consumer()
                                   .topic(topic)
                                   .consumer_name("cpp-reader")
                                   .subscription("cpp-sub")
                                   .subscription_type(danube::subscription_type::exclusive)
                                   .build());
    require_ok(consumer.subscribe());

    const auto id = require_ok(producer.send("hello real broker", {{"k", "v"}}));
    CHECK(id.topic == topic);
    auto m = require_ok(consumer.receive(10s));
    CHECK(m.payload_string() == "hello real broker");
    CHECK(m.attributes() == danube::attributes{{"k", "v"}});
    CHECK(m.producer_name() == "cpp-writer");
    CHECK(m.topic() == topic);
    require_ok(consumer.ack(m));
  }

  TEST_CASE("partitions: 3 partitions, round robin, one consumer receives from all of them") {
    const auto url = broker_url();
    if (!url) {
      return;
    }
    auto client = connect(*url);
    const auto topic = fresh_topic("partitioned");
    auto producer = require_ok(client.new_producer().topic(topic).name("cpp-p").partitions(3).build());
    require_ok(producer.create());
    CHECK(require_ok(client.topic_partitions(topic)) ==
          std::vector<std::string>{topic + "-part-0", topic + "-part-1", topic + "-part-2"});
    auto consumer = require_ok(client.new_consumer().topic(topic).consumer_name("cpp-c").subscription("cpp-s").build());
    require_ok(consumer.subscribe());

    std::multiset<std::string> sent_to;
    for (int i = 0; i < 6; ++i) {
      sent_to.insert(require_ok(producer.send(fmt::format("m{}", i))).topic);
    }
    std::multiset<std::string> received_from;
    for (int i = 0; i < 6; ++i) {
      auto m = require_ok(consumer.receive(10s));
      received_from.insert(m.topic());
      require_ok(consumer.ack(m));
    }
    const std::multiset<std::string> two_each{topic + "-part-0", topic + "-part-0", topic + "-part-1",
                                              topic + "-part-1", topic + "-part-2", topic + "-part-2"};
    CHECK(sent_to == two_each);
    CHECK(received_from == two_each);
  }

  TEST_CASE("Shared queue: two consumers split the messages, none twice, none lost") {
    const auto url = broker_url();
    if (!url) {
      return;
    }
    auto client = connect(*url);
    const auto topic = fresh_topic("shared");
    auto producer = require_ok(client.new_producer().topic(topic).name("cpp-p").build());
    require_ok(producer.create());
    std::vector<danube::consumer> consumers;
    for (int i = 0; i < 2; ++i) {
      consumers.push_back(require_ok(client.new_consumer()
                                         .topic(topic)
                                         .consumer_name(fmt::format("cpp-c{}", i))
                                         .subscription("cpp-queue")
                                         .subscription_type(danube::subscription_type::shared)
                                         .build()));
      require_ok(consumers.back().subscribe());
    }
    constexpr int count = 10;
    for (int i = 0; i < count; ++i) {
      require_ok(producer.send(fmt::format("m{}", i)));
    }
    std::set<std::string> seen;
    std::vector<int> per_consumer(consumers.size(), 0);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (static_cast<int>(seen.size()) < count && std::chrono::steady_clock::now() < deadline) {
      for (std::size_t i = 0; i < consumers.size(); ++i) {
        auto m = consumers[i].receive(200ms);
        if (!m) {
          continue;
        }
        CHECK(seen.insert(std::string(m->payload_string())).second);
        ++per_consumer[i];
        require_ok(consumers[i].ack(*m));
      }
    }
    CHECK(static_cast<int>(seen.size()) == count);
    for (const int n : per_consumer) {
      CHECK(n > 0);
    }
  }
}
