// One ReceiveMessages server stream, read with gRPC's callback API (no thread of its own),
// feeding the consumer's receive_queue and pausing while that queue is full.
#pragma once

#include <danube/detail/grpc_status.hpp>
#include <danube/detail/message_access.hpp>
#include <danube/detail/proto.hpp>
#include <danube/detail/receive_queue.hpp>
#include <danube/detail/stats.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <grpcpp/grpcpp.h>

namespace danube::detail {

class stream_reader final : public grpc::ClientReadReactor<wire::StreamMessage>,
                            public paused_reader,
                            public std::enable_shared_from_this<stream_reader> {
 public:
  // Called once when the stream has ended, unless close() ended it.
  using on_end = std::function<void(const grpc::Status&)>;

  stream_reader(std::shared_ptr<receive_queue> queue, std::string subscription, on_end ended,
                std::shared_ptr<consumer_counters> stats)
      : queue_(std::move(queue)),
        subscription_(std::move(subscription)),
        ended_(std::move(ended)),
        stats_(std::move(stats)) {}

  [[nodiscard]] grpc::ClientContext& context() noexcept { return context_; }

  // Runs once, on a gRPC thread, when the broker has answered the call: with true once the stream
  // is open (the broker has attached it to its consumer: upstream and the embedded broker answer
  // the headers only after that), with false when the call failed before opening (OnDone
  // follows). Set before start().
  void when_open(std::function<void(bool)> opened) { opened_ = std::move(opened); }

  // Opens the stream for `consumer_id`. The reader keeps itself alive until the stream is done.
  void start(wire::ConsumerService::Stub& stub, std::uint64_t request_id, std::uint64_t consumer_id) {
    self_ = shared_from_this();
    request_.set_request_id(request_id);
    request_.set_consumer_id(consumer_id);
    stub.async()->ReceiveMessages(&context_, &request_, this);
    StartRead(&incoming_);
    // Reads are restarted from the application's thread after a pause (resume()), so the stream
    // needs a hold: it cannot finish under us while it is paused.
    AddHold();
    StartCall();
  }

  // Ends the stream and waits (bounded) until gRPC is done with it.
  void close(std::chrono::milliseconds bound) {
    bool release = false;
    {
      std::lock_guard lock(mu_);
      closing_ = true;
      release = paused_ && !hold_released_;
      if (release) {
        paused_ = false;
        hold_released_ = true;
      }
    }
    context_.TryCancel();
    if (release) {
      RemoveHold();
    }
    (void)finished_.wait_for(bound);
  }

  void resume() override {
    {
      std::lock_guard lock(mu_);
      if (!paused_ || hold_released_) {
        return;
      }
      paused_ = false;
    }
    StartRead(&incoming_);
  }

  void OnReadInitialMetadataDone(bool ok) override {
    if (opened_) {
      std::exchange(opened_, nullptr)(ok);
    }
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      release_hold_();
      return;
    }
    auto m = message_access::from_wire(incoming_, subscription_);
    incoming_.Clear();
    stats_->on_received(m, message_access::request_id(m));
    {
      // Paused from here on: once push() has registered us, resume() may restart reading.
      std::lock_guard lock(mu_);
      paused_ = true;
    }
    if (queue_->push(std::move(m), shared_from_this())) {
      {
        std::lock_guard lock(mu_);
        paused_ = false;
      }
      StartRead(&incoming_);
      return;
    }
    bool release = false;
    {
      std::lock_guard lock(mu_);
      if (closing_ && paused_ && !hold_released_) {
        release = true;
        hold_released_ = true;
        paused_ = false;
      }
    }
    if (release) {
      RemoveHold();
    }
  }

  void OnDone(const grpc::Status& status) override {
    bool report = false;
    {
      std::lock_guard lock(mu_);
      report = !closing_;
    }
    if (report && ended_) {
      ended_(status);
    }
    done_.set_value();
    self_.reset();  // may destroy this
  }

 private:
  void release_hold_() {
    {
      std::lock_guard lock(mu_);
      if (hold_released_) {
        return;
      }
      hold_released_ = true;
      paused_ = false;
    }
    RemoveHold();
  }

  std::shared_ptr<receive_queue> queue_;
  const std::string subscription_;
  on_end ended_;
  std::function<void(bool)> opened_;
  const std::shared_ptr<consumer_counters> stats_;
  grpc::ClientContext context_;
  wire::ReceiveRequest request_;
  wire::StreamMessage incoming_;
  std::shared_ptr<stream_reader> self_;
  std::mutex mu_;
  bool paused_ = false;
  bool hold_released_ = false;
  bool closing_ = false;
  std::promise<void> done_;
  std::shared_future<void> finished_ = done_.get_future().share();
};

}  // namespace danube::detail
