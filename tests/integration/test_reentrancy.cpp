// Reentrancy: from inside every kind of callback the library runs (send completion, message
// listener, error listener, ack completion, token supplier, logger sink), every public call either
// works or returns an error, and none deadlocks. One table: callback kind x call; each cell runs
// against its own broker, client, producer and consumer, under a watchdog, so a deadlock fails the
// cell by name instead of hanging the process. docs/reliability.md lists the rules these cells
// assert.
#include "support/test_support.hpp"
#include "support/watchdog.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace reentrancy_test {

using namespace std::chrono_literals;
using danube_test::require_ok;
namespace testing = danube::testing;

using supplier_client = danube::basic_client<danube::auth::token_supplier, danube::tls::plaintext_insecure>;

enum class callback_kind { send_completion, message_listener, error_listener, ack_completion, token_supplier, logger };

[[nodiscard]] std::string_view name_of(callback_kind kind) {
  switch (kind) {
    case callback_kind::send_completion: return "send completion";
    case callback_kind::message_listener: return "message listener";
    case callback_kind::error_listener: return "error listener";
    case callback_kind::ack_completion: return "ack completion";
    case callback_kind::token_supplier: return "token supplier";
    case callback_kind::logger: return "logger sink";
  }
  return "?";
}

// The listeners run on the client's listener thread, where blocking is allowed; every other
// callback must not block, so the blocking calls refuse to run inside it (docs/reliability.md).
[[nodiscard]] bool may_block(callback_kind kind) {
  return kind == callback_kind::message_listener || kind == callback_kind::error_listener;
}

[[nodiscard]] std::string outcome_of(const danube::result<void>& r) {
  return r ? "ok" : std::string(danube::to_string(r.error().code()));
}
template <class T>
[[nodiscard]] std::string outcome_of(const danube::result<T>& r) {
  return r ? "ok" : std::string(danube::to_string(r.error().code()));
}

// One cell's objects. The callbacks reach it through a weak_ptr; the cell's body owns it.
struct world : std::enable_shared_from_this<world> {
  std::optional<testing::embedded_broker> broker;
  std::optional<supplier_client> client;
  std::optional<danube::producer> producer;
  std::optional<danube::consumer> consumer;
  std::string topic;

  std::mutex mu;
  std::condition_variable changed;
  std::optional<danube::message> received;  // the first message, for the ack calls
  std::optional<callback_kind> armed_kind;
  std::function<std::string(world&)> armed_call;
  std::optional<std::string> outcome;  // what the armed call returned, once it ran

  // Called by every callback of kind `kind`: the first one after arm() runs the cell's call.
  void callback(callback_kind kind) {
    std::function<std::string(world&)> call;
    {
      std::lock_guard lock(mu);
      if (armed_kind != kind || !armed_call) {
        return;
      }
      call = std::exchange(armed_call, nullptr);
    }
    auto result = call(*this);
    {
      std::lock_guard lock(mu);
      outcome = std::move(result);
    }
    changed.notify_all();
  }

  void on_message(danube::message m) {
    {
      std::lock_guard lock(mu);
      if (!received) {
        received = std::move(m);
        changed.notify_all();
        return;
      }
    }
    callback(callback_kind::message_listener);
  }

  void arm(callback_kind kind, std::function<std::string(world&)> call) {
    std::lock_guard lock(mu);
    armed_kind = kind;
    armed_call = std::move(call);
  }

  template <class Condition>
  bool wait_for(Condition condition, std::chrono::milliseconds bound) {
    std::unique_lock lock(mu);
    return changed.wait_for(lock, bound, [&] { return condition(); });
  }
};

