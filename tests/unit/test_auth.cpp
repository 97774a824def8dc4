#include "support/unsigned_jwt.hpp"
#include <danube/policies/auth.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

using danube_test::jwt_with_payload;

TEST_SUITE("jwt") {
  TEST_CASE("exp is read from the payload, whatever else it holds") {
    const auto t = danube::detail::jwt_expiry(jwt_with_payload(
        R"({"sub":"svc","roles":["a","b"],"nested":{"x":[1,{"y":null}]},"exp":1767225600,"ok":true})"));
    REQUIRE(t.has_value());
    CHECK(std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count() == 1767225600);
  }

  TEST_CASE("garbage and exp-less tokens are unauthenticated errors that never echo the token") {
    for (const std::string& token :
         {std::string("garbage"), std::string("a.b"), std::string("a.b.c.d"), std::string("x.%%%.y"),
          jwt_with_payload("[1,2]"), jwt_with_payload(R"({"sub":"svc"})"), jwt_with_payload(R"({"exp":"soon"})"),
          jwt_with_payload(R"({"exp":-5})"), jwt_with_payload(R"({"exp":1,)"),
          jwt_with_payload("{" + std::string(100, '[')), jwt_with_payload(R"({"exp":1} trailing)")}) {
      CAPTURE(token);
      const auto t = danube::detail::jwt_expiry(token);
      REQUIRE_FALSE(t.has_value());
      CHECK(t.error() == danube::errc::unauthenticated);
      CHECK(t.error().message().find(token) == std::string::npos);
    }
  }
}

// A named namespace: the unit tests are one unity-built translation unit.
namespace auth_test {

// An auth_context whose exchanges the test completes by hand (or at once).
class manual_exchange {
 public:
  using done_fn = std::function<void(danube::result<std::string>)>;

  [[nodiscard]] danube::auth_context context() {
    return danube::auth_context{[this](std::string_view /*key*/, done_fn done) {
      std::lock_guard lock(mu_);
      pending_.push_back(std::move(done));
    }};
  }
  [[nodiscard]] std::size_t started() {
    std::lock_guard lock(mu_);
    return started_ + pending_.size();
  }
  // Completes the oldest exchange still open.
  void complete(danube::result<std::string> token) {
    done_fn done;
    {
      std::lock_guard lock(mu_);
      REQUIRE_FALSE(pending_.empty());
      done = std::move(pending_.front());
      pending_.erase(pending_.begin());
      ++started_;
    }
    done(std::move(token));
  }

 private:
  std::mutex mu_;
  std::vector<done_fn> pending_;
  std::size_t started_ = 0;
};

// The outcome of one authorization_async call, once it arrived.
struct outcome_slot {
  std::mutex mu;
  std::optional<danube::result<std::optional<std::string>>> value;
  [[nodiscard]] danube::auth_completion sink() {
    return [this](danube::result<std::optional<std::string>> r) {
      std::lock_guard lock(mu);
      value = std::move(r);
    };
  }
  [[nodiscard]] bool ready() {
    std::lock_guard lock(mu);
    return value.has_value();
  }
  [[nodiscard]] danube::result<std::optional<std::string>> get() {
    std::lock_guard lock(mu);
    REQUIRE(value.has_value());
    return *value;
  }
};

std::string token_expiring_in(std::chrono::seconds in) {
  const auto exp =
      std::chrono::duration_cast<std::chrono::seconds>((std::chrono::system_clock::now() + in).time_since_epoch())
          .count();
  return jwt_with_payload(R"({"sub":"svc","exp":)" + std::to_string(exp) + "}");
}

}  // namespace auth_test

