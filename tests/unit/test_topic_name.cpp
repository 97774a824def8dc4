#include <danube/topic_name.hpp>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

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

  TEST_CASE("topic-name characters: the full Unicode Alphabetic and Numeric sets, as Rust's is_alphanumeric") {
    using danube::detail::is_unicode_alphanumeric;
    // Letters, marks and digits of scripts the old partial table refused.
    for (const char32_t c : {U'\u093E',  // DEVANAGARI VOWEL SIGN AA (Mc, Alphabetic)
                             U'\u0A85',  // GUJARATI LETTER A
                             U'\u0AE6',  // GUJARATI DIGIT ZERO (Nd)
                             U'\u0BF0',  // TAMIL NUMBER TEN (No)
                             U'\u16EE',  // RUNIC ARLAUG SYMBOL (Nl)
                             U'\u00B2',  // SUPERSCRIPT TWO (No)
                             U'\u0E31',  // THAI CHARACTER MAI HAN-AKAT (Mn, Alphabetic)
                             U'\u1000',  // MYANMAR LETTER KA
                             U'\U0001D400', U'\U00020000', U'\u00E9', U'z', U'0'}) {
      CAPTURE(static_cast<std::uint32_t>(c));
      CHECK(is_unicode_alphanumeric(c));
    }
    for (const char32_t c : {U' ', U'.', U'_', U'-', U'\u00B7', U'\u2028', U'\u0964',  // DEVANAGARI DANDA (Po)
                             U'\u0301',  // COMBINING ACUTE (Mn, not Alphabetic)
                             U'\U0001F600', U'\uFFFD', U'\U0010FFFF'}) {
      CAPTURE(static_cast<std::uint32_t>(c));
      CHECK_FALSE(is_unicode_alphanumeric(c));
    }
    CHECK(danube::validate_topic_name("/default/\u0915\u093E\u092E").has_value());  // काम
    CHECK(danube::validate_topic_name("/default/\u0A95\u0ABE\u0AAE").has_value());  // કામ
    CHECK_FALSE(danube::validate_topic_name("/default/\u0915\u0964").has_value());
  }

  TEST_CASE("the generated table is sorted, disjoint and not adjacent") {
    const auto& table = danube::detail::unicode_alphanumeric_ranges;
    CHECK(std::size(table) == danube::detail::unicode_alphanumeric_range_count);
    for (std::size_t i = 0; i < std::size(table); ++i) {
      CAPTURE(i);
      CHECK(table[i].first <= table[i].last);
      if (i > 0) {
        CHECK(table[i - 1].last + 1 < table[i].first);
      }
    }
  }

  TEST_CASE("partition names") {
    CHECK(danube::partition_topic_name("/default/orders", 2) == "/default/orders-part-2");
  }

  TEST_CASE("TopicPartitions filter: the topic itself and <topic>-part-<digits> only") {
    using danube::detail::is_topic_or_partition;
    const std::string foo = "/default/foo";
    CHECK(is_topic_or_partition(foo, "/default/foo"));
    CHECK(is_topic_or_partition(foo, "/default/foo-part-0"));
    CHECK(is_topic_or_partition(foo, "/default/foo-part-12"));
    CHECK_FALSE(is_topic_or_partition(foo, "/default/foo_np"));
    CHECK_FALSE(is_topic_or_partition(foo, "/default/foo-part-"));
    CHECK_FALSE(is_topic_or_partition(foo, "/default/foo-part-1x"));
    CHECK_FALSE(is_topic_or_partition(foo, "/default/foo-partition-1"));
    CHECK_FALSE(is_topic_or_partition(foo, "/default/foobar"));
    CHECK_FALSE(is_topic_or_partition(foo, "/default/fo"));
    CHECK_FALSE(is_topic_or_partition(foo, "/default/bar-part-1"));

    // A prefix-match answer as the broker gives it: ours kept in order, the rest handed back.
    std::vector<std::string> names{"/default/foo-part-0", "/default/foo-part-1",  "/default/foo-part-12",
                                   "/default/foo-part-",  "/default/foo-part-1x", "/default/foo-partition-1",
                                   "/default/foo_np",     "/default/foobar"};
    const auto dropped = danube::detail::keep_topic_and_partitions(foo, names);
    CHECK(names == std::vector<std::string>{"/default/foo-part-0", "/default/foo-part-1", "/default/foo-part-12"});
    CHECK(dropped == std::vector<std::string>{"/default/foo-part-", "/default/foo-part-1x", "/default/foo-partition-1",
                                              "/default/foo_np", "/default/foobar"});

    std::vector<std::string> itself{"/default/foo"};
    CHECK(danube::detail::keep_topic_and_partitions(foo, itself).empty());
    CHECK(itself == std::vector<std::string>{"/default/foo"});

    // Nothing of ours left: an empty list, as for an unknown topic.
    std::vector<std::string> strangers{"/default/foo_np", "/default/foobar"};
    CHECK(danube::detail::keep_topic_and_partitions(foo, strangers).size() == 2);
    CHECK(strangers.empty());
  }

  TEST_CASE("UTF-8 validation of topic names (danube::is_valid_utf8)") {
    CHECK(danube::is_valid_utf8("plain"));
    CHECK(danube::is_valid_utf8("\xc3\xa9t\xc3\xa9"));
    CHECK_FALSE(danube::is_valid_utf8("\xc3"));          // truncated
    CHECK_FALSE(danube::is_valid_utf8("\xc0\xaf"));      // overlong
    CHECK_FALSE(danube::is_valid_utf8("\xed\xa0\x80"));  // surrogate
    CHECK_FALSE(danube::is_valid_utf8("\xff"));
  }
}
