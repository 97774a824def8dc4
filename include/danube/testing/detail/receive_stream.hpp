// One ReceiveMessages call: a gRPC callback-API write reactor fed from its consumer's buffer.
// No thread per stream; at most one gRPC operation in flight per stream.
#pragma once

#include <danube/detail/proto.hpp>
#include <danube/testing/detail/broker_state.hpp>
#include <danube/testing/detail/delivery_stream.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

// Lifetime: the reactor holds a reference to itself until OnDone, so gRPC's pointer stays valid;
// the broker state and in-progress dispatches may hold further references, so a stream that ends
// while a dispatcher is about to wake it is never freed under it (after OnDone every call is a
// no-op).
//
// Locking: `mutex_` orders this stream's own operations and is taken before the state's lock, never
// after. No lock is held while calling into gRPC, because gRPC may run a completion inline.
class receive_stream final : public grpc::ServerWriteReactor<wire::StreamMessage>, public delivery_stream {
  struct private_tag {};

 public:
  receive_stream(broker_state& state, std::uint64_t consumer_id, private_tag /*unused*/)
      : state_(state), consumer_id_(consumer_id) {}

  // The reactor for a ReceiveMessages call on `consumer_id`: attached to the consumer, or finished
  // at once with the broker's error (NOT_FOUND for an unknown consumer).
  static grpc::ServerWriteReactor<wire::StreamMessage>* open(broker_state& state, std::uint64_t consumer_id) {
    auto stream = std::make_shared<receive_stream>(state, consumer_id, private_tag{});
    stream->self_ = stream;
    // Attaching runs a dispatch pass; nothing it throws (allocation failure) may reach gRPC.
    status_or<void> attached = reject(grpc::StatusCode::INTERNAL, "The embedded broker failed to attach the stream");
    try {
      attached = state.attach_stream(consumer_id, stream);
    } catch (...) {  // NOLINT(bugprone-empty-catch): answered with the INTERNAL set above
    }
    if (!attached) {
      stream->end(std::move(attached.error()));
    }
    return stream.get();
  }

  void wake() override {
    guarded_([this] { pump_(); });
  }

  void end(grpc::Status status) override {
    guarded_([&] {
      {
        const std::lock_guard lock(mutex_);
        if (finishing_) {
          return;
        }
        finishing_ = true;
        final_status_ = std::move(status);
      }
      pump_();
    });
  }

  void OnSendInitialMetadataDone(bool ok) override { operation_done_(ok); }
  void OnWriteDone(bool ok) override { operation_done_(ok); }

  // The client cancelled or went away (or the server is shutting down).
  void OnCancel() override {
    guarded_([this] {
      state_.stream_lost(consumer_id_, this);
      end(grpc::Status::CANCELLED);
    });
  }

  void OnDone() override {
    std::shared_ptr<receive_stream> last;
    try {
      state_.stream_lost(consumer_id_, this);
    } catch (...) {  // NOLINT(bugprone-empty-catch): OnDone must release the reactor whatever happens
    }
    {
      const std::lock_guard lock(mutex_);
      done_ = true;
      last = std::move(self_);
    }
    // `last` may be the final reference: *this can be destroyed when it goes out of scope.
  }

 private:
  enum class operation : std::uint8_t { none, metadata, write, finish };

  void operation_done_(bool ok) {
    guarded_([&] {
      {
        const std::lock_guard lock(mutex_);
        in_flight_ = false;
        if (!ok && !finishing_) {
          finishing_ = true;
          final_status_ = grpc::Status::CANCELLED;
        }
      }
      if (!ok) {
        state_.stream_lost(consumer_id_, this);
      }
      pump_();
    });
  }

  // Starts the next operation, if none is in flight: the response headers first (so the client
  // sees the stream open at once, as tonic clients expect), then buffered messages one by one, and
  // Finish once asked to end.
  void pump_() {
    operation next = operation::none;
    grpc::Status status;
    {
      const std::lock_guard lock(mutex_);
      if (done_ || finish_started_ || in_flight_) {
        return;
      }
      if (finishing_) {
        finish_started_ = true;
        status = final_status_;
        next = operation::finish;
      } else if (!metadata_sent_) {
        metadata_sent_ = true;
        in_flight_ = true;
        next = operation::metadata;
      } else if (auto message = state_.next_message(consumer_id_, this)) {
        current_ = std::move(*message);
        in_flight_ = true;
        next = operation::write;
      }
    }
    switch (next) {
      case operation::metadata: StartSendInitialMetadata(); break;
      case operation::write: StartWrite(&current_); break;
      case operation::finish: Finish(std::move(status)); break;
      case operation::none: break;
    }
  }

  // Keeps exceptions (allocation failure) out of gRPC's callback threads: the stream is finished
  // with INTERNAL instead.
  template <class F>
  void guarded_(F&& body) noexcept {
    try {
      std::forward<F>(body)();
    } catch (...) {
      fail_();
    }
  }

  void fail_() noexcept {
    try {
      bool finish = false;
      {
        const std::lock_guard lock(mutex_);
        if (!finishing_) {
          finishing_ = true;
          final_status_ = grpc::Status(grpc::StatusCode::INTERNAL, "The embedded broker failed to deliver");
        }
        if (!done_ && !finish_started_ && !in_flight_) {
          finish_started_ = true;
          finish = true;
        }
      }
      if (finish) {
        Finish(final_status_);
      }
    } catch (...) {  // NOLINT(bugprone-empty-catch): nothing left to report to
    }
  }

  broker_state& state_;
  const std::uint64_t consumer_id_;
  std::mutex mutex_;
  bool metadata_sent_ = false;
  bool in_flight_ = false;
  bool finishing_ = false;
  bool finish_started_ = false;
  bool done_ = false;
  grpc::Status final_status_;
  // The message being written; gRPC reads it until OnWriteDone.
  wire::StreamMessage current_;
  std::shared_ptr<receive_stream> self_;
};

}  // namespace danube::testing::detail