// Broker, client (whose token supplier and logger report to the world), a created producer and a
// subscribed consumer, and one message received (by the listener for the listener kinds).
std::shared_ptr<world> make_world(callback_kind kind) {
  auto w = std::make_shared<world>();
  w->broker = danube_test::start_broker();
  const std::weak_ptr<world> weak = w;
  w->client = require_ok(supplier_client::builder()
                             .service_url(w->broker->url())
                             .connect_timeout(2s)
                             .call_timeout(2s)
                             .health_check_interval(100ms)
                             .auth(danube::auth::token_supplier([weak] {
                               if (const auto self = weak.lock()) {
                                 self->callback(callback_kind::token_supplier);
                               }
                               return std::string("any-token");
                             }))
                             .logger([weak](danube::log_level /*level*/, std::string_view /*line*/) {
                               if (const auto self = weak.lock()) {
                                 self->callback(callback_kind::logger);
                               }
                             })
                             .build());
  w->topic = danube_test::unique_topic("reentrancy");
  w->producer = require_ok(w->client->new_producer().topic(w->topic).name("p").build());
  require_ok(w->producer->create());
  w->consumer = require_ok(w->client->new_consumer().topic(w->topic).consumer_name("c").subscription("s").build());
  require_ok(w->consumer->subscribe());
  REQUIRE(danube_test::wait_until([&] { return w->broker->streaming_consumers(w->topic) == 1; }));
  if (may_block(kind)) {
    require_ok(w->consumer->on_message(
        [weak](danube::message m) {
          if (const auto self = weak.lock()) {
            self->on_message(std::move(m));
          }
        },
        [weak](const danube::error& /*failure*/) {
          if (const auto self = weak.lock()) {
            self->callback(callback_kind::error_listener);
          }
        }));
  }
  require_ok(w->producer->send("setup"));
  if (may_block(kind)) {
    REQUIRE(w->wait_for([&] { return w->received.has_value(); }, 5s));
  } else {
    w->received = require_ok(w->consumer->receive(5s));
  }
  return w;
}

// Makes one callback of `kind` happen.
void trigger(world& w, callback_kind kind) {
  switch (kind) {
    case callback_kind::send_completion:
      require_ok(w.producer->send_async("trigger", {},
                                        [self = w.shared_from_this()](const danube::result<danube::message_id>&) {
                                          self->callback(callback_kind::send_completion);
                                        }));
      return;
    case callback_kind::message_listener: (void)w.producer->send_async("trigger"); return;
    case callback_kind::error_listener:
      // The consumer is told to re-subscribe (health check CLOSE) and the re-subscription is refused.
      w.broker->fail_next(testing::rpc::subscribe, 1, grpc::StatusCode::PERMISSION_DENIED);
      w.broker->answer_close_for_all();
      return;
    case callback_kind::ack_completion:
      require_ok(w.consumer->ack_async(*w.received, [self = w.shared_from_this()](const danube::result<void>&) {
        self->callback(callback_kind::ack_completion);
      }));
      return;
    case callback_kind::token_supplier: (void)w.producer->send_async("trigger"); return;
    case callback_kind::logger: w.broker->answer_close_for_all(); return;
  }
}

struct call {
  std::string_view name;
  std::function<std::string(world&)> run;
  // The outcome inside a callback that must not block / inside a listener; std::nullopt: any.
  std::optional<std::string> must_not_block;
  std::optional<std::string> listener;
};

const std::vector<call>& calls() {
  static const std::vector<call> table{
      {"producer.send()", [](world& w) { return outcome_of(w.producer->send("inside")); }, "failed_precondition", "ok"},
      {"producer.send_async()",
       [](world& w) {
         return outcome_of(w.producer->send_async("inside", {}, [](const danube::result<danube::message_id>&) {}));
       },
       "ok", "ok"},
      {"producer.flush()", [](world& w) { return outcome_of(w.producer->flush()); }, "failed_precondition", "ok"},
      {"producer.close()",
       [](world& w) {
         w.producer->close();
         return std::string("ok");
       },
       "ok", "ok"},
      {"destroying the producer",
       [](world& w) {
         w.producer.reset();
         return std::string("ok");
       },
       "ok", "ok"},
      {"consumer.ack()", [](world& w) { return outcome_of(w.consumer->ack(*w.received)); }, "failed_precondition",
       std::nullopt},
      {"consumer.ack_async()",
       [](world& w) { return outcome_of(w.consumer->ack_async(*w.received, [](const danube::result<void>&) {})); },
       "ok", "ok"},
      {"consumer.receive()", [](world& w) { return outcome_of(w.consumer->receive(50ms)); }, "failed_precondition",
       "failed_precondition"},
      {"consumer.close()",
       [](world& w) {
         w.consumer->close();
         return std::string("ok");
       },
       "ok", "ok"},
      {"destroying the consumer",
       [](world& w) {
         w.consumer.reset();
         return std::string("ok");
       },
       "ok", "ok"},
      {"client.close()",
       [](world& w) {
         w.client->close();
         return std::string("ok");
       },
       "ok", "ok"},
      {"destroying the client",
       [](world& w) {
         w.client.reset();
         return std::string("ok");
       },
       "ok", "ok"},
      {"destroying the client, producer and consumer (the last references)",
       [](world& w) {
         w.producer.reset();
         w.consumer.reset();
         w.client.reset();
         return std::string("ok");
       },
       "ok", "ok"},
  };
  return table;
}

