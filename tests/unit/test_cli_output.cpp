#include "../../tools/cli/output.hpp"
//
#include <cstdint>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

TEST_SUITE("cli output") {
  using namespace std::string_literals;
  using danube_cli::json_string;

  TEST_CASE("JSON strings: quotes, backslashes and control characters are escaped") {
    CHECK(json_string("") == R"("")");
    CHECK(json_string("plain text") == R"("plain text")");
    CHECK(json_string(R"(say "hi" \ bye)") == R"("say \"hi\" \\ bye")");
    CHECK(json_string("a\nb\rc\td\be\ff") == R"("a\nb\rc\td\be\ff")");
    CHECK(json_string("\x01\x1f"s) == R"("\u0001\u001f")");
    CHECK(json_string("nul\0byte"s) == R"("nul\u0000byte")");
    CHECK(json_string("\x7f/") == "\"\x7f/\"");  // DEL and '/' need no escape
  }

  TEST_CASE("JSON strings: UTF-8 is kept, malformed bytes become U+FFFD") {
    CHECK(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    CHECK(json_string("a\xff"
                      "b") == R"("a\ufffdb")");
    CHECK(json_string("\xc3") == R"("\ufffd")");                                // truncated sequence
    CHECK(json_string("\xc0\xaf") == R"("\ufffd\ufffd")");                      // overlong '/'
    CHECK(json_string("\xed\xa0\x80") == R"("\ufffd\ufffd\ufffd")");            // a UTF-16 surrogate
    CHECK(json_string("\xf4\x90\x80\x80") == R"("\ufffd\ufffd\ufffd\ufffd")");  // above U+10FFFF
  }

  TEST_CASE("UTF-8 validation of CLI output (danube_cli::is_utf8)") {
    CHECK(danube_cli::is_utf8(""));
    CHECK(danube_cli::is_utf8("hello"));
    CHECK(danube_cli::is_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    CHECK(danube_cli::is_utf8("nul\0ok"s));
    CHECK_FALSE(danube_cli::is_utf8("\xff"));
    CHECK_FALSE(danube_cli::is_utf8("\xe2\x82"));
    CHECK_FALSE(danube_cli::is_utf8("\xe0\x80\x80"));
  }

  TEST_CASE("base64 (RFC 4648 test vectors)") {
    CHECK(danube_cli::base64("") == "");
    CHECK(danube_cli::base64("f") == "Zg==");
    CHECK(danube_cli::base64("fo") == "Zm8=");
    CHECK(danube_cli::base64("foo") == "Zm9v");
    CHECK(danube_cli::base64("foob") == "Zm9vYg==");
    CHECK(danube_cli::base64("fooba") == "Zm9vYmE=");
    CHECK(danube_cli::base64("foobar") == "Zm9vYmFy");
    CHECK(danube_cli::base64("\xff\x00\x01"s) == "/wAB");
    CHECK(danube_cli::base64("\xfb\xff"s) == "+/8=");
  }

  TEST_CASE("the --json line: every field, in order") {
    const danube::attributes attrs{{"color", "blue"}, {"q\"uote", "line\nbreak"}};
    danube_cli::message_fields m;
    m.payload = "hello-1";
    m.topic = "/default/orders-part-2";
    m.offset = 7;
    m.producer = "writer";
    m.key = "customer-42";
    m.attributes = &attrs;
    m.publish_time_ms = 1700000000123;
    m.schema_id = 3;
    m.schema_version = 2;
    CHECK(danube_cli::json_line(m) ==
          R"({"payload":"hello-1","payload_encoding":"utf8","topic":"/default/orders-part-2","offset":7,)"
          R"("producer":"writer","key":"customer-42","attributes":{"color":"blue","q\"uote":"line\nbreak"},)"
          R"("publish_time":1700000000123,"schema_id":3,"schema_version":2})");
  }

  TEST_CASE("the --json line: absent fields are null or empty, binary payloads base64") {
    const auto binary = "\xff\x00\x01"s;
    danube_cli::message_fields m;
    m.payload = binary;
    m.topic = "/default/t";
    m.producer = "p";
    CHECK(danube_cli::json_line(m) ==
          R"({"payload":"/wAB","payload_encoding":"base64","topic":"/default/t","offset":0,"producer":"p",)"
          R"("key":null,"attributes":{},"publish_time":0,"schema_id":null,"schema_version":null})");
  }

  TEST_CASE("fields_of a received message") {
    const danube::message received;  // what a default message holds: empty fields
    const auto f = danube_cli::fields_of(received);
    CHECK(f.payload.empty());
    CHECK_FALSE(f.key);
    REQUIRE(f.attributes != nullptr);
    CHECK(f.attributes->empty());
    CHECK(f.publish_time_ms == 0);
    CHECK_FALSE(f.schema_id);
  }
}
