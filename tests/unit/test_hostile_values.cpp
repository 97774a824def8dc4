// Hostile values from the user and from the broker (issue 13 item 1): what reaches gRPC metadata,
// URLs gRPC would resolve to a local socket, times past the clock's range, partition lists.
#include "support/unsigned_jwt.hpp"
#include <danube/detail/message_access.hpp>
#include <danube/detail/metadata_value.hpp>
#include <danube/detail/service_url.hpp>
#include <danube/policies/auth.hpp>
#include <danube/topic_name.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <doctest/doctest.h>

using namespace std::chrono_literals;

TEST_SUITE("hostile values") {
  TEST_CASE("metadata values: only visible ASCII and the space pass (gRPC aborts on anything else)") {
    using danube::detail::is_legal_metadata_value;
    CHECK(is_legal_metadata_value("Bearer abc.def-ghi_jkl~"));
    CHECK(is_legal_metadata_value(""));
    CHECK(is_legal_metadata_value("http://broker-7.internal:6650/"));
    for (const auto& bad :
         std::vector<std::string>{std::string("abc\n"), std::string("a\rb"), std::string("\tx"), std::string("a\x7f"),
                                  std::string("caf\xc3\xa9"), std::string("x\0y", 3), std::string("\x01")}) {
      CAPTURE(bad);
      CHECK_FALSE(is_legal_metadata_value(bad));
    }
  }

  TEST_CASE("x-danube-broker-url: what the Rust client sends (http::Uri's text of the broker URL)") {
    using danube::detail::proxy_header_value;
    // A bare scheme://authority gets the path "/".
    CHECK(proxy_header_value("http://broker-7.internal:6650") == "http://broker-7.internal:6650/");
    CHECK(proxy_header_value("https://10.0.0.7:6650") == "https://10.0.0.7:6650/");
    CHECK(proxy_header_value("http://[::1]:6650") == "http://[::1]:6650/");
    // http and https are written in lower case; the authority is kept as written.
    CHECK(proxy_header_value("HTTP://Broker-7:6650") == "http://Broker-7:6650/");
    // A path and a query stay; a fragment is dropped; a trailing "/" is not doubled.
    CHECK(proxy_header_value("http://b:1/") == "http://b:1/");
    CHECK(proxy_header_value("http://b:1/x/y?z=1") == "http://b:1/x/y?z=1");
    CHECK(proxy_header_value("http://b:1?z") == "http://b:1/?z");
    CHECK(proxy_header_value("http://b:1#frag") == "http://b:1/");
    // Another scheme keeps its spelling; without a scheme the text is an authority, sent as is.
    CHECK(proxy_header_value("grpc://b:1") == "grpc://b:1/");
    CHECK(proxy_header_value("broker-7:6650") == "broker-7:6650");
  }

  TEST_CASE("service URLs: hosts gRPC would take for a local socket are refused") {
    for (const char* url :
         {"http://unix:6650", "http://unix-abstract:6650", "https://UNIX:443", "http://Unix-Abstract"}) {
      CAPTURE(url);
      const auto r = danube::detail::parse_service_url(url);
      REQUIRE_FALSE(r);
      CHECK(r.error() == danube::errc::invalid_argument);
      CHECK_MESSAGE(r.error().message().find("local socket") != std::string::npos, r.error().message());
    }
    // Names that merely contain the word are hosts like any other.
    CHECK(danube::detail::parse_service_url("http://unix1:6650").has_value());
    CHECK(danube::detail::parse_service_url("http://my-unix:6650").has_value());
  }

  TEST_CASE("the gRPC target names its resolver: dns:///host:port, never a bare name gRPC may parse as a scheme") {
    CHECK(danube::detail::parse_service_url("http://localhost:6650")->grpc_target() == "dns:///localhost:6650");
    CHECK(danube::detail::parse_service_url("http://10.1.2.3:7")->grpc_target() == "dns:///10.1.2.3:7");
    CHECK(danube::detail::parse_service_url("http://[::1]:6650")->grpc_target() == "dns:///[::1]:6650");
    CHECK(danube::detail::parse_service_url("http://vsock:6650")->grpc_target() == "dns:///vsock:6650");
  }

  TEST_CASE("a URL with a path (an ingress routing by path) is refused with a message that says why") {
    for (const char* url : {"https://gateway.example.com/danube", "http://h:6650/danube/", "http://h/a?b"}) {
      CAPTURE(url);
      const auto r = danube::detail::parse_service_url(url);
      REQUIRE_FALSE(r);
      CHECK(r.error() == danube::errc::invalid_argument);
      CHECK_MESSAGE(r.error().message().find("path") != std::string::npos, r.error().message());
    }
  }

  TEST_CASE("publish_time past the clock's range saturates instead of overflowing") {
    const auto max_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::duration::max());
    for (const std::uint64_t ms : {std::numeric_limits<std::uint64_t>::max(), std::uint64_t{1} << 62U,
                                   static_cast<std::uint64_t>(max_ms.count()) + 1}) {
      CAPTURE(ms);
      danube::detail::wire::StreamMessage wire;
      wire.set_publish_time(ms);
      const auto m = danube::message_access::from_wire(wire, "s");
      CHECK(m.publish_time() == std::chrono::system_clock::time_point(max_ms));
    }
    danube::detail::wire::StreamMessage normal;
    normal.set_publish_time(1'700'000'000'123);
    CHECK(danube::message_access::from_wire(normal, "s").publish_time().time_since_epoch() == 1'700'000'000'123ms);
  }

  TEST_CASE("TopicPartitions answers: duplicates are dropped") {
    std::vector<std::string> names{"/d/t-part-1", "/d/t-part-0", "/d/t-part-1", "/d/t-part-0", "/d/t-part-2"};
    const auto dropped = danube::detail::keep_topic_and_partitions("/d/t", names);
    CHECK(names == std::vector<std::string>{"/d/t-part-1", "/d/t-part-0", "/d/t-part-2"});
    CHECK(dropped == std::vector<std::string>{"/d/t-part-1", "/d/t-part-0"});
  }

  TEST_CASE("token_supplier: a null const char* is unauthenticated, not a crash") {
    const danube::auth::token_supplier null_supplier([]() -> const char* { return nullptr; });
    const auto r = null_supplier.authorization({});
    REQUIRE_FALSE(r);
    CHECK(r.error() == danube::errc::unauthenticated);
    CHECK_MESSAGE(r.error().message().find("null") != std::string::npos, r.error().message());
    const danube::auth::token_supplier good([]() -> const char* { return "tok"; });
    CHECK(**good.authorization({}) == "Bearer tok");
  }

  TEST_CASE("token_supplier and static_token: a token gRPC cannot carry is unauthenticated, never echoed") {
    for (const auto& token :
         std::vector<std::string>{std::string("abc\n"), std::string("ab\x01"), std::string("t\xc3\xb6k")}) {
      CAPTURE(token);
      const danube::auth::token_supplier supplier([token] { return token; });
      const auto supplied = supplier.authorization({});
      REQUIRE_FALSE(supplied);
      CHECK(supplied.error() == danube::errc::unauthenticated);
      CHECK(supplied.error().message().find(token) == std::string::npos);
      const auto fixed = danube::auth::static_token(token).authorization({});
      REQUIRE_FALSE(fixed);
      CHECK(fixed.error() == danube::errc::unauthenticated);
      CHECK(fixed.error().message().find(token) == std::string::npos);
    }
  }
}