TEST_SUITE("auth") {
  using namespace auth_test;

  const danube::auth_context no_exchange{};

  TEST_CASE("static token and supplier send Bearer headers, the supplier is asked on every call") {
    CHECK(**danube::auth::static_token("abc").authorization(no_exchange) == "Bearer abc");
    int calls = 0;
    const danube::auth::token_supplier supplier([&] { return "t" + std::to_string(++calls); });
    CHECK(**supplier.authorization(no_exchange) == "Bearer t1");
    CHECK(**supplier.authorization(no_exchange) == "Bearer t2");
    const danube::auth::token_supplier failing(
        []() -> danube::result<std::string> { return danube::unexpected_error(danube::errc::internal, "vault down"); });
    CHECK(failing.authorization(no_exchange).error() == danube::errc::unauthenticated);
  }

  TEST_CASE("api_key_exchange: 32 threads at once cause exactly one exchange, then the cached token") {
    std::atomic<int> exchanges{0};
    const auto token = token_expiring_in(std::chrono::hours(1));
    std::vector<std::thread> completions;
    std::mutex completions_mu;
    const danube::auth_context context{
        [&](std::string_view key, std::function<void(danube::result<std::string>)> done) {
          CHECK(key == "my-key");
          ++exchanges;
          // Completes later, on another thread, as a gRPC callback would: the callers overlap.
          std::lock_guard lock(completions_mu);
          completions.emplace_back([&token, done = std::move(done)] {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            done(token);
          });
        }};
    const danube::auth::api_key_exchange policy("my-key");
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<outcome_slot>> outcomes;
    for (int i = 0; i < 32; ++i) {
      outcomes.push_back(std::make_unique<outcome_slot>());
    }
    for (int i = 0; i < 32; ++i) {
      threads.emplace_back(
          [&, i] { policy.authorization_async(context, outcomes[static_cast<std::size_t>(i)]->sink()); });
    }
    for (auto& t : threads) {
      t.join();
    }
    {
      std::lock_guard lock(completions_mu);
      for (auto& t : completions) {
        t.join();
      }
    }
    for (auto& outcome : outcomes) {
      REQUIRE(outcome->ready());
      CHECK(**outcome->get() == "Bearer " + token);
    }
    CHECK(exchanges == 1);
    CHECK(policy.exchanges() == 1);
  }

  TEST_CASE("api_key_exchange refreshes before exp (within the margin) and fails as unauthenticated") {
    int exchanges = 0;
    const danube::auth_context context{[&](std::string_view, std::function<void(danube::result<std::string>)> done) {
      ++exchanges;
      done(token_expiring_in(std::chrono::seconds(10)));
    }};
    const danube::auth::api_key_exchange policy("k", std::chrono::seconds(30));
    outcome_slot first;
    policy.authorization_async(context, first.sink());
    CHECK(first.get().has_value());
    outcome_slot second;
    policy.authorization_async(context, second.sink());
    CHECK(second.get().has_value());
    CHECK(exchanges == 2);  // exp - margin is already past: the second call refreshes

    const danube::auth_context broken{[](std::string_view, std::function<void(danube::result<std::string>)> done) {
      done(danube::unexpected_error(danube::errc::unimplemented, "unknown service danube.AuthService"));
    }};
    const danube::auth::api_key_exchange failing("k");
    outcome_slot refused;
    failing.authorization_async(broken, refused.sink());
    const auto r = refused.get();
    REQUIRE_FALSE(r);
    CHECK(r.error() == danube::errc::unauthenticated);
    CHECK(r.error().message().find("unimplemented") != std::string::npos);
  }
}

