// The payload argument of every send: text, bytes, or a std::string handed over without a copy.
#pragma once

#include <concepts>
#include <cstddef>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace danube {

// Views the caller's bytes (copied once, into the request) or takes ownership of an rvalue
// std::string (moved into the request: no copy at all). Only lives for the duration of a call.
class payload_arg {
 public:
  payload_arg(std::string_view text) noexcept : view_(text) {}    // NOLINT(google-explicit-constructor)
  payload_arg(const char* text) noexcept : view_(text) {}         // NOLINT(google-explicit-constructor)
  payload_arg(const std::string& text) noexcept : view_(text) {}  // NOLINT(google-explicit-constructor)
  payload_arg(std::string&& text) noexcept : owned_(std::move(text)), is_owned_(true) {}  // NOLINT
  payload_arg(std::span<const std::byte> bytes) noexcept  // NOLINT(google-explicit-constructor)
      : view_(reinterpret_cast<const char*>(bytes.data()), bytes.size()) {}
  template <std::ranges::contiguous_range Bytes>
  requires std::same_as<std::ranges::range_value_t<Bytes>, std::byte> payload_arg(const Bytes& bytes)
  noexcept  // NOLINT(google-explicit-constructor)
      : payload_arg(std::span<const std::byte>(std::ranges::data(bytes), std::ranges::size(bytes))) {}

  [[nodiscard]] std::size_t size() const noexcept { return is_owned_ ? owned_.size() : view_.size(); }
  [[nodiscard]] std::string_view view() const noexcept { return is_owned_ ? std::string_view(owned_) : view_; }
  // The bytes as a std::string: moved out when owned, copied when viewed.
  [[nodiscard]] std::string release() && { return is_owned_ ? std::move(owned_) : std::string(view_); }
  // The bytes into `out`: moved in when owned (no copy), else copied into out's own buffer (no
  // allocation when it is large enough already).
  void release_into(std::string& out) && {
    if (is_owned_) {
      out = std::move(owned_);
    } else {
      out.assign(view_);
    }
  }

 private:
  std::string_view view_;
  std::string owned_;
  bool is_owned_ = false;
};

}  // namespace danube
