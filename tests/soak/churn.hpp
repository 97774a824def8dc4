// Objects created and closed concurrently with everything else:
//   * the churner closes long-lived clients, producers and consumers from another thread while
//     they are in use, and flushes producers that are sending;
//   * the ephemeral thread makes short-lived clients, producers and consumers and ends them every
//     way a user might (close in either order, destructors only, a client closed while create()
//     or subscribe() is under way on another thread), and asks for lookups.
// Short-lived sends are checked the same way: each completes exactly once, and by the time the
// producer's (or client's) close() returns.
#pragma once

#include "soak/context.hpp"
#include "soak/workload.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace soak {

class churner {
 public:
  churner(context& ctx, std::vector<std::unique_ptr<client_slot>>& clients, std::vector<std::unique_ptr<lane>>& lanes,
          std::vector<std::unique_ptr<consumer_slot>>& consumers)
      : ctx_(ctx), clients_(clients), lanes_(lanes), consumers_(consumers), rng_(ctx.rng_for(2)) {}

  void start() {
    thread_.start([this] { run_(); });
  }
  void join() { thread_.join(); }

 private:
  void run_() {
    while (!ctx_.stop_churn.load()) {
      nap(random_ms(rng_, 500, 2500), ctx_.stop_churn);
      if (ctx_.stop_churn.load()) {
        break;
      }
      switch (std::uniform_int_distribution<int>(0, 3)(rng_)) {
        case 0:
          if (ctx_.opts.enabled("client-churn")) {
            clients_[pick_(clients_.size())]->churn();
          }
          break;
        case 1:
          if (ctx_.opts.enabled("outside-close")) {
            lanes_[pick_(lanes_.size())]->close_from_outside();
          }
          break;
        case 2:
          if (ctx_.opts.enabled("outside-close")) {
            consumers_[pick_(consumers_.size())]->close_from_outside();
          }
          break;
        default:
          if (ctx_.opts.enabled("flush")) {
            lanes_[pick_(lanes_.size())]->flush_from_outside();
          }
          break;
      }
    }
  }

  [[nodiscard]] std::size_t pick_(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }

  context& ctx_;
  std::vector<std::unique_ptr<client_slot>>& clients_;
  std::vector<std::unique_ptr<lane>>& lanes_;
  std::vector<std::unique_ptr<consumer_slot>>& consumers_;
  std::mt19937_64 rng_;
  worker thread_;  // last: joined before the members it uses go
};

class ephemeral {
 public:
  ephemeral(context& ctx, std::vector<std::string> urls, std::vector<std::string> plain_topics,
            std::vector<std::string> any_topics)
      : ctx_(ctx),
        urls_(std::move(urls)),
        plain_topics_(std::move(plain_topics)),
        any_topics_(std::move(any_topics)),
        rng_(ctx.rng_for(3)) {}

  void start() {
    thread_.start([this] { run_(); });
  }
  void join() { thread_.join(); }

  // Every short-lived send completed exactly once (call after join()).
  void check() {
    const std::lock_guard lock(mu_);
    for (const auto& [what, count] : sends_) {
      if (const auto n = count->load(); n != 1) {
        ctx_.findings.add(n == 0 ? violation::send_not_completed : violation::send_completed_twice,
                          fmt::format("short-lived send {} completed {} times", what, n));
      }
    }
  }

 private:
  void run_() {
    while (!ctx_.stop_churn.load()) {
      nap(random_ms(rng_, 50, 400), ctx_.stop_churn);
      if (ctx_.stop_churn.load()) {
        break;
      }
      ++round_;
      switch (std::uniform_int_distribution<int>(0, 4)(rng_)) {
        case 0:
          if (ctx_.opts.enabled("ephemeral")) {
            produce_();
          }
          break;
        case 1:
          if (ctx_.opts.enabled("ephemeral")) {
            consume_();
          }
          break;
        case 2:
          if (ctx_.opts.enabled("close-race")) {
            close_during_create_();
          }
          break;
        case 3:
          if (ctx_.opts.enabled("close-race")) {
            close_during_subscribe_();
          }
          break;
        default:
          if (ctx_.opts.enabled("ephemeral")) {
            lookups_();
          }
          break;
      }
    }
  }

