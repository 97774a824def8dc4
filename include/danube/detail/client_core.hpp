// The non-template heart of a client: settings, the channel pool, per-call preparation (deadline,
// auth, proxy header) and the registry of producers and consumers to close with the client.
// basic_client<Auth, Tls> only decides how this is configured.
#pragma once

#include <danube/detail/callback_queue_pin.hpp>
#include <danube/detail/callback_scope.hpp>
#include <danube/detail/channel_reaper.hpp>
#include <danube/detail/deadline.hpp>
#include <danube/detail/executor.hpp>
#include <danube/detail/grpc_status.hpp>
#include <danube/detail/metadata_value.hpp>
#include <danube/detail/proto.hpp>
#include <danube/detail/scheduler.hpp>
#include <danube/detail/service_url.hpp>
#include <danube/error.hpp>
#include <danube/logging.hpp>
#include <danube/policies/concepts.hpp>
#include <danube/stats.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
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
  // The auth policy, type-erased; client.hpp sets the one its form needs: the `authorization`
  // header (std::nullopt: none) or an error, returned, or handed to the completion exactly once on
  // any thread.
  std::function<result<std::optional<std::string>>(const auth_context&)> authorization;
  std::function<void(const auth_context&, auth_completion)> authorization_async;
  // Every stats_interval, on_stats gets every producer's and consumer's stats (unset: never).
  std::chrono::milliseconds stats_interval{0};
  std::function<void(const client_stats&)> on_stats;
  // The policy's: the broker answered UNAUTHENTICATED to a call whose header was asked for at that
  // time (a cached token it carried is dropped).
  std::function<void(std::chrono::steady_clock::time_point)> token_rejected;
  // How long one api-key exchange may take (the call timeout bounds it too): a broker that never
  // answers it must not keep the calls waiting for its token for ever.
  std::chrono::milliseconds exchange_timeout{10'000};
};

// Something a client closes when it is closed itself (producers, consumers).
class closable {
 public:
  closable() = default;
  closable(const closable&) = delete;
  closable& operator=(const closable&) = delete;
  virtual ~closable() = default;
  virtual void close() = 0;
  // Appends this resource's stats (for the client's periodic report).
  virtual void collect_stats(client_stats& /*out*/) {}
};

// Runs an asynchronous auth policy -- user code -- marked as a callback that must not block, as
// the synchronous form is (docs/reliability.md). An answer it gives before returning continues
// the library's own work on this thread, marked as this thread was before the policy ran.
template <class Call>
void call_marked_async_policy(Call call, auth_completion done) {
  const auto outer = current_callback_kind();
  const auto caller = std::this_thread::get_id();
  const auto running = std::make_shared<std::atomic<bool>>(true);
  {
    const callback_scope scope(callback_kind::completion);
    call([done = std::move(done), outer, caller, running](result<std::optional<std::string>> header) mutable {
      if (running->load() && std::this_thread::get_id() == caller) {
        const callback_scope restored(outer);
        done(std::move(header));
      } else {
        done(std::move(header));
      }
    });
  }
  running->store(false);
}

// The deadline gRPC gets for a call or a connect that may take `timeout` from now. Timeouts come
// from users (connect_timeout, call_timeout): `now + milliseconds::max()` would overflow into the
// past, so the sum saturates, and gRPC reads system_clock's last time point as "no deadline".
[[nodiscard]] inline std::chrono::system_clock::time_point call_deadline(std::chrono::milliseconds timeout) {
  return deadline_after<std::chrono::system_clock>(timeout);
}

