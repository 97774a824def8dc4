#include <danube/client.hpp>

#include <string>

#include <doctest/doctest.h>

// build() validates without I/O: nothing listens on these URLs.
TEST_SUITE("builders") {
  TEST_CASE("client: missing, malformed or mismatched service URLs") {
    CHECK(danube::client::builder().build().error() == danube::errc::invalid_argument);
    CHECK(danube::client::builder().service_url("localhost:6650").build().error() == danube::errc::invalid_argument);
    const auto tls_mismatch = danube::client::builder().service_url("https://127.0.0.1:6650").build();
    REQUIRE_FALSE(tls_mismatch);
    CHECK(tls_mismatch.error().message().find("plaintext") != std::string::npos);
    CHECK(danube::client::builder().service_url("http://127.0.0.1:6650").build().has_value());
  }

  TEST_CASE("credentials over plaintext need the explicit opt-in") {
    auto c = danube::basic_client<danube::auth::static_token, danube::tls::plaintext_insecure>::builder()
                 .service_url("http://127.0.0.1:6650")
                 .auth(danube::auth::static_token("t"))
                 .build();
    CHECK(c.has_value());
  }

  TEST_CASE("producer: topic, name and partitions are checked by build()") {
    auto c = danube::client::builder().service_url("http://127.0.0.1:1").build();
    REQUIRE(c);
    CHECK(c->new_producer().name("p").build().error() == danube::errc::invalid_argument);
    CHECK(c->new_producer().topic("/default/t").build().error() == danube::errc::invalid_argument);
    const auto bad_topic = c->new_producer().topic("default/t").name("p").build();
    REQUIRE_FALSE(bad_topic);
    CHECK(bad_topic.error().message().find("invalid format") != std::string::npos);
    CHECK(c->new_producer().topic("/default/t").name("p").partitions(0).build().error() ==
          danube::errc::invalid_argument);
    CHECK(c->new_producer().topic("/default/t").name("p").partitions<3>().build().has_value());
    CHECK(c->new_producer().topic("/default/t").name("p").max_in_flight(0).build().error() ==
          danube::errc::invalid_argument);
  }

  TEST_CASE("producer: sending before create() is an error, not a crash") {
    auto c = danube::client::builder().service_url("http://127.0.0.1:1").build();
    REQUIRE(c);
    auto p = c->new_producer().topic("/default/t").name("p").build();
    REQUIRE(p);
    CHECK(p->send("x").error() == danube::errc::failed_precondition);
    p->close();
    CHECK(p->send("x").error() == danube::errc::closed);
  }

  TEST_CASE("consumer: key filters without key_shared are refused") {
    auto c = danube::client::builder().service_url("http://127.0.0.1:1").build();
    REQUIRE(c);
    auto k = c->new_consumer().topic("/default/t").consumer_name("c").subscription("s").key_filters({"eu-*"}).build();
    REQUIRE_FALSE(k);
    CHECK(k.error().message().find("key_shared") != std::string::npos);
    CHECK(c->new_consumer()
              .topic("/default/t")
              .consumer_name("c")
              .subscription("s")
              .subscription_type(danube::subscription_type::key_shared)
              .key_filters({"eu-*"})
              .build()
              .has_value());
    CHECK(c->new_consumer().topic("/default/t").subscription("s").build().error() == danube::errc::invalid_argument);
  }
}