  [[nodiscard]] std::shared_ptr<client_t> client_() {
    const auto& url = urls_[std::uniform_int_distribution<std::size_t>(0, urls_.size() - 1)(rng_)];
    auto client = build_client(ctx_, url, fmt::format("e{}", round_));
    if (client) {
      ctx_.findings.count("short-lived clients");
    }
    return client;
  }

  [[nodiscard]] const std::string& topic_(const std::vector<std::string>& from) {
    return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(rng_)];
  }

  // A producer that sends a few messages and ends one of four ways.
  void produce_() {
    auto client = client_();
    if (!client) {
      return;
    }
    const auto& topic = topic_(any_topics_);
    // Reliable topics refuse a non-reliable producer: ask for what the topic is.
    const bool reliable = topic.find("-r") != std::string::npos;
    auto built = ctx_.dog.call("producer.build (short-lived)", ctx_.lim.build(), [&] {
      return client->new_producer<producer_t>()
          .topic(topic)
          .name(fmt::format("E{}", round_ % 4))
          .dispatch(reliable ? danube::dispatch_strategy::reliable : danube::dispatch_strategy::non_reliable)
          .send_timeout(ctx_.lim.send_timeout)
          .retry_policy(soak_retry{ctx_.lim.retries, ctx_.lim.retry_base, ctx_.lim.retry_cap})
          .build();
    });
    if (!built || !*built) {
      return;
    }
    auto p = std::make_shared<producer_t>(std::move(**built));
    auto created = ctx_.dog.call("producer.create (short-lived)", ctx_.lim.create(), [&] { return p->create(); });
    if (created && *created) {
      const auto n = std::uniform_int_distribution<int>(1, 5)(rng_);
      std::vector<std::shared_ptr<std::atomic<int>>> counts;
      for (int i = 0; i < n; ++i) {
        auto count = std::make_shared<std::atomic<int>>(0);
        counts.push_back(count);
        track_(fmt::format("E{}:{}", round_, i), count);
        const auto token = ctx_.dog.begin("producer.send[callback] (short-lived)", ctx_.lim.send());
        auto accepted = ctx_.dog.call("producer.send_async (short-lived)", ctx_.lim.send(), [&] {
          return p->send_async(fmt::format("E{}:{}", round_, i), {},
                               [this, count, token](const danube::result<danube::message_id>&) {
                                 count->fetch_add(1);
                                 ctx_.dog.end(token);
                               });
        });
        if (accepted && !*accepted) {
          ctx_.findings.add(violation::send_not_completed,
                            fmt::format("a short-lived send_async was refused: {}", accepted->error().message()));
        }
        ctx_.findings.count("short-lived sends");
      }
      const auto how = std::uniform_int_distribution<int>(0, 3)(rng_);
      switch (how) {
        case 0: close_and_drop(ctx_, p, "producer"); break;
        case 1: close_and_drop(ctx_, client, "client"); break;
        case 2: (void)ctx_.dog.call("producer.destroy (short-lived)", ctx_.lim.close(), [&] { p.reset(); }); break;
        default:
          (void)ctx_.dog.call("client.destroy (short-lived, producer alive)", ctx_.lim.close(),
                              [&] { client.reset(); });
          break;
      }
      // Whichever was closed or destroyed, the sends completed by the time it returned.
      for (std::size_t i = 0; i < counts.size(); ++i) {
        if (counts[i]->load() == 0) {
          ctx_.findings.add(violation::close_left_sends_pending,
                            fmt::format("short-lived send E{}:{} not completed when {} returned", round_, i,
                                        how == 0   ? "producer close()"
                                        : how == 1 ? "client close()"
                                        : how == 2 ? "the producer's destructor"
                                                   : "the client's destructor (after which the producer was closed)"));
        }
      }
    }
    close_and_drop(ctx_, p, "producer");
    close_and_drop(ctx_, client, "client");
  }

  // A consumer on a shared subscription of a non-reliable topic (a few fixed names: the broker
  // keeps subscriptions until it stops).
  void consume_() {
    auto client = client_();
    if (!client) {
      return;
    }
    auto built = ctx_.dog.call("consumer.build (short-lived)", ctx_.lim.build(), [&] {
      return client->new_consumer<consumer_t>()
          .topic(topic_(plain_topics_))
          .consumer_name(fmt::format("e{}", round_ % 3))
          .subscription(fmt::format("eph{}", round_ % 2))
          .subscription_type(danube::subscription_type::shared)
          .retry_policy(soak_retry{ctx_.lim.retries, ctx_.lim.retry_base, ctx_.lim.retry_cap})
          .build();
    });
    if (!built || !*built) {
      return;
    }
    auto c = std::make_shared<consumer_t>(std::move(**built));
    auto subscribed =
        ctx_.dog.call("consumer.subscribe (short-lived)", ctx_.lim.subscribe(), [&] { return c->subscribe(); });
    if (subscribed && *subscribed) {
      ctx_.findings.count("short-lived consumers");
      for (int i = 0; i < 3; ++i) {
        auto m =
            ctx_.dog.call("consumer.receive (short-lived)", ctx_.lim.receive(50ms), [&] { return c->receive(50ms); });
        if (m && *m) {
          (void)ctx_.dog.call("consumer.ack (short-lived)", ctx_.lim.ack(), [&] { return c->ack(**m); });
        }
      }
    }
    if (chance(rng_, 0.5)) {
      close_and_drop(ctx_, client, "client");  // closes the consumer too
    }
    close_and_drop(ctx_, c, "consumer");
    close_and_drop(ctx_, client, "client");
  }

  // The client closes while create() (or subscribe()) is under way on another thread: it returns
  // (ok or an error, never an exception) within its bound.
  void close_during_create_() {
    close_during_("create()", "producer", ctx_.lim.create(), [this](client_t& client) {
      return client.new_producer<producer_t>()
          .topic(topic_(plain_topics_))
          .name(fmt::format("R{}", round_ % 4))
          .retry_policy(soak_retry{ctx_.lim.retries, ctx_.lim.retry_base, ctx_.lim.retry_cap})
          .build();
    });
  }
  void close_during_subscribe_() {
    close_during_("subscribe()", "consumer", ctx_.lim.subscribe(), [this](client_t& client) {
      return client.new_consumer<consumer_t>()
          .topic(topic_(plain_topics_))
          .consumer_name(fmt::format("r{}", round_ % 3))
          .subscription("race")
          .subscription_type(danube::subscription_type::shared)
          .retry_policy(soak_retry{ctx_.lim.retries, ctx_.lim.retry_base, ctx_.lim.retry_cap})
          .build();
    });
  }

  template <class Build>
  void close_during_(std::string_view call, std::string_view kind, milliseconds bound, Build build) {
    auto client = client_();
    if (!client) {
      return;
    }
    auto built =
        ctx_.dog.call(fmt::format("{}.build (close race)", kind), ctx_.lim.build(), [&] { return build(*client); });
    if (!built || !*built) {
      return;
    }
    auto object = std::make_shared<std::remove_cvref_t<decltype(**built)>>(std::move(**built));
    auto running = std::async(std::launch::async, [this, object, call, bound] {
      return ctx_.dog.call(fmt::format("{} (while its client closes)", call), bound, [&] {
        if constexpr (requires { object->create(); }) {
          return object->create();
        } else {
          return object->subscribe();
        }
      });
    });
    std::this_thread::sleep_for(random_ms(rng_, 0, 30));
    ctx_.findings.count(fmt::format("clients closed during {}", call));
    close_and_drop(ctx_, client, "client");
    (void)ctx_.dog.call(fmt::format("{} after close (join)", call), bound, [&] { running.get(); });
    close_and_drop(ctx_, object, std::string(kind));
  }

  void lookups_() {
    auto client = client_();
    if (!client) {
      return;
    }
    const auto& topic = topic_(any_topics_);
    (void)ctx_.dog.call("client.lookup_topic", ctx_.lim.lookup(), [&] { return client->lookup_topic(topic); });
    (void)ctx_.dog.call("client.topic_partitions", ctx_.lim.lookup(), [&] { return client->topic_partitions(topic); });
    ctx_.findings.count("lookups");
    close_and_drop(ctx_, client, "client");
  }

  void track_(std::string what, std::shared_ptr<std::atomic<int>> count) {
    const std::lock_guard lock(mu_);
    sends_.emplace_back(std::move(what), std::move(count));
  }

  context& ctx_;
  const std::vector<std::string> urls_;
  const std::vector<std::string> plain_topics_;
  const std::vector<std::string> any_topics_;
  std::mt19937_64 rng_;
  std::uint64_t round_ = 0;
  std::mutex mu_;
  std::vector<std::pair<std::string, std::shared_ptr<std::atomic<int>>>> sends_;
  worker thread_;  // last: joined before the members it uses go
};

}  // namespace soak
