// The yardstick: the same RPCs as the client makes, through the bare generated stubs, against the
// same broker in the same run. Each request carries what the client's does (request id, producer
// name, publish time, the full msg_id, a deadline), so the difference is what the client adds.
// Plaintext only. Benchmark support, not part of the library.
#pragma once

#include "bench.hpp"
#include "histogram.hpp"
#include <danube/detail/proto.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

namespace danube_bench {

namespace wire = danube::detail::wire;

inline constexpr auto bare_deadline = std::chrono::seconds(30);  // the client's default send timeout

// A channel of its own (not shared with any client), as the client's channel is. `lane` is set as
// a channel argument so that several channels to one server never share a connection, as the
// client's connections_per_broker lanes do not.
inline std::shared_ptr<grpc::Channel> bare_channel(const std::string& url, int lane = 0) {
  std::string_view authority = url;
  if (authority.starts_with("http://")) {
    authority.remove_prefix(7);
  } else if (authority.starts_with("https://")) {
    fail("the bare-gRPC baseline speaks plaintext only: use an http:// --service-addr");
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("danube.bench_lane", lane);
  auto channel = grpc::CreateCustomChannel(std::string(authority), grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    fail(fmt::format("bare gRPC: could not connect to {}", url));
  }
  return channel;
}

inline void set_deadline(grpc::ClientContext& context) {
  context.set_deadline(std::chrono::system_clock::now() + bare_deadline);
}

// ---------------------------------------------------------------------------------------------
// Producing

class bare_producer {
 public:
  // Registers one producer per topic (the partitions of a partitioned topic), as the client does;
  // partition i sends on channels[i % channels.size()] (the client's lanes, round robin).
  bare_producer(const std::vector<std::shared_ptr<grpc::Channel>>& channels, std::string broker_url,
                const std::vector<std::string>& topics, const std::string& name, bool reliable) {
    for (const auto& channel : channels) {
      stubs_.push_back(wire::ProducerService::NewStub(channel));
    }
    for (std::size_t i = 0; i < topics.size(); ++i) {
      auto& stub = *stubs_[i % stubs_.size()];
      wire::ProducerRequest request;
      request.set_request_id(next_id_++);
      request.set_producer_name(topics.size() == 1 ? name : fmt::format("{}-{}", name, i));
      request.set_topic_name(topics[i]);
      request.set_dispatch_strategy(reliable ? wire::DispatchStrategy::Reliable : wire::DispatchStrategy::NonReliable);
      wire::ProducerResponse response;
      grpc::ClientContext context;
      set_deadline(context);
      if (const auto status = stub.CreateProducer(&context, request, &response); !status.ok()) {
        fail(fmt::format("bare CreateProducer on {}: {}", topics[i], status.error_message()));
      }
      wire::StreamMessage stamp;
      stamp.set_producer_name(request.producer_name());
      auto& id = *stamp.mutable_msg_id();
      id.set_producer_id(response.producer_id());
      id.set_topic_name(topics[i]);
      id.set_broker_addr(broker_url);
      stamps_.push_back(std::move(stamp));
    }
  }
  bare_producer(std::shared_ptr<grpc::Channel> channel, std::string broker_url, const std::vector<std::string>& topics,
                const std::string& name, bool reliable)
      : bare_producer(std::vector{std::move(channel)}, std::move(broker_url), topics, name, reliable) {}

  [[nodiscard]] std::size_t partitions() const noexcept { return stamps_.size(); }

  // A request for `partition` carrying `payload`; send() stamps the request id and publish time.
  [[nodiscard]] wire::StreamMessage request(std::size_t partition, std::string_view payload) const {
    wire::StreamMessage out = stamps_[partition % stamps_.size()];
    out.set_payload(std::string(payload));
    return out;
  }

  // SendMessage through the generated synchronous stub, on `partition`'s channel.
  grpc::Status send_sync(std::size_t partition, wire::StreamMessage& request) {
    stamp_(request);
    grpc::ClientContext context;
    set_deadline(context);
    wire::MessageResponse response;
    return stub_(partition).SendMessage(&context, request, &response);
  }

  // SendMessage through the callback API, on `partition`'s channel; `done` runs on a gRPC thread.
  void send_async(std::size_t partition, grpc::ClientContext& context, wire::StreamMessage& request,
                  wire::MessageResponse& response, std::function<void(grpc::Status)> done) {
    stamp_(request);
    set_deadline(context);
    stub_(partition).async()->SendMessage(&context, &request, &response, std::move(done));
  }

  // Blocking sends, one at a time, round robin over the partitions.
  throughput run_sync(std::string_view payload, run_limit limit, std::uint64_t warmup, histogram* latencies) {
    std::vector<wire::StreamMessage> requests;
    for (std::size_t p = 0; p < partitions(); ++p) {
      requests.push_back(request(p, payload));
    }
    for (std::uint64_t i = 0; i < warmup; ++i) {
      (void)send_sync(i % requests.size(), requests[i % requests.size()]);
    }
    throughput out;
    const auto start = clock::now();
    for (std::uint64_t i = 0; !limit.done(i, start); ++i) {
      const auto t = clock::now();
      if (send_sync(i % requests.size(), requests[i % requests.size()]).ok()) {
        ++out.messages;
      } else {
        ++out.errors;
      }
      if (latencies != nullptr) {
        latencies->record(clock::now() - t);
      }
    }
    out.seconds = seconds_since(start);
    return out;
  }

  // `window` calls in flight per partition on the callback API, each completion starting the next.
  throughput run_window(std::string_view payload, std::size_t window, run_limit limit, std::uint64_t warmup) {
    if (warmup > 0) {
      (void)window_pass_(payload, window, {warmup, {}});
    }
    return window_pass_(payload, window, limit);
  }

 private:
  void stamp_(wire::StreamMessage& request) {
    request.set_request_id(next_id_.fetch_add(1, std::memory_order_relaxed));
    request.set_publish_time(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count()));
  }

  [[nodiscard]] wire::ProducerService::Stub& stub_(std::size_t partition) const {
    return *stubs_[partition % stamps_.size() % stubs_.size()];
  }

  struct slot {
    std::unique_ptr<grpc::ClientContext> context;
    wire::StreamMessage request;
    wire::MessageResponse response;
    std::size_t partition = 0;
  };

  throughput window_pass_(std::string_view payload, std::size_t window, run_limit limit) {
    std::vector<std::unique_ptr<slot>> slots;
    for (std::size_t p = 0; p < partitions(); ++p) {
      for (std::size_t w = 0; w < window; ++w) {
        auto s = std::make_unique<slot>();
        s->request = request(p, payload);
        s->partition = p;
        slots.push_back(std::move(s));
      }
    }
    std::mutex mu;
    std::condition_variable idle;
    std::size_t in_flight = 0;
    std::atomic<std::uint64_t> started{0};
    std::atomic<std::uint64_t> completed{0};
    std::atomic<std::uint64_t> errors{0};
    const auto start = clock::now();
    std::function<void(slot&)> launch;
    launch = [&](slot& s) {
      s.context = std::make_unique<grpc::ClientContext>();
      send_async(s.partition, *s.context, s.request, s.response, [&, sp = &s](const grpc::Status& status) {
        (status.ok() ? completed : errors).fetch_add(1, std::memory_order_relaxed);
        if (!limit.done(started.load(std::memory_order_relaxed), start)) {
          started.fetch_add(1, std::memory_order_relaxed);
          launch(*sp);
          return;
        }
        std::lock_guard lock(mu);
        if (--in_flight == 0) {
          idle.notify_all();
        }
      });
    };
    {
      std::lock_guard lock(mu);
      in_flight = slots.size();
    }
    for (auto& s : slots) {
      started.fetch_add(1, std::memory_order_relaxed);
      launch(*s);
    }
    std::unique_lock lock(mu);
    idle.wait(lock, [&] { return in_flight == 0; });
    return {completed.load(), errors.load(), seconds_since(start), {}};
  }

  std::vector<std::unique_ptr<wire::ProducerService::Stub>> stubs_;  // one per channel
  std::vector<wire::StreamMessage> stamps_;
  std::atomic<std::uint64_t> next_id_{1};
};

// A bare pipeline for paced sends: at most `window` SendMessage calls in flight on the callback
// API, the rest queued in order (at most `queue_limit`, then send() blocks), the way the client's
// send_async works, minus everything else the client does.
class bare_pipeline {
 public:
  bare_pipeline(bare_producer& producer, std::size_t window, std::size_t queue_limit = 1000)
      : producer_(producer), window_(window), queue_limit_(queue_limit) {}

