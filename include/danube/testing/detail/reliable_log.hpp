// The stored messages of a reliable topic, by offset: the embedded broker's stand-in for the real
// broker's per-topic WAL (docs/protocol.md §2.3).
#pragma once

#include <danube/detail/proto.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>

namespace danube::testing::detail {

namespace wire = ::danube::detail::wire;

// Offsets are the topic's 0-based counter (topic::next_offset). Only the messages some subscription
// has still to read are kept: a new subscription starts at the end (Latest), so nothing before the
// slowest subscription's read position can be asked for again.
class reliable_log {
 public:
  // `message` carries its assigned offset; offsets arrive contiguously.
  void append(const wire::StreamMessage& message) {
    if (entries_.empty()) {
      first_ = message.msg_id().topic_offset();
    }
    entries_.push_back(message);
  }

  // The message at `offset`, or nullptr when it is not (or no longer) stored.
  [[nodiscard]] const wire::StreamMessage* find(std::uint64_t offset) const noexcept {
    if (offset < first_ || offset - first_ >= entries_.size()) {
      return nullptr;
    }
    return &entries_[static_cast<std::size_t>(offset - first_)];
  }

  // Forgets every message before `offset`.
  void trim_before(std::uint64_t offset) {
    while (!entries_.empty() && first_ < offset) {
      entries_.pop_front();
      ++first_;
    }
  }

  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

 private:
  std::deque<wire::StreamMessage> entries_;
  std::uint64_t first_ = 0;  // offset of entries_.front()
};

}  // namespace danube::testing::detail
