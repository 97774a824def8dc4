// The serializer concept, the built-in serializers, json_text and the JSON scanner behind them.
#include <danube/detail/json_scan.hpp>
#include <danube/json_text.hpp>
#include <danube/serializer.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

namespace serializer_test {

struct point {
  int x = 0;
  int y = 0;
  friend bool operator==(const point&, const point&) = default;
};

// A user's serializer: "x,y" text; encode cannot fail, decode can.
struct point_serializer {
  using value_type = point;
  [[nodiscard]] std::string encode(const point& p) const { return std::to_string(p.x) + "," + std::to_string(p.y); }
  [[nodiscard]] danube::result<point> decode(std::string_view payload) const {
    const auto comma = payload.find(',');
    if (comma == std::string_view::npos) {
      return danube::unexpected_error(danube::errc::schema, "no comma");
    }
    return point{std::stoi(std::string(payload.substr(0, comma))), std::stoi(std::string(payload.substr(comma + 1)))};
  }
};

// Encodes to bytes, decodes from a view.
struct byte_count_serializer {
  using value_type = std::size_t;
  [[nodiscard]] std::vector<std::byte> encode(const std::size_t& n) const { return std::vector<std::byte>(n); }
  [[nodiscard]] danube::result<std::size_t> decode(std::string_view payload) const { return payload.size(); }
};

struct no_decode {
  using value_type = int;
  [[nodiscard]] std::string encode(const int&) const { return {}; }
};
struct no_value_type {
  [[nodiscard]] std::string encode(const int&) const { return {}; }
  [[nodiscard]] danube::result<int> decode(std::string_view) const { return 0; }
};
struct wrong_decode_result {
  using value_type = int;
  [[nodiscard]] std::string encode(const int&) const { return {}; }
  [[nodiscard]] int decode(std::string_view) const { return 0; }
};
struct encodes_to_int {
  using value_type = int;
  [[nodiscard]] int encode(const int& v) const { return v; }
  [[nodiscard]] danube::result<int> decode(std::string_view) const { return 0; }
};

// What a send would see: the payload bytes.
template <class S>
danube::result<std::string> encoded(const S& s, const typename S::value_type& v) {
  return danube::with_encoded(
      s, v, [](danube::payload_arg p) -> danube::result<std::string> { return std::move(p).release(); });
}

}  // namespace serializer_test