  // Queues `payload` (copied into the request).
  void send(std::string_view payload) {
    auto s = std::make_unique<slot>();
    s->request = producer_.request(0, payload);
    std::unique_lock lock(mu_);
    if (waiting_.size() >= queue_limit_) {
      ++blocked_;
      room_.wait(lock, [&] { return waiting_.size() < queue_limit_; });
      --blocked_;
    }
    if (in_flight_ >= window_) {
      waiting_.push_back(std::move(s));
      return;
    }
    ++in_flight_;
    lock.unlock();
    launch_(std::move(s));
  }

  // Waits until every queued send has been answered.
  void flush() {
    std::unique_lock lock(mu_);
    ++blocked_;
    room_.wait(lock, [&] { return waiting_.empty() && in_flight_ == 0; });
    --blocked_;
  }

  [[nodiscard]] std::uint64_t errors() const { return errors_.load(); }

 private:
  struct slot {
    grpc::ClientContext context;
    wire::StreamMessage request;
    wire::MessageResponse response;
  };

  void launch_(std::unique_ptr<slot> s) {
    auto* raw = s.release();
    producer_.send_async(0, raw->context, raw->request, raw->response, [this, raw](const grpc::Status& status) {
      delete raw;  // NOLINT(cppcoreguidelines-owning-memory): owned by the call until here
      if (!status.ok()) {
        errors_.fetch_add(1, std::memory_order_relaxed);
      }
      std::unique_ptr<slot> next;
      bool wake = false;
      {
        std::lock_guard lock(mu_);
        if (waiting_.empty()) {
          --in_flight_;
        } else {
          next = std::move(waiting_.front());
          waiting_.pop_front();
        }
        // Like the client's pending limit: a blocked sender is woken once a sixteenth of the queue
        // is free (not for every completion), and a flush once everything is done.
        wake = blocked_ > 0 && (waiting_.size() + std::max<std::size_t>(1, queue_limit_ / 16) <= queue_limit_ ||
                                (waiting_.empty() && in_flight_ == 0));
      }
      if (wake) {
        room_.notify_all();
      }
      if (next) {
        launch_(std::move(next));
      }
    });
  }

