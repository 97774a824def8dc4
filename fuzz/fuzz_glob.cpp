// libFuzzer target: the embedded broker's KeyShared glob matcher
// (danube::testing::detail::glob_match: '*' any run of bytes, '?' one byte, anchored).
// Input: pattern, a 0 byte, key. Checked besides "no crash, no UB": for keys without '*' the linear
// matcher agrees with a straightforward dynamic-programming matcher, and accepts_key agrees with it.
#include <danube/testing/detail/glob.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

void require(bool condition) {
  if (!condition) {
    std::abort();
  }
}

// Row i of the table: row[j] says whether text[0, i) matches pattern[0, j).
bool reference_glob(std::string_view text, std::string_view pattern) {
  std::vector<char> row(pattern.size() + 1, 0);
  row[0] = 1;
  for (std::size_t j = 1; j <= pattern.size(); ++j) {
    row[j] = static_cast<char>(pattern[j - 1] == '*' && row[j - 1] != 0);
  }
  for (const char t : text) {
    std::vector<char> next(pattern.size() + 1, 0);
    for (std::size_t j = 1; j <= pattern.size(); ++j) {
      const char p = pattern[j - 1];
      next[j] =
          static_cast<char>(p == '*' ? (next[j - 1] != 0 || row[j] != 0) : ((p == '?' || p == t) && row[j - 1] != 0));
    }
    row.swap(next);
  }
  return row[pattern.size()] != 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 256) {
    return 0;  // the reference is quadratic; short inputs find the same bugs
  }
  const std::string_view input(reinterpret_cast<const char*>(data), size);  // NOLINT
  const auto split = input.find('\0');
  const auto pattern = input.substr(0, split);
  const auto text = split == std::string_view::npos ? std::string_view() : input.substr(split + 1);
  const bool matched = danube::testing::detail::glob_match(text, pattern);
  // Upstream's matcher (reproduced) takes a pattern byte equal to the key's as a literal before a
  // `*` as a wildcard, so it differs from a plain glob only for keys that contain `*`.
  if (text.find('*') == std::string_view::npos) {
    require(matched == reference_glob(text, pattern));
  }
  require(danube::testing::detail::accepts_key({std::string(pattern)}, text) == matched);
  require(danube::testing::detail::accepts_key({}, text));
  return 0;
}
