#include "support/unsigned_jwt.hpp"
#include <danube/policies/auth.hpp>

#include <atomic>
#include <chrono>
#include <string>
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

TEST_SUITE("auth") {
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
    const auto exp = std::chrono::duration_cast<std::chrono::seconds>(
                         (std::chrono::system_clock::now() + std::chrono::hours(1)).time_since_epoch())
                         .count();
    const auto token = jwt_with_payload(R"({"sub":"svc","exp":)" + std::to_string(exp) + "}");
    const danube::auth_context context{[&](std::string_view key) -> danube::result<std::string> {
      CHECK(key == "my-key");
      ++exchanges;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // make the callers overlap
      return token;
    }};
    const danube::auth::api_key_exchange policy("my-key");
    std::vector<std::thread> threads;
    std::atomic<int> good{0};
    for (int i = 0; i < 32; ++i) {
      threads.emplace_back([&] {
        auto header = policy.authorization(context);
        if (header && *header == "Bearer " + token) {
          ++good;
        }
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    CHECK(good == 32);
    CHECK(exchanges == 1);
    CHECK(policy.exchanges() == 1);
  }

  TEST_CASE("api_key_exchange refreshes before exp (within the margin) and fails as unauthenticated") {
    int exchanges = 0;
    const auto soon = std::chrono::duration_cast<std::chrono::seconds>(
                          (std::chrono::system_clock::now() + std::chrono::seconds(10)).time_since_epoch())
                          .count();
    const danube::auth_context context{[&](std::string_view) -> danube::result<std::string> {
      ++exchanges;
      return jwt_with_payload(R"({"exp":)" + std::to_string(soon) + "}");
    }};
    const danube::auth::api_key_exchange policy("k", std::chrono::seconds(30));
    CHECK(policy.authorization(context).has_value());
    CHECK(policy.authorization(context).has_value());
    CHECK(exchanges == 2);  // exp - margin is already past: every call refreshes

    const danube::auth_context broken{[](std::string_view) -> danube::result<std::string> {
      return danube::unexpected_error(danube::errc::unimplemented, "unknown service danube.AuthService");
    }};
    const danube::auth::api_key_exchange failing("k");
    const auto r = failing.authorization(broken);
    REQUIRE_FALSE(r);
    CHECK(r.error() == danube::errc::unauthenticated);
    CHECK(r.error().message().find("unimplemented") != std::string::npos);
  }
}