TEST_SUITE("auth") {
  using namespace auth_test;

  TEST_CASE("api_key_exchange is asynchronous: the call returns before the exchange completes") {
    manual_exchange exchange;
    const danube::auth::api_key_exchange policy("k");
    outcome_slot first;
    policy.authorization_async(exchange.context(), first.sink());
    CHECK(exchange.started() == 1);
    CHECK_FALSE(first.ready());
    const auto token = token_expiring_in(std::chrono::hours(1));
    exchange.complete(token);
    CHECK(**first.get() == "Bearer " + token);
    // Cached: answered at once, on this thread, with no exchange.
    outcome_slot second;
    policy.authorization_async(exchange.context(), second.sink());
    CHECK(**second.get() == "Bearer " + token);
    CHECK(exchange.started() == 1);
  }

  TEST_CASE("api_key_exchange: a retryable failure keeps its code, the next call exchanges again") {
    manual_exchange exchange;
    const danube::auth::api_key_exchange policy("k");
    outcome_slot failed;
    policy.authorization_async(exchange.context(), failed.sink());
    exchange.complete(danube::unexpected_error(danube::errc::unavailable, "broker restarting"));
    const auto r = failed.get();
    REQUIRE_FALSE(r);
    CHECK(r.error() == danube::errc::unavailable);
    CHECK(r.error().retryable());
    CHECK(r.error().message().find("broker restarting") != std::string::npos);
    outcome_slot again;
    policy.authorization_async(exchange.context(), again.sink());
    CHECK(exchange.started() == 2);
    exchange.complete(token_expiring_in(std::chrono::hours(1)));
    CHECK(again.get().has_value());
  }

  TEST_CASE("api_key_exchange: when the starting client is closed, waiters of other clients exchange themselves") {
    manual_exchange a;
    manual_exchange b;
    const danube::auth::api_key_exchange policy("k");
    const auto copy = policy;  // the second client's copy shares the flight
    outcome_slot through_a;
    outcome_slot through_b;
    policy.authorization_async(a.context(), through_a.sink());
    copy.authorization_async(b.context(), through_b.sink());
    CHECK(a.started() == 1);
    CHECK(b.started() == 0);  // joined a's exchange
    a.complete(danube::unexpected_error(danube::errc::closed, "the client is closed"));
    CHECK(through_a.get().error() == danube::errc::closed);
    CHECK_FALSE(through_b.ready());
    REQUIRE(b.started() == 1);
    const auto token = token_expiring_in(std::chrono::hours(1));
    b.complete(token);
    CHECK(**through_b.get() == "Bearer " + token);
  }

  TEST_CASE("api_key_exchange: exchanges of closed clients that fail at once are not a recursion per waiter") {
    const danube::auth::api_key_exchange policy("k");
    manual_exchange first;
    outcome_slot starter;
    policy.authorization_async(first.context(), starter.sink());
    // 10,000 waiters whose clients are all closed: their exchanges fail on the spot.
    const danube::auth_context closed{
        [](std::string_view, const std::function<void(danube::result<std::string>)>& done) {
          done(danube::unexpected_error(danube::errc::closed, "the client is closed"));
        }};
    std::vector<std::unique_ptr<outcome_slot>> waiters;
    for (int i = 0; i < 10'000; ++i) {
      waiters.push_back(std::make_unique<outcome_slot>());
      policy.authorization_async(closed, waiters.back()->sink());
    }
    first.complete(danube::unexpected_error(danube::errc::closed, "the client is closed"));
    for (auto& w : waiters) {
      CHECK(w->get().error() == danube::errc::closed);
    }
  }

  TEST_CASE("api_key_exchange refreshes ahead: within the margin the old token is used while one refresh runs") {
    manual_exchange exchange;
    const danube::auth::api_key_exchange policy("k", std::chrono::seconds(30));
    const auto old_token = token_expiring_in(std::chrono::seconds(10));  // valid, but within the margin
    outcome_slot first;
    policy.authorization_async(exchange.context(), first.sink());
    exchange.complete(old_token);
    REQUIRE(first.get().has_value());
    for (int i = 0; i < 5; ++i) {
      outcome_slot meanwhile;
      policy.authorization_async(exchange.context(), meanwhile.sink());
      CHECK(**meanwhile.get() == "Bearer " + old_token);  // at once, not waiting for the refresh
    }
    CHECK(exchange.started() == 2);  // the first exchange and one refresh
    const auto new_token = token_expiring_in(std::chrono::hours(1));
    exchange.complete(new_token);
    outcome_slot after;
    policy.authorization_async(exchange.context(), after.sink());
    CHECK(**after.get() == "Bearer " + new_token);
    CHECK(policy.exchanges() == 2);
  }

  // A broker issuing tokens that live shorter than the margin: every fresh token is already
  // "within the margin", and each call used to start one more exchange as soon as the last ended.
  TEST_CASE("api_key_exchange: tokens living shorter than the margin are refreshed ahead at most once a second") {
    manual_exchange exchange;
    const danube::auth::api_key_exchange policy("k", std::chrono::seconds(30));
    outcome_slot first;
    policy.authorization_async(exchange.context(), first.sink());
    exchange.complete(token_expiring_in(std::chrono::seconds(10)));
    REQUIRE(first.get().has_value());
    outcome_slot second;
    policy.authorization_async(exchange.context(), second.sink());  // starts the refresh ahead
    REQUIRE(second.get().has_value());
    REQUIRE(exchange.started() == 2);
    exchange.complete(token_expiring_in(std::chrono::seconds(10)));  // again shorter than the margin
    for (int i = 0; i < 20; ++i) {
      outcome_slot call;
      policy.authorization_async(exchange.context(), call.sink());
      CHECK(call.get().has_value());
    }
    CHECK(exchange.started() == 2);
  }

  TEST_CASE("api_key_exchange: a token without exp is refused, or used for default_lifetime") {
    const auto no_exp = jwt_with_payload(R"({"sub":"svc"})");
    {
      manual_exchange exchange;
      const danube::auth::api_key_exchange strict("k");
      outcome_slot r;
      strict.authorization_async(exchange.context(), r.sink());
      exchange.complete(no_exp);
      REQUIRE_FALSE(r.get());
      CHECK(r.get().error() == danube::errc::unauthenticated);
      CHECK(r.get().error().message().find("no exp claim") != std::string::npos);
    }
    manual_exchange exchange;
    const danube::auth::api_key_exchange lenient("k", {.default_lifetime = std::chrono::hours(1)});
    outcome_slot r;
    lenient.authorization_async(exchange.context(), r.sink());
    exchange.complete(no_exp);
    CHECK(**r.get() == "Bearer " + no_exp);
    outcome_slot cached;
    lenient.authorization_async(exchange.context(), cached.sink());
    CHECK(**cached.get() == "Bearer " + no_exp);
    CHECK(exchange.started() == 1);
    // A token with an exp keeps its own, whatever the default.
    manual_exchange short_lived;
    const danube::auth::api_key_exchange with_exp(
        "k", {.margin = std::chrono::seconds(30), .default_lifetime = std::chrono::hours(1)});
    outcome_slot s;
    with_exp.authorization_async(short_lived.context(), s.sink());
    short_lived.complete(token_expiring_in(std::chrono::seconds(10)));
    REQUIRE(s.get().has_value());
    outcome_slot s2;
    with_exp.authorization_async(short_lived.context(), s2.sink());
    CHECK(short_lived.started() == 2);  // within the margin of its own exp: refreshing
  }

  TEST_CASE("api_key_exchange: a token gRPC cannot carry is unauthenticated and not cached") {
    manual_exchange exchange;
    const danube::auth::api_key_exchange policy("k");
    outcome_slot r;
    policy.authorization_async(exchange.context(), r.sink());
    exchange.complete(token_expiring_in(std::chrono::hours(1)) + "\n");
    REQUIRE_FALSE(r.get());
    CHECK(r.get().error() == danube::errc::unauthenticated);
    outcome_slot again;
    policy.authorization_async(exchange.context(), again.sink());
    CHECK(exchange.started() == 2);
  }

  TEST_CASE("api_key_exchange: a completion may call the policy again (no lock held while it runs)") {
    manual_exchange exchange;
    const danube::auth::api_key_exchange policy("k");
    outcome_slot inner;
    bool outer_ran = false;
    policy.authorization_async(exchange.context(), [&](danube::result<std::optional<std::string>> r) {
      outer_ran = r.has_value();
      policy.authorization_async(exchange.context(), inner.sink());  // the token is cached by now
    });
    exchange.complete(token_expiring_in(std::chrono::hours(1)));
    CHECK(outer_ran);
    CHECK(inner.get().has_value());
    CHECK(exchange.started() == 1);
  }
}