  bare_producer& producer_;
  const std::size_t window_;
  const std::size_t queue_limit_;
  std::mutex mu_;
  std::condition_variable room_;
  std::deque<std::unique_ptr<slot>> waiting_;
  std::size_t in_flight_ = 0;
  std::size_t blocked_ = 0;  // threads waiting in send() or flush()
  std::atomic<std::uint64_t> errors_{0};
};

// ---------------------------------------------------------------------------------------------
// Consuming

// Subscribe through the generated stub, then one ReceiveMessages stream read with the synchronous
// API on the calling thread. The reader has a channel of its own: in gRPC 1.51 a synchronous
// reader sharing its channel with callback-API calls (the publisher's) makes both erratic (tens of
// milliseconds of stalls), which would flatter the client.
class bare_consumer {
 public:
  bare_consumer(const std::string& url, const std::string& topic, const std::string& subscription,
                const std::string& name)
      : stub_(wire::ConsumerService::NewStub(bare_channel(url))) {
    wire::ConsumerRequest request;
    request.set_request_id(1);
    request.set_topic_name(topic);
    request.set_consumer_name(name);
    request.set_subscription(subscription);
    request.set_subscription_type(wire::ConsumerRequest::Exclusive);
    wire::ConsumerResponse response;
    grpc::ClientContext context;
    set_deadline(context);
    if (const auto status = stub_->Subscribe(&context, request, &response); !status.ok()) {
      fail(fmt::format("bare Subscribe on {}: {}", topic, status.error_message()));
    }
    wire::ReceiveRequest receive;
    receive.set_request_id(2);
    receive.set_consumer_id(response.consumer_id());
    reader_ = stub_->ReceiveMessages(&context_, receive);
    reader_->WaitForInitialMetadata();
  }

  bare_consumer(const bare_consumer&) = delete;
  bare_consumer& operator=(const bare_consumer&) = delete;
  ~bare_consumer() { close(); }

  // Blocks for the next message; false once the stream has ended.
  bool read(wire::StreamMessage& out) {
    if (ended_ || !reader_->Read(&out)) {
      ended_ = true;
      return false;
    }
    return true;
  }

  // Ends the stream (from any thread; a blocked read() then returns false).
  void cancel() { context_.TryCancel(); }

  void close() {
    if (reader_) {
      context_.TryCancel();
      wire::StreamMessage drain;
      while (!ended_ && reader_->Read(&drain)) {
      }
      (void)reader_->Finish();
      reader_.reset();
    }
  }

 private:
  std::unique_ptr<wire::ConsumerService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<wire::StreamMessage>> reader_;
  std::atomic<bool> ended_{false};
};

}  // namespace danube_bench
