// Unary answers the broker holds back (injected delays and calls that never get an answer),
// without holding a gRPC thread: each is a reactor that finishes later, from a grpc::Alarm, when
// the client gives up (cancellation or deadline), or when the broker stops.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

namespace danube::testing::detail {

class deferred_answers;

// One held-back unary call. Owns itself (and is listed in its registry) until gRPC is done with
// it (OnDone); Finish runs exactly once, whichever of alarm, cancellation or shutdown comes first.
class deferred_call final : public grpc::ServerUnaryReactor {
  struct private_tag {};

 public:
  deferred_call(deferred_answers& owner, grpc::Status status, private_tag /*unused*/)
      : owner_(owner), status_(std::move(status)) {}

  deferred_call(const deferred_call&) = delete;
  deferred_call& operator=(const deferred_call&) = delete;
  deferred_call(deferred_call&&) = delete;
  deferred_call& operator=(deferred_call&&) = delete;
  ~deferred_call() override = default;

  // Finishes with `status` unless the call is already finished.
  void finish(grpc::Status status) {
    if (finished_.exchange(true)) {
      return;
    }
    Finish(std::move(status));
  }

  // The client cancelled or its deadline passed: nobody is waiting for the answer any more.
  void OnCancel() override { finish(grpc::Status::CANCELLED); }
  inline void OnDone() override;

 private:
  friend class deferred_answers;

  deferred_answers& owner_;
  grpc::Status status_;  // the answer a delayed call gives when its alarm rings
  std::atomic<bool> finished_{false};
  grpc::Alarm alarm_;
  std::shared_ptr<deferred_call> self_;
};

// The held-back calls of one broker.
class deferred_answers {
 public:
  deferred_answers() = default;
  deferred_answers(const deferred_answers&) = delete;
  deferred_answers& operator=(const deferred_answers&) = delete;
  deferred_answers(deferred_answers&&) = delete;
  deferred_answers& operator=(deferred_answers&&) = delete;
  ~deferred_answers() = default;

  // A reactor that answers `status` once `delay` has passed. While the broker is stopping, calls
  // are answered UNAVAILABLE at once instead.
  [[nodiscard]] grpc::ServerUnaryReactor* later(grpc::Status status, std::chrono::milliseconds delay) {
    auto call = hold_(std::move(status));
    call->alarm_.Set(std::chrono::system_clock::now() + delay, [weak = std::weak_ptr<deferred_call>(call)](bool ok) {
      if (const auto held = weak.lock(); held && ok) {
        held->finish(held->status_);
      }
    });
    return call.get();
  }

  // A reactor that never answers on its own: only the client giving up (its deadline, a
  // cancellation) or the broker stopping ends it.
  [[nodiscard]] grpc::ServerUnaryReactor* never() { return hold_(grpc::Status::OK).get(); }

  // Answers every held call with UNAVAILABLE (what a client of a broker that went away sees) and
  // holds no more; the first step of a shutdown.
  void close() {
    std::vector<std::shared_ptr<deferred_call>> held;
    {
      const std::lock_guard lock(mutex_);
      closed_ = true;
      for (auto& [raw, call] : calls_) {
        held.push_back(call);
      }
    }
    for (const auto& call : held) {
      call->finish(shutting_down_());
    }
  }

  // How many calls are being held right now.
  [[nodiscard]] std::size_t held() const {
    const std::lock_guard lock(mutex_);
    return calls_.size();
  }

 private:
  friend class deferred_call;

  [[nodiscard]] static grpc::Status shutting_down_() {
    return {grpc::StatusCode::UNAVAILABLE, "The broker is shutting down"};
  }

  // A registered call; once the broker is stopping, one already answered UNAVAILABLE instead.
  [[nodiscard]] std::shared_ptr<deferred_call> hold_(grpc::Status status) {
    auto call = std::make_shared<deferred_call>(*this, std::move(status), deferred_call::private_tag{});
    call->self_ = call;
    bool registered = false;
    {
      const std::lock_guard lock(mutex_);
      if (!closed_) {
        calls_.emplace(call.get(), call);
        registered = true;
      }
    }
    if (!registered) {
      call->finish(shutting_down_());
    }
    return call;
  }

  void release_(deferred_call* call) {
    std::shared_ptr<deferred_call> last;
    {
      const std::lock_guard lock(mutex_);
      if (const auto found = calls_.find(call); found != calls_.end()) {
        last = std::move(found->second);
        calls_.erase(found);
      }
    }
    // `last` may be the final reference besides the call's own.
  }

  mutable std::mutex mutex_;
  bool closed_ = false;
  std::unordered_map<const deferred_call*, std::shared_ptr<deferred_call>> calls_;
};

inline void deferred_call::OnDone() {
  std::shared_ptr<deferred_call> self = std::move(self_);
  owner_.release_(this);
  // *this is destroyed when `self` goes out of scope (if nothing else holds it).
}

}  // namespace danube::testing::detail