// Hostile review of the asynchronous exchange (issue 13): a useless token must not cost one
// exchange per call, and a hanging exchange must not gather callers without bound.
TEST_SUITE("auth") {
  using namespace auth_test;

  TEST_CASE("api_key_exchange: a token already expired on arrival is used, not exchanged again on every call") {
    manual_exchange exchange;
    const danube::auth::api_key_exchange policy("k");
    const auto expired = token_expiring_in(std::chrono::seconds(-10));  // a clock skew, or a broker's bug
    outcome_slot first;
    policy.authorization_async(exchange.context(), first.sink());
    exchange.complete(expired);
    CHECK(**first.get() == "Bearer " + expired);  // the callers waiting for it get it
    for (int i = 0; i < 20; ++i) {
      outcome_slot call;
      policy.authorization_async(exchange.context(), call.sink());
      REQUIRE(call.ready());  // at once: no call waits for an exchange
      CHECK(**call.get() == "Bearer " + expired);
    }
    // At most one refresh in the background (once the token is a second old), none per call.
    CHECK(exchange.started() <= 2);
  }

  TEST_CASE("api_key_exchange: a token expired on arrival keeps being used while a refresh runs in the background") {
    manual_exchange exchange;
    const danube::auth::api_key_exchange policy("k");
    const auto expired = token_expiring_in(std::chrono::seconds(-10));
    outcome_slot first;
    policy.authorization_async(exchange.context(), first.sink());
    exchange.complete(expired);
    REQUIRE(first.get().has_value());
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past the once-a-second limit
    outcome_slot call;
    policy.authorization_async(exchange.context(), call.sink());
    REQUIRE(call.ready());  // not stalled behind the refresh it started
    CHECK(**call.get() == "Bearer " + expired);
    CHECK(exchange.started() == 2);
    const auto fresh = token_expiring_in(std::chrono::hours(1));
    exchange.complete(fresh);
    outcome_slot after;
    policy.authorization_async(exchange.context(), after.sink());
    CHECK(**after.get() == "Bearer " + fresh);
  }

  TEST_CASE("api_key_exchange: a rejected token is dropped only when the rejected call carried it") {
    manual_exchange exchange;
    const danube::auth::api_key_exchange policy("k");
    const auto token = token_expiring_in(std::chrono::hours(1));
    outcome_slot first;
    const auto asked_before_it_arrived = std::chrono::steady_clock::now();
    policy.authorization_async(exchange.context(), first.sink());
    exchange.complete(token);
    REQUIRE(first.get().has_value());
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past the once-a-second limit
    // A late answer to a call that asked before this token arrived (it carried an older one).
    policy.token_rejected(asked_before_it_arrived);
    outcome_slot kept;
    policy.authorization_async(exchange.context(), kept.sink());
    CHECK(**kept.get() == "Bearer " + token);
    CHECK(exchange.started() == 1);
    // A call that carried it.
    policy.token_rejected(std::chrono::steady_clock::now());
    outcome_slot again;
    policy.authorization_async(exchange.context(), again.sink());
    outcome_slot joined;
    policy.authorization_async(exchange.context(), joined.sink());
    CHECK(exchange.started() == 2);  // one exchange for both calls
    CHECK_FALSE(again.ready());
    const auto fresh = token_expiring_in(std::chrono::hours(1));
    exchange.complete(fresh);
    CHECK(**again.get() == "Bearer " + fresh);
    CHECK(**joined.get() == "Bearer " + fresh);
  }

  TEST_CASE("api_key_exchange: at most max_waiting calls wait, one more makes the oldest waiting fail (retryable)") {
    manual_exchange exchange;
    const danube::auth::api_key_exchange policy("k", {.max_waiting = 3});
    std::vector<std::unique_ptr<outcome_slot>> calls;
    for (int i = 0; i < 5; ++i) {  // the exchange's starter, 3 waiting, and one too many
      calls.push_back(std::make_unique<outcome_slot>());
      policy.authorization_async(exchange.context(), calls.back()->sink());
    }
    CHECK(exchange.started() == 1);
    // The oldest waiting call (the likeliest to have given up already) makes room for the newest.
    REQUIRE(calls[1]->ready());
    const auto evicted = calls[1]->get();
    REQUIRE_FALSE(evicted);
    CHECK(evicted.error() == danube::errc::unavailable);
    CHECK(evicted.error().retryable());
    for (const std::size_t i : {0U, 2U, 3U, 4U}) {
      CHECK_FALSE(calls[i]->ready());
    }
    const auto token = token_expiring_in(std::chrono::hours(1));
    exchange.complete(token);
    for (const std::size_t i : {0U, 2U, 3U, 4U}) {
      CHECK(**calls[i]->get() == "Bearer " + token);
    }
    CHECK(danube::auth::api_key_exchange("k").exchange_timeout() == std::chrono::seconds(10));  // the default
  }

  TEST_CASE("api_key_exchange: the default bound on waiting calls holds 65,536") {
    manual_exchange exchange;
    const danube::auth::api_key_exchange policy("k");
    std::atomic<int> answered{0};
    std::optional<danube::error> last;
    std::mutex mu;
    for (std::size_t i = 0; i < 65'536 + 2; ++i) {
      policy.authorization_async(exchange.context(), [&](danube::result<std::optional<std::string>> r) {
        ++answered;
        if (!r) {
          std::lock_guard lock(mu);
          last = r.error();
        }
      });
    }
    CHECK(answered == 1);  // the starter and 65,536 wait; the oldest waiting made room for the last
    REQUIRE(last.has_value());
    CHECK(last->code() == danube::errc::unavailable);
    exchange.complete(danube::unexpected_error(danube::errc::unavailable, "gone"));
    CHECK(answered == 65'536 + 2);
  }
}
