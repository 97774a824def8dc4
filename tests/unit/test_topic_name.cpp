#include <danube/topic_name.hpp>

#include <string>

#include <doctest/doctest.h>

TEST_SUITE("topic_name") {
  TEST_CASE("names the broker accepts") {
    for (const char* name : {"/default/orders", "/default/my-topic", "/default/my_topic", "/ns1/T0PIC",
                             "/default/orders-part-0", "/default/été", "/default/注文",
                             // The broker's quirks, kept so we never refuse what it accepts.
                             "x/default/t", "/default/", "//"}) {
      CAPTURE(name);
      CHECK(danube::validate_topic_name(name).has_value());
    }
  }

  TEST_CASE("names the broker rejects, with its message") {
    for (const char* name : {"default/t", "/a/b/c", "/default/t.x", "/default/t x", "", "/default/a.b",
                             "/default/t\xff", "/default/t?", "/default/t*"}) {
      CAPTURE(name);
      const auto r = danube::validate_topic_name(name);
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error() == danube::errc::invalid_argument);
      CHECK(r.error().message() ==
            "The topic: " + std::string(name) + " has an invalid format, should be: /namespace_name/topic_name");
    }
  }

  TEST_CASE("partition names") {
    CHECK(danube::partition_topic_name("/default/orders", 2) == "/default/orders-part-2");
  }

  TEST_CASE("utf-8 validation") {
    CHECK(danube::is_valid_utf8("plain"));
    CHECK(danube::is_valid_utf8("\xc3\xa9t\xc3\xa9"));
    CHECK_FALSE(danube::is_valid_utf8("\xc3"));          // truncated
    CHECK_FALSE(danube::is_valid_utf8("\xc0\xaf"));      // overlong
    CHECK_FALSE(danube::is_valid_utf8("\xed\xa0\x80"));  // surrogate
    CHECK_FALSE(danube::is_valid_utf8("\xff"));
  }
}
