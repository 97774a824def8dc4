#include <danube/error.hpp>
//
#include <danube/detail/grpc_status.hpp>

#include <system_error>

#include <doctest/doctest.h>
#include <fmt/format.h>

TEST_SUITE("error") {
  TEST_CASE("every gRPC status maps to one errc, and only the broker's retry set is retryable") {
    using danube::errc;
    using grpc::StatusCode;
    struct row {
      StatusCode status;
      errc code;
      bool retryable;
    };
    const row table[] = {
        {StatusCode::CANCELLED, errc::cancelled, false},
        {StatusCode::UNKNOWN, errc::internal, false},
        {StatusCode::INVALID_ARGUMENT, errc::invalid_argument, false},
        {StatusCode::DEADLINE_EXCEEDED, errc::timeout, true},
        {StatusCode::NOT_FOUND, errc::not_found, false},
        {StatusCode::ALREADY_EXISTS, errc::already_exists, false},
        {StatusCode::PERMISSION_DENIED, errc::permission_denied, false},
        {StatusCode::RESOURCE_EXHAUSTED, errc::resource_exhausted, true},
        {StatusCode::FAILED_PRECONDITION, errc::failed_precondition, false},
        {StatusCode::ABORTED, errc::internal, false},
        {StatusCode::OUT_OF_RANGE, errc::invalid_argument, false},
        {StatusCode::UNIMPLEMENTED, errc::unimplemented, false},
        {StatusCode::INTERNAL, errc::internal, false},
        {StatusCode::UNAVAILABLE, errc::unavailable, true},
        {StatusCode::DATA_LOSS, errc::internal, false},
        {StatusCode::UNAUTHENTICATED, errc::unauthenticated, false},
    };
    for (const auto& r : table) {
      CAPTURE(static_cast<int>(r.status));
      const auto e = danube::detail::error_from_grpc(grpc::Status(r.status, "broker says no"));
      CHECK(e.code() == r.code);
      CHECK(e.retryable() == r.retryable);
      CHECK(e.message() == "broker says no");
      REQUIRE(e.grpc_status().has_value());
      CHECK(*e.grpc_status() == static_cast<int>(r.status));
    }
  }

  TEST_CASE("check() passes OK through and carries the broker's message otherwise") {
    CHECK(danube::detail::check(grpc::Status::OK).has_value());
    const auto r = danube::detail::check(grpc::Status(grpc::StatusCode::NOT_FOUND, "Unable to find the topic: /a/b"));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == danube::errc::not_found);
    CHECK(r.error().message() == "Unable to find the topic: /a/b");
  }

  TEST_CASE("client-side errors have no gRPC status") {
    const danube::error e(danube::errc::queue_full, "pending queue is full");
    CHECK_FALSE(e.grpc_status().has_value());
    CHECK_FALSE(e.retryable());
  }

  TEST_CASE("fmt prints code and message") {
    const danube::error e(danube::errc::timeout, "no answer within 5s");
    CHECK(fmt::format("{}", e) == "timeout: no answer within 5s");
    CHECK(fmt::format("{}", danube::errc::lookup_failed) == "lookup_failed");
  }

  TEST_CASE("std::error_code interop") {
    const std::error_code ec = danube::errc::unavailable;
    CHECK(ec.category().name() == std::string_view("danube"));
    CHECK(ec.message() == "unavailable");
    CHECK(danube::error(danube::errc::closed, "x").error_code() == danube::errc::closed);
    CHECK(ec != std::error_code(danube::errc::timeout));
  }
}
