// Acknowledging a batch of messages. The broker's Ack call names one message, so a batch is one
// call per message: at most `window` of them at once (a batch of a million messages must not
// become a million calls in flight), the next one started by each answer, on gRPC's callback
// API. The completion runs once, when every call has answered, with the first failure if any.
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/detail/topic_consumer.hpp>
#include <danube/error.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace danube::detail {

class ack_batch : public std::enable_shared_from_this<ack_batch> {
 public:
  using completion = std::function<void(result<void>)>;
  struct one {
    std::shared_ptr<topic_consumer> partition;
    wire::AckRequest request;  // a copy of what the broker needs: the messages may be gone by now
  };

  static constexpr std::size_t window = 64;

  // Starts the calls; `done` runs once (on a gRPC thread, or on this one for an empty batch).
  static void start(std::vector<one> acks, completion done) {
    if (acks.empty()) {
      done({});
      return;
    }
    const auto batch = std::shared_ptr<ack_batch>(new ack_batch(std::move(acks), std::move(done)));
    batch->pump_();
  }

 private:
  ack_batch(std::vector<one> acks, completion done) : acks_(std::move(acks)), done_(std::move(done)) {}

  // Starts calls while the window has room. A partition closed meanwhile fails its acks with
  // errc::closed instead of calling the broker (topic_consumer::ack, as a single ack). One thread
  // pumps at a time: an ack that fails at once (inline) must not recurse into another pump, or a
  // large batch on a closed client would nest one stack frame per message.
  void pump_() {
    {
      std::lock_guard lock(mu_);
      if (pumping_) {
        repump_ = true;
        return;
      }
      pumping_ = true;
    }
    for (;;) {
      one* next = nullptr;
      {
        std::lock_guard lock(mu_);
        if (started_ == acks_.size() || in_flight_ >= window) {
          if (!std::exchange(repump_, false)) {
            pumping_ = false;
            return;
          }
          continue;
        }
        next = &acks_[started_++];
        ++in_flight_;
      }
      next->partition->ack(std::move(next->request),
                           [self = shared_from_this()](result<void> outcome) { self->answered_(std::move(outcome)); });
    }
  }

  void answered_(result<void> outcome) {
    bool finished = false;
    {
      std::lock_guard lock(mu_);
      --in_flight_;
      ++answered_count_;
      if (!outcome && !failure_) {
        failure_ = std::move(outcome).error();
      }
      finished = answered_count_ == acks_.size();
    }
    if (finished) {
      auto done = std::move(done_);
      done(failure_ ? result<void>(std::unexpected(std::move(*failure_))) : result<void>());
      return;
    }
    pump_();
  }

  std::vector<one> acks_;
  completion done_;
  std::mutex mu_;
  std::size_t started_ = 0;
  std::size_t in_flight_ = 0;
  std::size_t answered_count_ = 0;
  bool pumping_ = false;  // a thread is in pump_'s loop
  bool repump_ = false;   // an answer came while it was: look again before leaving
  std::optional<error> failure_;
};

}  // namespace danube::detail
