// Topic names as the broker accepts them, checked client-side so a typo fails before any I/O.
#pragma once

#include <danube/detail/unicode_alnum.hpp>
#include <danube/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace danube {

namespace detail {

// Decodes one UTF-8 code point starting at `text[i]`, advancing `i`. Returns false on malformed
// input (which the broker, a Rust program, could never have received as a string).
inline bool next_code_point(std::string_view text, std::size_t& i, char32_t& out) noexcept {
  const auto lead = static_cast<unsigned char>(text[i]);
  std::size_t extra = 0;
  if (lead < 0x80U) {
    out = lead;
  } else if ((lead & 0xE0U) == 0xC0U) {
    out = lead & 0x1FU;
    extra = 1;
  } else if ((lead & 0xF0U) == 0xE0U) {
    out = lead & 0x0FU;
    extra = 2;
  } else if ((lead & 0xF8U) == 0xF0U) {
    out = lead & 0x07U;
    extra = 3;
  } else {
    return false;
  }
  if (i + extra >= text.size() && extra != 0) {
    return false;
  }
  for (std::size_t k = 1; k <= extra; ++k) {
    const auto cont = static_cast<unsigned char>(text[i + k]);
    if ((cont & 0xC0U) != 0x80U) {
      return false;
    }
    out = (out << 6U) | (cont & 0x3FU);
  }
  // Overlong encodings, surrogates and values past U+10FFFF are not valid UTF-8.
  static constexpr char32_t min_for_length[] = {0, 0x80, 0x800, 0x10000};
  if (out < min_for_length[extra] || out > 0x10FFFF || (out >= 0xD800 && out <= 0xDFFF)) {
    return false;
  }
  i += extra + 1;
  return true;
}

// Rust's char::is_alphanumeric, which the broker applies to topic names: Unicode Alphabetic or
// Numeric (Nd, Nl, No), from the generated table (scripts/gen_unicode_alnum.py).
inline bool is_unicode_alphanumeric(char32_t c) noexcept {
  const auto* const end = std::end(unicode_alphanumeric_ranges);
  const auto* const after = std::upper_bound(std::begin(unicode_alphanumeric_ranges), end, c,
                                             [](char32_t value, const code_point_range& r) { return value < r.first; });
  return after != std::begin(unicode_alphanumeric_ranges) && c <= (after - 1)->last;
}

}  // namespace detail

// True when `text` is valid UTF-8 (names, attribute keys and values travel as protobuf strings,
// which must be UTF-8).
[[nodiscard]] inline bool is_valid_utf8(std::string_view text) noexcept {
  std::size_t i = 0;
  char32_t c = 0;
  while (i < text.size()) {
    if (!detail::next_code_point(text, i, c)) {
      return false;
    }
  }
  return true;
}

// Checks a topic name with the broker's own rule: exactly three '/'-separated parts, each made of
// Unicode alphanumerics, '_' and '-'. The broker's quirks are kept (an empty or non-empty first
// part, empty segments, upper case), so a name this accepts is one the broker accepts.
// The error message is the broker's INVALID_ARGUMENT text.
[[nodiscard]] inline result<void> validate_topic_name(std::string_view topic) {
  const auto invalid = [&] {
    return unexpected_error(
        errc::invalid_argument,
        "The topic: " + std::string(topic) + " has an invalid format, should be: /namespace_name/topic_name");
  };
  std::size_t parts = 1;
  std::size_t i = 0;
  char32_t c = 0;
  while (i < topic.size()) {
    if (topic[i] == '/') {
      ++parts;
      ++i;
      continue;
    }
    if (!detail::next_code_point(topic, i, c)) {
      return invalid();
    }
    if (c != U'_' && c != U'-' && !detail::is_unicode_alphanumeric(c)) {
      return invalid();
    }
  }
  if (parts != 3) {
    return invalid();
  }
  return {};
}

// The most partitions a producer or consumer handles: each is a registration, a send pipeline or
// a stream, and a health check every interval. More is a mistake (a producer's partitions(100000),
// refused by build()) or a hostile broker answer (a consumer's TopicPartitions, refused by
// subscribe()).
inline constexpr std::uint32_t max_partitions = 1024;

// The name of partition `index` of a partitioned topic, as producers, consumers and the admin API
// all build it.
[[nodiscard]] inline std::string partition_topic_name(std::string_view base, std::uint32_t index) {
  return std::string(base) + "-part-" + std::to_string(index);
}

namespace detail {

// True when `name` is `topic` itself or one of its partitions, `<topic>-part-<decimal digits>`.
[[nodiscard]] constexpr bool is_topic_or_partition(std::string_view topic, std::string_view name) noexcept {
  if (!name.starts_with(topic)) {
    return false;
  }
  auto rest = name.substr(topic.size());
  if (rest.empty()) {
    return true;
  }
  constexpr std::string_view marker = "-part-";
  if (!rest.starts_with(marker) || rest.size() == marker.size()) {
    return false;
  }
  rest.remove_prefix(marker.size());
  return std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The one filter over a TopicPartitions answer (the client's topic_partitions() and every
// consumer's subscribe() go through it): keeps in `names`, in order, only `topic` and its
// partitions, each once, and returns the names it dropped. The broker answers by plain prefix
// match, so asking for /default/foo also lists /default/foo_np, whose messages are none of ours;
// a name listed twice would subscribe twice.
[[nodiscard]] inline std::vector<std::string> keep_topic_and_partitions(std::string_view topic,
                                                                        std::vector<std::string>& names) {
  // The first of equal names wins: sort the candidates' positions by name (stable, so equal names
  // stay in answer order) and keep each run's first. O(n log n) on a hostile answer of any size.
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (is_topic_or_partition(topic, names[i])) {
      order.push_back(i);
    }
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return names[a] < names[b]; });
  std::vector<bool> keep(names.size(), false);
  for (std::size_t k = 0; k < order.size(); ++k) {
    keep[order[k]] = k == 0 || names[order[k]] != names[order[k - 1]];
  }
  std::vector<std::string> kept;
  std::vector<std::string> dropped;
  for (std::size_t i = 0; i < names.size(); ++i) {
    (keep[i] ? kept : dropped).push_back(std::move(names[i]));
  }
  names = std::move(kept);
  return dropped;
}

}  // namespace detail

}  // namespace danube
