// libFuzzer target: the topic-name validator (danube::validate_topic_name) and the UTF-8 check
// (danube::is_valid_utf8) that guards every name, attribute and key the client sends.
// Checked besides "no crash, no UB": is_valid_utf8 agrees with an independent table-driven
// validator (RFC 3629); a valid topic is valid UTF-8 with exactly three '/'-separated parts, and
// its partition names are valid topics too.
#include <danube/topic_name.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

void require(bool condition) {
  if (!condition) {
    std::abort();
  }
}

// RFC 3629 section 4, byte by byte: no overlongs, no surrogates, nothing past U+10FFFF.
bool reference_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c <= 0x7F) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned lo = 0x80;
    unsigned hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c == 0xE0) {
      length = 3;
      lo = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      length = 3;
    } else if (c == 0xED) {
      length = 3;
      hi = 0x9F;
    } else if (c == 0xF0) {
      length = 4;
      lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      length = 4;
    } else if (c == 0xF4) {
      length = 4;
      hi = 0x8F;
    } else {
      return false;
    }
    if (text.size() - i < length) {
      return false;
    }
    const auto second = static_cast<unsigned char>(text[i + 1]);
    if (second < lo || second > hi) {
      return false;
    }
    for (std::size_t k = 2; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if (next < 0x80 || next > 0xBF) {
        return false;
      }
    }
    i += length;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);  // NOLINT
  const bool utf8 = danube::is_valid_utf8(text);
  require(utf8 == reference_utf8(text));

  const auto topic = danube::validate_topic_name(text);
  if (!topic) {
    require(topic.error() == danube::errc::invalid_argument);
    return 0;
  }
  require(utf8);
  require(std::count(text.begin(), text.end(), '/') == 2);
  require(
      danube::validate_topic_name(danube::partition_topic_name(text, static_cast<std::uint32_t>(size))).has_value());
  return 0;
}