// A call waiting for its token (client_core::prepare_async). abandon() ends the wait at once --
// the call's continuation runs with `why`, on this thread -- e.g. when the call's owner closes; a
// no-op once the wait is over.
class pending_prepare {
 public:
  pending_prepare() = default;
  pending_prepare(const pending_prepare&) = delete;
  pending_prepare& operator=(const pending_prepare&) = delete;
  virtual ~pending_prepare() = default;
  virtual void abandon(error why) = 0;
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
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, grpc_milliseconds_(settings_.keepalive));
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
    if (c.GetState(true) != GRPC_CHANNEL_READY && !c.WaitForConnected(call_deadline(settings_.connect_timeout))) {
      return unexpected_error(errc::unavailable, "could not connect to " + address.connect_url + " within " +
                                                     std::to_string(settings_.connect_timeout.count()) + " ms");
    }
    return ch;
  }

  // Prepares `context` for one call -- deadline (none for std::nullopt: streams), proxy header,
  // authorization -- and then runs `then(result<void>)`, exactly once. Never blocks: `then` runs
  // at once, on this thread, when the auth policy answers synchronously or has a token at hand;
  // otherwise on the thread that completes the token exchange (a gRPC thread), or with
  // errc::timeout on the scheduler thread when `timeout` passes first (an exchange may take longer
  // than a send may). The caller keeps `context` alive until `then` has run (its call object owns
  // both, and `then` holds the call object); a late answer never touches it. Returns the wait while
  // the call waits for a token (null otherwise), for its owner to abandon() when it closes.
  template <class Then>
  std::shared_ptr<pending_prepare> prepare_async(grpc::ClientContext& context, const broker_address& address,
                                                 std::optional<std::chrono::milliseconds> timeout, Then then) {
    if (timeout) {
      context.set_deadline(call_deadline(*timeout));
    }
    if (address.proxy) {
      auto header = proxy_header_value(address.broker_url);
      if (!is_legal_metadata_value(header)) {
        then(result<void>(
            unexpected_error(errc::invalid_argument,
                             "the proxied broker URL has a byte gRPC cannot send (a control character or non-ASCII)")));
        return nullptr;
      }
      context.AddMetadata("x-danube-broker-url", std::move(header));
    }
    if (settings_.authorization) {
      then(authorize_(this, context, settings_.authorization(auth_context_())));
      return nullptr;
    }
    if (!settings_.authorization_async) {
      then(result<void>());
      return nullptr;
    }
    // Whoever ends the wait first runs `then`: the policy's answer, the timer at the deadline, or
    // abandon() (its owner closing, or this client: close() ends every wait).
    struct waiting final : pending_prepare {
      std::mutex mu;
      std::optional<Then> then;
      std::weak_ptr<client_core> core;
      scheduler::task_id timer = 0;
      std::uint64_t id = 0;  // in the client's token_waits_

      // The one that gets `then` ends the wait; the others find it over (the call may be gone,
      // its context with it).
      [[nodiscard]] std::optional<Then> take(scheduler::task_id& pending_timer) {
        std::optional<Then> taken;
        std::uint64_t registered = 0;
        {
          std::lock_guard lock(mu);
          pending_timer = timer;
          registered = id;
          if (then) {  // (a lambda is not assignable: moved into place)
            taken.emplace(std::move(*then));
            then.reset();
          }
        }
        if (taken && registered != 0) {
          if (const auto self = core.lock()) {
            self->forget_token_wait_(registered);
          }
        }
        return taken;
      }
      void cancel_timer(scheduler::task_id pending_timer) const {
        if (const auto self = core.lock(); self && pending_timer != 0) {
          self->timers_.discard(pending_timer);  // a late run finds the wait over
        }
      }
      void abandon(error why) override {
        scheduler::task_id pending_timer = 0;
        if (auto taken = take(pending_timer)) {
          cancel_timer(pending_timer);
          (*taken)(result<void>(std::unexpected(std::move(why))));
        }
      }
    };
    auto w = std::make_shared<waiting>();
    w->then.emplace(std::move(then));
    w->core = weak_from_this();
    settings_.authorization_async(auth_context_(), [w, &context](result<std::optional<std::string>> header) {
      scheduler::task_id pending_timer = 0;
      if (auto taken = w->take(pending_timer)) {
        auto ready = authorize_(w->core.lock().get(), context, std::move(header));
        w->cancel_timer(pending_timer);
        (*taken)(std::move(ready));
      }
    });
    std::optional<Then> refused;
    std::optional<error> why;
    {
      std::lock_guard lock(w->mu);
      if (!w->then) {
        return nullptr;  // answered at once
      }
      // Registered only now, so that a token at hand costs nothing here. close() ends every
      // registered wait; a closed client (or one with too many waiting) refuses it instead.
      if (auto registered = register_token_wait_(w, w->id); !registered) {
        refused.emplace(std::move(*w->then));
        w->then.reset();
        why = std::move(registered).error();
      } else if (timeout) {
        w->timer = timers_.schedule(*timeout, [w] {
          scheduler::task_id unused = 0;
          if (auto taken = w->take(unused)) {
            (*taken)(result<void>(unexpected_error(
                errc::timeout, "no token within the call's deadline: the api key exchange is still running")));
          }
        });
      }
    }
    if (refused) {
      (*refused)(result<void>(std::unexpected(std::move(*why))));
      return nullptr;
    }
    return w;
  }

  // The blocking form, for calls made on the application's thread (lookups, the schema registry):
  // waits for the token exchange when one is needed.
  [[nodiscard]] result<void> prepare(grpc::ClientContext& context, const broker_address& address) {
    auto prepared = std::make_shared<std::promise<result<void>>>();
    auto outcome = prepared->get_future();
    prepare_async(context, address, settings_.call_timeout,
                  [prepared](result<void> ok) { prepared->set_value(std::move(ok)); });
    return outcome.get();
  }

  // What every call that carried the auth policy's header reports when it ended, with when it
  // asked for that header (before prepare_async): UNAUTHENTICATED tells the policy its token was
  // rejected (a cached one is then dropped).
  void on_call_status(const grpc::Status& status, std::chrono::steady_clock::time_point prepared) const {
    if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED && settings_.token_rejected) {
      settings_.token_rejected(prepared);
    }
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
    {
      std::lock_guard lock(mu_);
      if (closed_) {
        return false;
      }
      std::erase_if(tracked_, [](const auto& w) { return w.expired(); });
      tracked_.push_back(std::move(resource));
      if (reporting_ || !settings_.on_stats) {
        return true;
      }
      reporting_ = true;
    }
    start_stats_reports_();
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
    // The scheduler stops below, and with it every wait's deadline: end the waits left (calls
    // through async_unary or prepare() have no other owner that would).
    abandon_token_waits_();
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
  // A duration for a gRPC int argument: at most INT_MAX ms (gRPC's own "never" for keep-alive).
  [[nodiscard]] static int grpc_milliseconds_(std::chrono::milliseconds d) noexcept {
    return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(d.count(), 0, std::numeric_limits<int>::max()));
  }

  [[nodiscard]] std::size_t lane_count_() const noexcept {
    return std::max<std::size_t>(1, settings_.connections_per_broker);
  }

  // The periodic stats report, from the first producer or consumer on. The scheduler only triggers
  // it: the snapshot and the user's callback run on the listener thread (user code there may block
  // and call any public function, close() included), one report at a time; a tick that finds the
  // previous report still queued or running is skipped. close() stops the scheduler, then the
  // listener thread: no report starts after close() returned.
  void start_stats_reports_() {
    timers_.schedule(
        settings_.stats_interval,
        [weak = weak_from_this()] {
          const auto self = weak.lock();
          if (!self || self->report_queued_.exchange(true)) {
            return;
          }
          if (!self->listeners_.post([weak] {
                if (const auto again = weak.lock()) {
                  again->report_stats_();
                }
              })) {
            self->report_queued_ = false;
          }
        },
        settings_.stats_interval);
  }

  void report_stats_() {
    std::vector<std::weak_ptr<closable>> tracked;
    {
      std::lock_guard lock(mu_);
      if (closed_) {
        return;
      }
      tracked = tracked_;
    }
    client_stats all;
    for (const auto& weak : tracked) {
      if (const auto resource = weak.lock()) {
        resource->collect_stats(all);
      }
    }
    report_queued_ = false;  // from here on a tick may queue the next report (it runs after this one)
    const callback_scope scope(callback_kind::listener);
    settings_.on_stats(all);
  }

  // At most this many calls of one client wait for a token at once; one more fails at once with
  // errc::unavailable (retryable): memory stays bounded while an exchange hangs.
  static constexpr std::size_t max_token_waits = 65'536;

  // Registers a call waiting for its token (refused once the client is closed, or when too many
  // wait); `id` is what forget_token_wait_ takes.
  [[nodiscard]] result<void> register_token_wait_(const std::shared_ptr<pending_prepare>& wait, std::uint64_t& id) {
    std::lock_guard lock(waits_mu_);
    if (waits_closed_) {
      return unexpected_error(errc::closed, "the client is closed");
    }
    if (token_waits_.size() >= max_token_waits) {
      return unexpected_error(errc::unavailable, "too many calls (" + std::to_string(max_token_waits) +
                                                     ") of this client are waiting for a token");
    }
    id = ++last_token_wait_;
    token_waits_.emplace(id, wait);
    return {};
  }
  void forget_token_wait_(std::uint64_t id) {
    std::lock_guard lock(waits_mu_);
    token_waits_.erase(id);
  }
  // Ends every token wait with errc::closed (their continuations run here); later waits are
  // refused at once.
  void abandon_token_waits_() {
    std::vector<std::weak_ptr<pending_prepare>> waits;
    {
      std::lock_guard lock(waits_mu_);
      waits_closed_ = true;
      waits.reserve(token_waits_.size());
      for (auto& [id, wait] : token_waits_) {
        waits.push_back(std::move(wait));
      }
      token_waits_.clear();
    }
    for (const auto& weak : waits) {
      if (const auto wait = weak.lock()) {
        wait->abandon(error(errc::closed, "the client was closed while the call waited for its token"));
      }
    }
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

  // Puts the auth policy's answer on the call, or says why the call cannot go (`self` is null when
  // the client is gone).
  [[nodiscard]] static result<void> authorize_(const client_core* self, grpc::ClientContext& context,
                                               result<std::optional<std::string>> header) {
    if (self == nullptr || self->closed()) {
      return unexpected_error(errc::closed, "the client is closed");
    }
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
      context.AddMetadata("authorization", std::move(**header));
    }
    return {};
  }

  [[nodiscard]] auth_context auth_context_() {
    return auth_context{
        [weak = weak_from_this()](std::string_view api_key, std::function<void(result<std::string>)> done) {
          const auto self = weak.lock();
          if (!self) {
            done(unexpected_error(errc::closed, "the client is closed"));
            return;
          }
          self->exchange_api_key_(api_key, std::move(done));
        }};
  }

  // The legacy `/danube.AuthService/Authenticate` exchange at the service URL, on gRPC's callback
  // API: `done` runs once, on a gRPC thread (or at once if the call cannot start). Not behind the
  // broker's auth interceptor, so it carries no authorization header itself. Registered so that
  // close() cancels it (then errc::closed: the exchange was this client's).
  void exchange_api_key_(std::string_view api_key, std::function<void(result<std::string>)> done) {
    struct call {
      std::shared_ptr<grpc::ClientContext> context = std::make_shared<grpc::ClientContext>();
      wire::AuthRequest request;
      wire::AuthResponse response;
      std::unique_ptr<wire::AuthService::Stub> stub;
    };
    auto ch = channel(service_address().connect_url);
    if (!ch) {
      done(std::unexpected(std::move(ch).error()));
      return;
    }
    auto c = std::make_shared<call>();
    c->stub = wire::AuthService::NewStub(*ch);
    c->context->set_deadline(call_deadline(std::min(settings_.call_timeout, settings_.exchange_timeout)));
    c->request.set_api_key(std::string(api_key));
    {
      std::unique_lock lock(mu_);
      if (closed_) {
        lock.unlock();
        done(unexpected_error(errc::closed, "the client is closed"));
        return;
      }
      exchanges_.push_back(c->context);
    }
    auto* raw = c.get();
    raw->stub->async()->Authenticate(
        raw->context.get(), &raw->request, &raw->response,
        [weak = weak_from_this(), c, done = std::move(done)](const grpc::Status& status) {
          bool closed = true;
          if (const auto self = weak.lock()) {
            std::lock_guard lock(self->mu_);
            std::erase(self->exchanges_, c->context);
            closed = self->closed_;
          }
          if (!status.ok()) {
            done(closed && status.error_code() == grpc::StatusCode::CANCELLED
                     ? unexpected_error(errc::closed, "the client was closed during the api key exchange")
                     : std::unexpected(error_from_uncancelled_call(status)));
            return;
          }
          done(std::move(*c->response.mutable_token()));
        });
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
    c->request.set_request_id(next_request_id());
    c->request.set_client(kind);
    c->request.set_id(id);
    auto* raw = c.get();
    prepare_async(raw->context, address, std::min(settings_.health_check_interval, settings_.call_timeout),
                  [weak = weak_from_this(), c, done = std::move(done),
                   asked = std::chrono::steady_clock::now()](result<void> prepared) mutable {
                    if (!prepared) {
                      if (const auto self = weak.lock()) {
                        self->log(log_level::debug, "health check not sent: " + prepared.error().message());
                      }
                      done(false);
                      return;
                    }
                    auto* started = c.get();
                    started->stub->async()->HealthCheck(
                        &started->context, &started->request, &started->response,
                        [weak, c = std::move(c), done = std::move(done), asked](const grpc::Status& status) {
                          if (!status.ok()) {
                            if (const auto self = weak.lock()) {
                              self->on_call_status(status, asked);
                              self->log(log_level::debug, "health check failed: " + status.error_message());
                            }
                            done(false);
                            return;
                          }
                          done(c->response.status() == wire::HealthCheckResponse::CLOSE);
                        });
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
  std::vector<std::shared_ptr<grpc::ClientContext>> exchanges_;                    // api-key exchanges in progress
  std::mutex waits_mu_;                                                            // a leaf: guards the three below
  std::unordered_map<std::uint64_t, std::weak_ptr<pending_prepare>> token_waits_;  // calls waiting for a token
  std::uint64_t last_token_wait_ = 0;
  bool waits_closed_ = false;
  std::atomic<std::uint64_t> request_ids_{1};
  std::atomic<std::size_t> lanes_{0};
  bool reporting_ = false;                  // the stats report is scheduled (under mu_)
  std::atomic<bool> report_queued_{false};  // a stats report is queued or being collected
};

}  // namespace danube::detail
