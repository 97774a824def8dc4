// Where closed clients' channels are destroyed. A grpc::Channel must not be destroyed on one of
// gRPC's own callback threads (its destructor shuts down machinery those threads run on), yet the
// last reference to one can otherwise be dropped wherever the last callback of a closed client
// finishes. Closed clients hand their channels here; one process-wide thread destroys each once it
// holds the only reference. The thread starts on first use and is joined at exit.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/channel.h>

namespace danube::detail {

class channel_reaper {
 public:
  [[nodiscard]] static channel_reaper& instance() {
    static channel_reaper reaper;
    return reaper;
  }

  void retire(std::vector<std::shared_ptr<grpc::Channel>> channels) {
    if (channels.empty()) {
      return;
    }
    {
      std::lock_guard lock(mu_);
      for (auto& channel : channels) {
        retired_.push_back(std::move(channel));
      }
      if (!worker_.joinable()) {
        worker_ = std::thread([this] { run_(); });
      }
    }
    wake_.notify_one();
  }

  channel_reaper(const channel_reaper&) = delete;
  channel_reaper& operator=(const channel_reaper&) = delete;
  ~channel_reaper() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_one();
    if (worker_.joinable()) {
      worker_.join();
    }
  }

 private:
  channel_reaper() = default;

  void run_() {
    std::unique_lock lock(mu_);
    while (!stopping_ || !retired_.empty()) {
      std::vector<std::shared_ptr<grpc::Channel>> last_owner;
      std::erase_if(retired_, [&](std::shared_ptr<grpc::Channel>& channel) {
        // Nobody else can take a new reference (the client is closed): once we are the only
        // owner, we stay the only owner.
        if (channel.use_count() == 1) {
          last_owner.push_back(std::move(channel));
          return true;
        }
        return false;
      });
      lock.unlock();
      last_owner.clear();  // the destructors run here, on this thread
      lock.lock();
      if (stopping_) {
        // At exit nobody waits for in-flight calls any more; destroy the rest here.
        auto rest = std::move(retired_);
        retired_.clear();
        lock.unlock();
        rest.clear();
        lock.lock();
        break;
      }
      if (retired_.empty()) {
        wake_.wait(lock, [&] { return stopping_ || !retired_.empty(); });
      } else {
        wake_.wait_for(lock, std::chrono::milliseconds(50));
      }
    }
  }

  std::mutex mu_;
  std::condition_variable wake_;
  std::vector<std::shared_ptr<grpc::Channel>> retired_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace danube::detail
