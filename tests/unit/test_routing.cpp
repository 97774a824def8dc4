#include <danube/policies/routing.hpp>

#include <cstdint>
#include <string_view>

#include <doctest/doctest.h>

TEST_SUITE("routing") {
  TEST_CASE("FNV-1a 64 matches the published test vectors (and so the Rust/Go/Python clients)") {
    CHECK(danube::route::fnv1a_64("") == 0xcbf29ce484222325ULL);
    CHECK(danube::route::fnv1a_64("a") == 0xaf63dc4c8601ec8cULL);
    CHECK(danube::route::fnv1a_64("foobar") == 0x85944171f73967e8ULL);
    static_assert(danube::route::fnv1a_64("a") == 0xaf63dc4c8601ec8cULL, "usable at compile time");
  }

  TEST_CASE("keyed sends pick fnv1a_64(key) % partitions") {
    danube::route::key_hash router;
    CHECK(router.select_partition(std::string_view("a"), 3) == 0xaf63dc4c8601ec8cULL % 3);
    CHECK(router.select_partition(std::string_view("foobar"), 7) == 0x85944171f73967e8ULL % 7);
    danube::route::round_robin rr;
    CHECK(rr.select_partition(std::string_view("foobar"), 7) == 0x85944171f73967e8ULL % 7);
  }

  TEST_CASE("round robin starts at partition 0 and cycles") {
    danube::route::round_robin router;
    for (std::uint32_t i = 0; i < 7; ++i) {
      CHECK(router.select_partition(std::nullopt, 3) == i % 3);
    }
  }

  TEST_CASE("single partition") {
    const danube::route::single_partition router{2};
    CHECK(router.select_partition(std::nullopt, 3) == 2);
    CHECK(router.select_partition(std::string_view("k"), 3) == 2);
  }
}
