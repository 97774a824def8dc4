// The producer of one topic (one partition of a partitioned producer): its registration on the
// owning broker and its ordered send pipeline over gRPC's callback API -- no thread of its own.
#pragma once

#include <danube/detail/client_core.hpp>
#include <danube/detail/grpc_status.hpp>
#include <danube/detail/lookup.hpp>
#include <danube/detail/proto.hpp>
#include <danube/detail/unary_call.hpp>
#include <danube/error.hpp>
#include <danube/message.hpp>
#include <danube/producer_options.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace danube::detail {

using send_completion = std::function<void(result<message_id>)>;

// One message on its way: the wire request plus what to do when the broker has answered.
struct send_op {
  wire::StreamMessage request;
  wire::MessageResponse response;
  std::unique_ptr<grpc::ClientContext> context;
  send_completion complete;
  std::optional<result<message_id>> outcome;  // set when the broker answered (or the send failed)
};

class topic_producer : public std::enable_shared_from_this<topic_producer> {
 public:
  topic_producer(std::shared_ptr<client_core> core, std::string topic, std::string name,
                 const producer_options& options)
      : core_(std::move(core)), topic_(std::move(topic)), name_(std::move(name)), options_(options) {}

  [[nodiscard]] const std::string& topic() const noexcept { return topic_; }

  // Looks the topic up and registers the producer on the broker that serves it (creating the
  // topic there if it is new). Blocking; called by the user's create().
  [[nodiscard]] result<void> create() {
    auto address = resolve_topic(*core_, core_->service_address(), topic_);
    if (!address) {
      return std::unexpected(std::move(address).error());
    }
    if (auto ch = core_->connect(*address); !ch) {
      return std::unexpected(std::move(ch).error());
    }
    wire::ProducerRequest request;
    request.set_request_id(core_->next_request_id());
    request.set_producer_name(name_);
    request.set_topic_name(topic_);
    request.set_producer_access_mode(options_.access == access_mode::exclusive ? wire::ProducerAccessMode::Exclusive
                                                                               : wire::ProducerAccessMode::Shared);
    request.set_dispatch_strategy(options_.dispatch == dispatch_strategy::reliable
                                      ? wire::DispatchStrategy::Reliable
                                      : wire::DispatchStrategy::NonReliable);
    auto response =
        unary_call<wire::ProducerService>(*core_, *address, &wire::ProducerService::Stub::CreateProducer, request);
    if (!response) {
      return std::unexpected(std::move(response).error());
    }
    auto ch = core_->channel(address->connect_url);
    if (!ch) {
      return std::unexpected(std::move(ch).error());
    }
    const auto producer_id = response->producer_id();
    const auto watch =
        core_->watch_health(*address, wire::HealthCheckRequest::Producer, producer_id, [weak = weak_from_this()] {
          if (const auto self = weak.lock()) {
            self->on_broker_close_();
          }
        });
    scheduler::task_id previous = 0;
    {
      std::lock_guard lock(mu_);
      address_ = std::move(*address);
      producer_id_ = producer_id;
      stub_ = wire::ProducerService::NewStub(*ch);
      previous = std::exchange(health_watch_, watch);
    }
    core_->unwatch_health(previous);
    return {};
  }

  // Queues one message; `op->complete` runs exactly once, in queue order, on a gRPC thread (or
  // on this thread if the producer is already closed).
  void send(std::shared_ptr<send_op> op) {
    {
      std::lock_guard lock(mu_);
      if (!closed_) {
        ops_.push_back(std::move(op));
        op = nullptr;
      }
    }
    if (op) {
      op->complete(unexpected_error(errc::closed, "the producer is closed"));
      return;
    }
    start_ready_();
  }