// One cell: the call inside the first callback of `kind`, then everything torn down. The whole
// cell is bounded; so is the wait for the callback.
void run_cell(callback_kind kind, const call& c) {
  CAPTURE(name_of(kind));
  CAPTURE(c.name);
  auto outcome = std::make_shared<std::optional<std::string>>();
  auto setup_failed = std::make_shared<std::atomic<bool>>(false);
  const auto watched = danube_test::run_bounded(20s, [kind, run = c.run, outcome, setup_failed] {
    std::shared_ptr<world> w;
    try {
      w = make_world(kind);
    } catch (...) {
      *setup_failed = true;
      throw;
    }
    w->arm(kind, run);
    trigger(*w, kind);
    if (w->wait_for([&] { return w->outcome.has_value(); }, 10s)) {
      *outcome = *w->outcome;
    }
    if (w->broker) {
      w->broker->answer_close_for_all(false);
    }
    w->producer.reset();
    w->consumer.reset();
    w->client.reset();
    w->broker.reset();
  });
  REQUIRE_FALSE(setup_failed->load());
  CHECK_MESSAGE(watched.ok(), watched.describe());
  if (!watched.returned) {
    return;  // the cell's thread is stuck: its outcome cannot be read safely
  }
  REQUIRE_MESSAGE(outcome->has_value(), "the callback never ran the call");
  const auto& expected = may_block(kind) ? c.listener : c.must_not_block;
  if (expected) {
    CHECK(**outcome == *expected);
  } else {
    MESSAGE("outcome: ", **outcome);
  }
}

void run_row(callback_kind kind) {
  for (const auto& c : calls()) {
    run_cell(kind, c);
  }
}

}  // namespace reentrancy_test

TEST_SUITE("reentrancy") {
  using namespace reentrancy_test;

  TEST_CASE("inside a send completion every public call works or fails, none deadlocks") {
    run_row(callback_kind::send_completion);
  }
  TEST_CASE("inside a message listener every public call works or fails, none deadlocks") {
    run_row(callback_kind::message_listener);
  }
  TEST_CASE("inside an error listener every public call works or fails, none deadlocks") {
    run_row(callback_kind::error_listener);
  }
  TEST_CASE("inside an ack completion every public call works or fails, none deadlocks") {
    run_row(callback_kind::ack_completion);
  }
  TEST_CASE("inside the token supplier every public call works or fails, none deadlocks") {
    run_row(callback_kind::token_supplier);
  }
  TEST_CASE("inside the logger sink every public call works or fails, none deadlocks") {
    run_row(callback_kind::logger);
  }

  TEST_CASE("a send completion that fails at once (producer closed, not created) runs with no library lock held") {
    // The closed and not-created paths completed the send under the producer's mutex: a
    // completion that sends again re-entered it.
    auto broker = danube_test::start_broker();
    auto client = danube_test::connect(broker);
    const auto topic = danube_test::unique_topic("reentrancy-inline");
    for (const bool created : {false, true}) {
      CAPTURE(created);
      auto producer =
          std::make_shared<danube::producer>(require_ok(client.new_producer().topic(topic).name("p").build()));
      if (created) {
        require_ok(producer->create());
        producer->close();
      }
      auto inner = std::make_shared<std::optional<std::string>>();
      const auto watched = danube_test::run_bounded(5s, [producer, inner] {
        require_ok(producer->send_async("outer", {}, [producer, inner](const danube::result<danube::message_id>&) {
          const auto started = producer->send_async(
              "inner", {}, [inner](const danube::result<danube::message_id>& r) { *inner = outcome_of(r); });
          if (!started) {
            *inner = "refused: " + outcome_of(started);
          }
        }));
      });
      CHECK_MESSAGE(watched.ok(), watched.describe());
      if (watched.returned) {
        CHECK(inner->value_or("none") == (created ? "closed" : "failed_precondition"));
      }
    }
  }
}
