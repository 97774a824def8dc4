#include <danube/detail/service_url.hpp>

#include <doctest/doctest.h>

TEST_SUITE("service_url") {
  TEST_CASE("accepted URLs") {
    auto a = danube::detail::parse_service_url("http://127.0.0.1:6650");
    REQUIRE(a);
    CHECK_FALSE(a->tls);
    CHECK(a->authority() == "127.0.0.1:6650");
    auto b = danube::detail::parse_service_url("https://broker.example.com/");
    REQUIRE(b);
    CHECK(b->tls);
    CHECK(b->port == 443);
    auto c = danube::detail::parse_service_url("http://[::1]:6650");
    REQUIRE(c);
    CHECK(c->authority() == "[::1]:6650");
    CHECK(c->to_string() == "http://[::1]:6650");
  }

  TEST_CASE("garbage is an invalid_argument naming the URL") {
    for (const char* url : {"", "127.0.0.1:6650", "ftp://h:1", "http://", "http://:6650", "http://h:", "http://h:0",
                            "http://h:65536", "http://h:66x", "http://h:1/path", "http://user@h:1", "http://h h:1",
                            "http://[::1", "http://[]:1", "http://[::1]x"}) {
      CAPTURE(url);
      const auto r = danube::detail::parse_service_url(url);
      REQUIRE_FALSE(r);
      CHECK(r.error() == danube::errc::invalid_argument);
      CHECK(r.error().message().find(url) != std::string::npos);
    }
  }
}
