// KeyShared key filters: the broker's glob patterns on routing keys
// (docs/protocol.md §6.3).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace danube::testing::detail {

// `*` matches any run of bytes (the empty one included), `?` exactly one byte, every other byte
// itself (case-sensitive); the whole key must match. Byte-wise, so `?` is one byte of a UTF-8 key,
// not one character. Linear backtracking over the last `*`: no recursion, no exponential cases.
// As upstream (consumer_state.rs, docs/protocol.md §6.3), a pattern byte that equals the key's
// byte (or is `?`) is taken as a literal match before a `*` is taken as a wildcard, so a `*` in the
// pattern meeting a `*` in the key is consumed as a literal without a backtracking point: `a*`
// does not match `a*b`. The pattern `*` alone matches every key.
[[nodiscard]] constexpr bool glob_match(std::string_view text, std::string_view pattern) noexcept {
  if (pattern == "*") {
    return true;
  }
  std::size_t t = 0;
  std::size_t p = 0;
  std::size_t star = std::string_view::npos;  // position of the last `*` seen in the pattern
  std::size_t resume = 0;                     // where the text resumes when that `*` eats one more byte
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

// A consumer without filters accepts every key; otherwise any matching pattern admits the key.
[[nodiscard]] inline bool accepts_key(const std::vector<std::string>& filters, std::string_view key) noexcept {
  if (filters.empty()) {
    return true;
  }
  for (const auto& pattern : filters) {
    if (glob_match(key, pattern)) {
      return true;
    }
  }
  return false;
}

}  // namespace danube::testing::detail
