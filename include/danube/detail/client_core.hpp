// The non-template heart of a client: settings, the channel pool, per-call preparation (deadline,
// auth, proxy header) and the registry of producers and consumers to close with the client.
// basic_client<Auth, Tls> only decides how this is configured.
#pragma once

#include <danube/detail/callback_queue_pin.hpp>
#include <danube/detail/callback_scope.hpp>
#include <danube/detail/channel_reaper.hpp>
#include <danube/detail/executor.hpp>
#include <danube/detail/grpc_status.hpp>
#include <danube/detail/metadata_value.hpp>
#include <danube/detail/proto.hpp>
#include <danube/detail/scheduler.hpp>
#include <danube/detail/service_url.hpp>
#include <danube/error.hpp>
#include <danube/logging.hpp>
#include <danube/policies/concepts.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

namespace danube::detail {

// Where a producer or consumer talks to: the broker's identity, the address to dial, and whether
// a proxy in between needs the `x-danube-broker-url` header.
struct broker_address {
  std::string broker_url;
  std::string connect_url;
  bool proxy = false;
};

struct client_settings {
  service_url url;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds call_timeout{30'000};
  std::chrono::milliseconds keepalive{30'000};
  std::chrono::milliseconds health_check_interval{5'000};
  std::size_t connections_per_broker = 1;  // channels (so connections) per broker address
  tls_configuration tls;
  log_sink logger;
  std::function<result<std::optional<std::string>>(const auth_context&)> authorization;
};

// Something a client closes when it is closed itself (producers, consumers).
class closable {
 public:
  closable() = default;
  closable(const closable&) = delete;
  closable& operator=(const closable&) = delete;
  virtual ~closable() = default;
  virtual void close() = 0;
};

class client_core : public std::enable_shared_from_this<client_core> {
 public:
  explicit client_core(client_settings settings) : settings_(std::move(settings)) {
    pin_callback_queue();  // before this client's first channel: see callback_queue_pin.hpp
    // Constructed before this client is, the reaper is destroyed after it, even when the client
    // lives at namespace scope and closes at exit (static objects die in reverse order).
    (void)channel_reaper::instance();
    if (settings_.tls.enabled) {
      grpc::SslCredentialsOptions options;
      options.pem_root_certs = settings_.tls.root_certificates;
      options.pem_cert_chain = settings_.tls.certificate_chain;
      options.pem_private_key = settings_.tls.private_key;
      credentials_ = grpc::SslCredentials(options);
    } else {
      credentials_ = grpc::InsecureChannelCredentials();
    }
  }

  client_core(const client_core&) = delete;
  client_core& operator=(const client_core&) = delete;
  ~client_core() { retire_channels_(); }

  [[nodiscard]] const client_settings& settings() const noexcept { return settings_; }

  [[nodiscard]] broker_address service_address() const {
    const auto url = settings_.url.to_string();
    return {url, url, false};
  }

  // The pooled channel for a connect_url: `connections_per_broker` per broker address (`lane`
  // picks one, modulo that count), shared by every producer, consumer and registry call of this
  // client. Control calls use lane 0; each partition's sends and stream use the lane it was given
  // by next_lane(), so one partition's messages stay on one connection (in order).
  [[nodiscard]] result<std::shared_ptr<grpc::Channel>> channel(const std::string& connect_url, std::size_t lane = 0) {
    lane %= lane_count_();
    std::lock_guard lock(mu_);
    if (closed_) {
      return unexpected_error(errc::closed, "the client is closed");
    }
    auto& lanes = channels_[connect_url];
    if (lane < lanes.size() && lanes[lane]) {
      return lanes[lane];
    }
    auto url = parse_service_url(connect_url);
    if (!url) {
      if (lanes.empty()) {
        channels_.erase(connect_url);
      }
      return std::unexpected(std::move(url).error());
    }
    if (url->tls != settings_.tls.enabled) {
      if (lanes.empty()) {
        channels_.erase(connect_url);
      }
      return unexpected_error(errc::invalid_argument,
                              "the broker address '" + connect_url + "' does not match the client's TLS setting");
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(settings_.keepalive.count()));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
    // Channels of different clients must not share connections: closing one client (or a test
    // restarting a broker) must not disturb another.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    // The lanes of one broker differ in their arguments too, so gRPC never merges them into one
    // subchannel (one connection), whatever the pool.
    args.SetInt("danube.connection_lane", static_cast<int>(lane));
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2'000);
    auto created = grpc::CreateCustomChannel(url->grpc_target(), credentials_, args);
    if (lanes.size() <= lane) {
      lanes.resize(lane + 1);
    }
    lanes[lane] = created;
    return created;
  }

  // The lane of the next partition producer or consumer: round robin over connections_per_broker.
  [[nodiscard]] std::size_t next_lane() noexcept {
    return lanes_.fetch_add(1, std::memory_order_relaxed) % lane_count_();
  }

  // Waits (at most the connect timeout) until the broker at `address` accepts connections.
  [[nodiscard]] result<std::shared_ptr<grpc::Channel>> connect(const broker_address& address) {
    auto ch = channel(address.connect_url);
    if (!ch) {
      return ch;
    }
    auto& c = **ch;
    if (c.GetState(true) != GRPC_CHANNEL_READY &&
        !c.WaitForConnected(std::chrono::system_clock::now() + settings_.connect_timeout)) {
      return unexpected_error(errc::unavailable, "could not connect to " + address.connect_url + " within " +
                                                     std::to_string(settings_.connect_timeout.count()) + " ms");
    }
    return ch;
  }

  // Deadline (none for std::nullopt: streams), authorization and proxy routing for one call.
  [[nodiscard]] result<void> prepare(grpc::ClientContext& context, const broker_address& address,
                                     std::optional<std::chrono::milliseconds> timeout) {
    if (timeout) {
      context.set_deadline(std::chrono::system_clock::now() + *timeout);
    }
    if (settings_.authorization) {
      auto header = settings_.authorization(auth_context_());
      if (!header) {
        return std::unexpected(std::move(header).error());
      }
      if (*header) {
        if (!is_legal_metadata_value(**header)) {
          // Never echo the header: it holds a credential.
          return unexpected_error(errc::unauthenticated,
                                  "the auth policy's authorization header has a byte gRPC cannot send (a control "
                                  "character such as a trailing newline, or non-ASCII)");
        }
        context.AddMetadata("authorization", **header);
      }
    }
    if (address.proxy) {
      auto header = proxy_header_value(address.broker_url);
      if (!is_legal_metadata_value(header)) {
        return unexpected_error(
            errc::invalid_argument,
            "the proxied broker URL has a byte gRPC cannot send (a control character or non-ASCII)");
      }
      context.AddMetadata("x-danube-broker-url", std::move(header));
    }
    return {};
  }
  [[nodiscard]] result<void> prepare(grpc::ClientContext& context, const broker_address& address) {
    return prepare(context, address, settings_.call_timeout);
  }

  [[nodiscard]] std::uint64_t next_request_id() noexcept {
    return request_ids_.fetch_add(1, std::memory_order_relaxed);
  }

  [[nodiscard]] scheduler& timers() noexcept { return timers_; }
  // Where message listeners run (one thread per client, started on first use).
  [[nodiscard]] executor& listeners() noexcept { return listeners_; }

  void log(log_level level, std::string_view message) const {
    if (settings_.logger) {
      settings_.logger(level, message);
    }
  }

  // Asks the broker at `address`, every health-check interval, whether it still knows producer or
  // consumer `id`; `on_close` runs (on a gRPC thread) each time it answers CLOSE. Errors are
  // logged and checking goes on. Returns the id for unwatch_health (0 once the client is closed).
  // The first check runs after `first_check` (at once by default, as the other Danube clients do).
  scheduler::task_id watch_health(const broker_address& address, wire::HealthCheckRequest::ClientType kind,
                                  std::uint64_t id, std::function<void()> on_close,
                                  std::chrono::milliseconds first_check = std::chrono::milliseconds::zero()) {
    struct watch {
      std::atomic<bool> in_flight{false};
      std::function<void()> on_close;
    };
    auto state = std::make_shared<watch>();
    state->on_close = std::move(on_close);
    auto check = [weak = weak_from_this(), address, kind, id, state] {
      const auto self = weak.lock();
      if (!self || state->in_flight.exchange(true)) {
        return;  // the previous check is still waiting for its answer
      }
      self->check_health_(address, kind, id, state, [state](bool close) {
        state->in_flight = false;
        if (close) {
          state->on_close();
        }
      });
    };
    return timers_.schedule(first_check, std::move(check), settings_.health_check_interval);
  }

  // Stops watching: no check starts after this returns.
  void unwatch_health(scheduler::task_id task) {
    if (task != 0) {
      timers_.cancel(task);
    }
  }

  // Registers a producer or consumer to close with the client; false once the client is closed
  // (the caller then closes it itself).
  [[nodiscard]] bool track(std::weak_ptr<closable> resource) {
    std::lock_guard lock(mu_);
    if (closed_) {
      return false;
    }
    std::erase_if(tracked_, [](const auto& w) { return w.expired(); });
    tracked_.push_back(std::move(resource));
    return true;
  }

  [[nodiscard]] bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }

  // Closes every producer and consumer made from this client, then drops the channels. A second
  // close() waits for the first to finish, except inside a library callback (which never waits).
  void close() {
    std::vector<std::weak_ptr<closable>> tracked;
    std::vector<std::shared_ptr<grpc::ClientContext>> exchanges;
    {
      std::unique_lock lock(mu_);
      if (closed_) {
        if (!inside_callback()) {
          close_finished_.wait(lock, [&] { return close_done_; });
        }
        return;
      }
      closed_ = true;
      tracked.swap(tracked_);
      exchanges = exchanges_;
    }
    for (const auto& exchange : exchanges) {
      exchange->TryCancel();
    }
    for (const auto& weak : tracked) {
      if (const auto resource = weak.lock()) {
        resource->close();
      }
    }
    timers_.stop();
    listeners_.stop();
    retire_channels_();
    {
      std::lock_guard lock(mu_);
      close_done_ = true;
    }
    close_finished_.notify_all();
  }

 private:
  [[nodiscard]] std::size_t lane_count_() const noexcept {
    return std::max<std::size_t>(1, settings_.connections_per_broker);
  }

  // Channels are never destroyed here: this may run on a gRPC callback thread (see
  // channel_reaper.hpp).
  void retire_channels_() {
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    {
      std::lock_guard lock(mu_);
      for (auto& [url, lanes] : channels_) {
        for (auto& channel : lanes) {
          if (channel) {
            channels.push_back(std::move(channel));
          }
        }
      }
      channels_.clear();
    }
    channel_reaper::instance().retire(std::move(channels));
  }

  [[nodiscard]] auth_context auth_context_() {
    return auth_context{[weak = weak_from_this()](std::string_view api_key) -> result<std::string> {
      const auto self = weak.lock();
      if (!self) {
        return unexpected_error(errc::closed, "the client is closed");
      }
      return self->exchange_api_key_(api_key);
    }};
  }

  // The legacy `/danube.AuthService/Authenticate` exchange at the service URL. Not behind the
  // broker's auth interceptor, so it carries no authorization header itself.
  [[nodiscard]] result<std::string> exchange_api_key_(std::string_view api_key) {
    auto ch = channel(service_address().connect_url);
    if (!ch) {
      return std::unexpected(std::move(ch).error());
    }
    auto stub = wire::AuthService::NewStub(*ch);
    // Registered so close() can cancel it: the exchange blocks whichever thread needed a token (a
    // health check on the scheduler thread, for one), and closing must not wait for its deadline.
    auto context = std::make_shared<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + settings_.call_timeout);
    {
      std::lock_guard lock(mu_);
      if (closed_) {
        return unexpected_error(errc::closed, "the client is closed");
      }
      exchanges_.push_back(context);
    }
    wire::AuthRequest request;
    request.set_api_key(std::string(api_key));
    wire::AuthResponse response;
    auto ok = check(stub->Authenticate(context.get(), request, &response));
    {
      std::lock_guard lock(mu_);
      std::erase(exchanges_, context);
    }
    if (!ok) {
      return std::unexpected(std::move(ok).error());
    }
    return std::move(*response.mutable_token());
  }

  template <class Watch, class Done>
  void check_health_(const broker_address& address, wire::HealthCheckRequest::ClientType kind, std::uint64_t id,
                     const std::shared_ptr<Watch>& /*keeps the watch alive*/, Done done) {
    struct call {
      grpc::ClientContext context;
      wire::HealthCheckRequest request;
      wire::HealthCheckResponse response;
      std::unique_ptr<wire::HealthCheck::Stub> stub;
    };
    auto ch = channel(address.connect_url);
    if (!ch) {
      done(false);
      return;
    }
    auto c = std::make_shared<call>();
    c->stub = wire::HealthCheck::NewStub(*ch);
    if (!prepare(c->context, address, std::min(settings_.health_check_interval, settings_.call_timeout))) {
      done(false);
      return;
    }
    c->request.set_request_id(next_request_id());
    c->request.set_client(kind);
    c->request.set_id(id);
    auto* raw = c.get();
    raw->stub->async()->HealthCheck(
        &raw->context, &raw->request, &raw->response,
        [weak = weak_from_this(), c = std::move(c), done = std::move(done)](const grpc::Status& status) {
          if (!status.ok()) {
            if (const auto self = weak.lock()) {
              self->log(log_level::debug, "health check failed: " + status.error_message());
            }
            done(false);
            return;
          }
          done(c->response.status() == wire::HealthCheckResponse::CLOSE);
        });
  }

  const client_settings settings_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  scheduler timers_;
  executor listeners_;
  mutable std::mutex mu_;
  std::condition_variable close_finished_;
  bool closed_ = false;
  // close() has returned (a second close() waits for it).
  bool close_done_ = false;
  std::map<std::string, std::vector<std::shared_ptr<grpc::Channel>>, std::less<>> channels_;  // by connect URL
  std::vector<std::weak_ptr<closable>> tracked_;
  std::vector<std::shared_ptr<grpc::ClientContext>> exchanges_;  // api-key exchanges in progress
  std::atomic<std::uint64_t> request_ids_{1};
  std::atomic<std::size_t> lanes_{0};
};

}  // namespace danube::detail