TEST_SUITE("serializer") {
  using namespace serializer_test;

  TEST_CASE("the concept: built-ins and user types model it, incomplete types do not") {
    static_assert(danube::serializer<danube::string_serializer>);
    static_assert(danube::serializer<danube::bytes_serializer>);
    static_assert(danube::serializer<danube::json_serializer>);
    static_assert(danube::serializer<point_serializer>);
    static_assert(danube::serializer<byte_count_serializer>);
    static_assert(!danube::serializer<no_decode>);
    static_assert(!danube::serializer<no_value_type>);
    static_assert(!danube::serializer<wrong_decode_result>);
    static_assert(!danube::serializer<encodes_to_int>);
    static_assert(!danube::serializer<int>);
    CHECK(true);
  }

  TEST_CASE("a user's serializer round-trips and reports decode failures") {
    const point_serializer s;
    CHECK(encoded(s, point{3, -4}) == std::string("3,-4"));
    CHECK(s.decode("3,-4") == point{3, -4});
    CHECK(s.decode("34").error().code() == danube::errc::schema);
    const byte_count_serializer bytes;
    CHECK(encoded(bytes, 5)->size() == 5);
  }

  TEST_CASE("string_serializer: UTF-8 both ways") {
    const danube::string_serializer s;
    CHECK(encoded(s, std::string("héllo")) == std::string("héllo"));
    CHECK(encoded(s, std::string("\xff")).error().code() == danube::errc::schema);
    CHECK(s.decode("plain") == std::string("plain"));
    CHECK(s.decode(std::string("\xc3")).error().code() == danube::errc::schema);
  }

  TEST_CASE("bytes_serializer: unchanged bytes") {
    const danube::bytes_serializer s;
    const std::vector<std::byte> data{std::byte{0}, std::byte{0xff}, std::byte{'a'}};
    const auto out = encoded(s, data);
    REQUIRE(out.has_value());
    CHECK(*out == std::string("\0\xff"
                              "a",
                              3));
    CHECK(s.decode(*out) == data);
    CHECK(s.decode(std::string())->empty());
  }

  TEST_CASE("json_serializer: well-formed JSON both ways, unless told not to check") {
    const danube::json_serializer s;
    CHECK(encoded(s, danube::json_text(R"({"a":[1,2.5e3,true,null,"x"]})")) ==
          std::string(R"({"a":[1,2.5e3,true,null,"x"]})"));
    CHECK(encoded(s, danube::json_text("{")).error().code() == danube::errc::schema);
    CHECK(s.decode(" [ ] ")->text() == " [ ] ");
    CHECK(s.decode("{'a':1}").error().code() == danube::errc::schema);
    const danube::json_serializer lenient{.validate = false};
    CHECK(encoded(lenient, danube::json_text("{")) == std::string("{"));
    CHECK(lenient.decode("{")->text() == "{");
  }

  TEST_CASE("decode(serializer, message) moves the payload out and names the message on failure") {
    danube::message empty;
    const auto as_json = danube::decode(danube::json_serializer{}, empty);
    REQUIRE_FALSE(as_json.has_value());
    CHECK(as_json.error().code() == danube::errc::schema);
    CHECK(as_json.error().message().starts_with("cannot decode the message at offset 0"));
    CHECK(danube::decode(danube::string_serializer{}, empty) == std::string());
  }

  TEST_CASE("json_text") {
    CHECK(danube::json_text().text() == "null");
    CHECK(danube::json_text::quote("say \"hi\"\n") == R"("say \"hi\"\n")");
    CHECK(danube::json_text::parse("1")->str() == "1");
    CHECK(danube::json_text::parse("01").error().code() == danube::errc::schema);
    auto t = danube::json_text(R"("x")");
    CHECK(std::move(t).take() == R"("x")");
  }

  TEST_CASE("JSON scanner: the grammar, depth limit and string decoding") {
    namespace json = danube::detail::json;
    for (const std::string_view good : {"0", "-0.5e-3", R"("")", "true", "false", "null", "[]", "{}",
                                        R"( {"a" : [ 1 , {"b":null} ] } )", R"("\u00e9\ud83d\ude00\n\"")", "1E+2"}) {
      CHECK_MESSAGE(json::is_valid(good), good);
    }
    for (const std::string_view bad : {"", "01", "1.", ".5", "-", "[1,]", R"({"a"})", "{a:1}", "[1 2]", R"("\x")",
                                       R"("\ud83d")", R"("\ude00")", "tru", "nul", "1 2", "\"a\nb\"", R"({"a":1,})"}) {
      CHECK_MESSAGE(!json::is_valid(bad), bad);
    }
    CHECK(json::is_valid(std::string(64, '[') + std::string(64, ']')));
    CHECK_FALSE(json::is_valid(std::string(65, '[') + std::string(65, ']')));
    CHECK_FALSE(json::is_valid(std::string(100000, '[')));  // no deep recursion

    std::string out;
    CHECK(json::decode_string(R"("a\"b\\c\/\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00")", 0, out) != json::npos);
    CHECK(out == "a\"b\\c/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");

    std::string buffer = R"(xx"q\"\u00e9"yy)";
    const auto in_place = json::decode_string_in_place(buffer, 2);
    CHECK(in_place.text == "q\"\xc3\xa9");
    CHECK(in_place.end == buffer.size() - 2);

    std::string quoted;
    json::append_quoted(quoted, std::string_view("a\"\\\n\x01é", 7));
    CHECK(quoted == "\"a\\\"\\\\\\n\\u0001é\"");
  }
}