  // Waits until every queued send has completed (its completion has run).
  void flush() {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [&] { return ops_.empty() && !delivering_; });
  }

  // Fails queued sends with errc::closed, cancels those in flight, and returns once every
  // completion has run (still in queue order).
  void close() {
    std::vector<std::shared_ptr<send_op>> to_cancel;
    bool deliver = false;
    scheduler::task_id watch = 0;
    {
      std::lock_guard lock(mu_);
      if (closed_) {
        return;
      }
      closed_ = true;
      watch = std::exchange(health_watch_, 0);
      for (std::size_t i = 0; i < ops_.size(); ++i) {
        if (i >= started_) {
          ops_[i]->outcome = unexpected_error(errc::closed, "the producer was closed before the message was sent");
        } else if (!ops_[i]->outcome) {
          to_cancel.push_back(ops_[i]);
        }
      }
      deliver = !delivering_;
      delivering_ = true;
    }
    core_->unwatch_health(watch);
    for (const auto& op : to_cancel) {
      op->context->TryCancel();
    }
    if (deliver) {
      deliver_completed_();
    }
    std::unique_lock lock(mu_);
    idle_.wait(lock, [&] { return ops_.empty() && !delivering_; });
  }

 private:
  // The broker's health check answered CLOSE: it no longer knows this producer (topic moved or
  // unloaded, broker restarted).
  void on_broker_close_() {
    core_->log(log_level::warn, "health check: the broker answered CLOSE for producer " + name_ + " on " + topic_);
  }

  // Starts queued sends while the in-flight window has room. The RPCs are started outside the
  // lock (starting one never blocks, but a completion may run inline and take the lock).
  void start_ready_() {
    std::vector<std::shared_ptr<send_op>> starting;
    std::shared_ptr<wire::ProducerService::Stub> stub;
    broker_address address;
    {
      std::lock_guard lock(mu_);
      while (started_ < ops_.size() && in_flight_ < options_.max_in_flight && !closed_) {
        auto& op = ops_[started_];
        stamp_(*op);
        ++started_;
        ++in_flight_;
        starting.push_back(op);
      }
      if (starting.empty()) {
        return;
      }
      stub = stub_;
      address = address_;
    }
    for (auto& op : starting) {
      if (auto ok = core_->prepare(*op->context, address, options_.send_timeout); !ok) {
        finish_(*op, std::move(ok).error());
        continue;
      }
      auto* raw = op.get();
      stub->async()->SendMessage(raw->context.get(), &raw->request, &raw->response,
                                 [self = shared_from_this(), op = std::move(op)](const grpc::Status& status) {
                                   if (status.ok()) {
                                     self->finish_(*op, std::nullopt);
                                   } else {
                                     self->finish_(*op, error_from_grpc(status));
                                   }
                                 });
    }
  }

  // Called with mu_ held: fills in what depends on the current registration.
  void stamp_(send_op& op) {
    op.context = std::make_unique<grpc::ClientContext>();
    op.request.set_request_id(core_->next_request_id());
    auto& id = *op.request.mutable_msg_id();
    id.set_producer_id(producer_id_);
    id.set_topic_name(topic_);
    id.set_broker_addr(address_.broker_url);
    op.request.set_producer_name(name_);
  }

  // Records one outcome, then completes, in queue order, every send whose predecessors are done.
  // One thread at a time delivers (delivering_), so completions never overtake each other even
  // when answers arrive on several gRPC threads at once.
  void finish_(send_op& op, std::optional<error> failure) {
    bool deliver = false;
    {
      std::lock_guard lock(mu_);
      --in_flight_;
      if (failure) {
        op.outcome = closed_ && failure->code() == errc::cancelled
                         ? unexpected_error(errc::closed, "the producer was closed while the message was in flight")
                         : result<message_id>(std::unexpected(std::move(*failure)));
      } else {
        const auto& id = op.request.msg_id();
        op.outcome = message_id{id.producer_id(), id.topic_name(), id.broker_addr(), id.topic_offset()};
      }
      deliver = !delivering_;
      delivering_ = true;
    }
    if (deliver) {
      deliver_completed_();
    }
    start_ready_();
  }

  void deliver_completed_() {
    for (;;) {
      std::vector<std::shared_ptr<send_op>> done;
      {
        std::lock_guard lock(mu_);
        while (!ops_.empty() && ops_.front()->outcome) {
          done.push_back(std::move(ops_.front()));
          ops_.pop_front();
          started_ = started_ == 0 ? 0 : started_ - 1;  // sends failed by close() never started
        }
        if (done.empty()) {
          delivering_ = false;
          break;
        }
      }
      for (auto& finished : done) {
        finished->complete(std::move(*finished->outcome));
      }
    }
    idle_.notify_all();
  }

  const std::shared_ptr<client_core> core_;
  const std::string topic_;
  const std::string name_;
  const producer_options options_;

  std::mutex mu_;
  std::condition_variable idle_;
  broker_address address_;
  std::uint64_t producer_id_ = 0;
  std::shared_ptr<wire::ProducerService::Stub> stub_;
  scheduler::task_id health_watch_ = 0;
  std::deque<std::shared_ptr<send_op>> ops_;  // in submission order: [0, started_) started
  std::size_t started_ = 0;
  std::size_t in_flight_ = 0;
  bool delivering_ = false;
  bool closed_ = false;
};

}  // namespace danube::detail
