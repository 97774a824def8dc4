// basic_client<Auth, Tls>: the entry point. Owns the connections (pooled gRPC channels, one per
// broker address unless connections_per_broker(n)) and everything made from it; closing it closes its producers and
// consumers.
//
//   auto client = danube::client::builder().service_url("http://127.0.0.1:6650").build();
//   auto producer = client->new_producer().topic("/default/orders").name("writer").build();
//
// Auth and Tls are compile-time policies (docs/policies.md). A policy that sends credentials
// over plaintext does not compile unless the plaintext policy is tls::plaintext_insecure.
#pragma once

#include <danube/consumer.hpp>
#include <danube/detail/callback_scope.hpp>
#include <danube/detail/client_core.hpp>
#include <danube/detail/lookup.hpp>
#include <danube/detail/service_url.hpp>
#include <danube/error.hpp>
#include <danube/logging.hpp>
#include <danube/lookup.hpp>
#include <danube/policies/auth.hpp>
#include <danube/policies/concepts.hpp>
#include <danube/policies/tls.hpp>
#include <danube/producer.hpp>
#include <danube/schema_registry.hpp>
#include <danube/stats.hpp>
#include <danube/topic_name.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace danube {

// The most connections_per_broker() accepts: each is a TCP connection with its own HTTP/2 buffers.
inline constexpr std::size_t max_connections_per_broker = 64;

// The longest stats_interval: reports more than a day apart are a mistake (and milliseconds::max()
// would overflow the scheduler's clock arithmetic).
inline constexpr std::chrono::milliseconds max_stats_interval = std::chrono::hours(24);

template <auth_policy Auth, tls_policy Tls>
class basic_client_builder;

template <auth_policy Auth = auth::none, tls_policy Tls = tls::plaintext>
class basic_client {
  static_assert(!Auth::sends_credentials || !Tls::is_plaintext || Tls::allows_credentials_in_clear,
                "danube: this auth policy sends credentials, which must not travel in clear over tls::plaintext. "
                "Use a TLS policy (tls::system_roots, tls::ca_file, tls::mutual), or opt in explicitly with "
                "tls::plaintext_insecure.");

 public:
  using auth_type = Auth;
  using tls_type = Tls;

  [[nodiscard]] static basic_client_builder<Auth, Tls> builder() { return {}; }

  basic_client(basic_client&&) noexcept = default;
  // Closes the client this one was (and everything made from it), then takes `other`'s place.
  basic_client& operator=(basic_client&& other) noexcept {
    if (this != &other) {
      if (const auto replaced = std::exchange(core_, std::move(other.core_))) {
        replaced->close();
      }
    }
    return *this;
  }
  basic_client(const basic_client&) = delete;
  basic_client& operator=(const basic_client&) = delete;
  // Closes the client and everything made from it.
  ~basic_client() {
    if (core_) {
      core_->close();
    }
  }

  // A builder for a producer of this client; name the producer type to choose its policies:
  //   client.new_producer<danube::basic_producer<danube::retry::none, danube::route::key_hash>>()
  template <class Producer = producer>
  [[nodiscard]] auto new_producer() const {
    return basic_producer_builder<typename Producer::retry_policy_type, typename Producer::router_type>(core_);
  }

  template <class Consumer = consumer>
  [[nodiscard]] auto new_consumer() const {
    return basic_consumer_builder<typename Consumer::retry_policy_type>(core_);
  }

  // Which broker serves `topic`, asked of the service URL.
  [[nodiscard]] result<topic_lookup> lookup_topic(std::string_view topic) const {
    const auto core = core_;  // held for the call: the logger may destroy this handle meanwhile
    if (auto ok = usable_(core, topic); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    return detail::lookup_topic(*core, core->service_address(), topic);
  }

  // The partition topics of `topic` ([topic] itself when it is not partitioned; [] if unknown).
  // Other names the broker's prefix match lists (e.g. <topic>_np) are dropped and logged at debug.
  [[nodiscard]] result<std::vector<std::string>> topic_partitions(std::string_view topic) const {
    const auto core = core_;
    if (auto ok = usable_(core, topic); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    return detail::topic_partitions(*core, core->service_address(), topic);
  }

  // The schema registry, through this client's connections (docs/schema-registry.md).
  [[nodiscard]] ::danube::schema_registry schema_registry() const {
    return ::danube::schema_registry(core_ ? core_ : closed_core_());
  }

  // Closes every producer and consumer made from this client and drops its connections.
  // Idempotent, and a no-op on a moved-from client; later calls fail with errc::closed. Inside a
  // library callback it does not wait for the client's other threads and callbacks: they finish
  // after the callback returned (docs/reliability.md).
  void close() {
    if (const auto core = core_) {
      core->close();
    }
  }

 private:
  friend class basic_client_builder<Auth, Tls>;
  explicit basic_client(std::shared_ptr<detail::client_core> core) : core_(std::move(core)) {}

  // What a moved-from client's registry handle uses: every call fails with errc::closed.
  [[nodiscard]] static std::shared_ptr<detail::client_core> closed_core_() {
    static const auto closed = [] {
      auto core = std::make_shared<detail::client_core>(detail::client_settings{});
      core->close();
      return core;
    }();
    return closed;
  }

  [[nodiscard]] static result<void> usable_(const std::shared_ptr<detail::client_core>& core, std::string_view topic) {
    if (!core) {
      return unexpected_error(errc::closed, "the client was moved from");
    }
    return validate_topic_name(topic);
  }

  std::shared_ptr<detail::client_core> core_;
};

using client = basic_client<>;

// Collects a client's settings; build() validates them (URL, TLS material) without network I/O.
template <auth_policy Auth, tls_policy Tls>
class basic_client_builder {
 public:
  // http://host:port for plaintext policies, https://host:port for TLS policies.
  basic_client_builder& service_url(std::string url) {
    service_url_ = std::move(url);
    return *this;
  }
  // How long create() and subscribe() wait for a broker connection (default 10 s). Positive; a
  // duration too long for the clock (milliseconds::max()) means no limit, as for every timeout here.
  basic_client_builder& connect_timeout(std::chrono::milliseconds timeout) {
    settings_.connect_timeout = timeout;
    return *this;
  }
  // The deadline of every control call: lookups, create, subscribe, acks (default 30 s).
  basic_client_builder& call_timeout(std::chrono::milliseconds timeout) {
    settings_.call_timeout = timeout;
    return *this;
  }
  // HTTP/2 keep-alive ping interval on idle connections (default 30 s; from about 24.8 days, or
  // milliseconds::max(), on: no pings).
  basic_client_builder& keepalive(std::chrono::milliseconds interval) {
    settings_.keepalive = interval;
    return *this;
  }
  // How often each producer and consumer asks its broker whether it is still known (default 5 s).
  basic_client_builder& health_check_interval(std::chrono::milliseconds interval) {
    settings_.health_check_interval = interval;
    return *this;
  }
  // How many connections (gRPC channels) to open to each broker, default 1. One HTTP/2 connection
  // tops out at tens of thousands of unary calls per second; with n, the partitions of a producer
  // (and the consumers and partition producers of this client) take the connections round robin,
  // each partition keeping to one so its messages stay in order. Pulsar: connectionsPerBroker.
  // At most max_connections_per_broker.
  basic_client_builder& connections_per_broker(std::size_t count) {
    settings_.connections_per_broker = count;
    return *this;
  }
  // Where the library reports what it does (reconnects, broker CLOSE answers, ...). Default: silent.
  basic_client_builder& logger(log_sink sink) {
    settings_.logger = std::move(sink);
    return *this;
  }
  // Every `interval`, `callback` gets the stats of every producer and consumer of the client
  // (danube/stats.hpp), from the first producer or consumer on. It runs on the client's listener
  // thread, after any message listener's call in progress, one report at a time, under no library
  // lock: it may block (it holds up message listeners and later reports) and call any public
  // function, close() included. Default: no reports.
  basic_client_builder& stats_interval(std::chrono::milliseconds interval,
                                       std::function<void(const client_stats&)> callback) {
    settings_.stats_interval = interval;
    settings_.on_stats = std::move(callback);
    stats_requested_ = true;
    return *this;
  }
  basic_client_builder& auth(Auth policy) {
    auth_ = std::move(policy);
    return *this;
  }
  basic_client_builder& tls(Tls policy) {
    tls_ = std::move(policy);
    return *this;
  }

  [[nodiscard]] result<basic_client<Auth, Tls>> build() const {
    if (service_url_.empty()) {
      return unexpected_error(errc::invalid_argument, "a client needs a service_url(\"http://host:port\")");
    }
    auto url = detail::parse_service_url(service_url_);
    if (!url) {
      return std::unexpected(std::move(url).error());
    }
    if (url->tls == Tls::is_plaintext) {
      return unexpected_error(errc::invalid_argument,
                              Tls::is_plaintext
                                  ? "service URL '" + service_url_ + "' is https:// but the TLS policy is plaintext"
                                  : "service URL '" + service_url_ + "' is http:// but the TLS policy uses TLS");
    }
    for (const auto timeout :
         {settings_.connect_timeout, settings_.call_timeout, settings_.keepalive, settings_.health_check_interval}) {
      if (timeout <= std::chrono::milliseconds::zero()) {
        return unexpected_error(errc::invalid_argument, "timeouts and the keep-alive interval must be positive");
      }
    }
    if (settings_.connections_per_broker == 0 || settings_.connections_per_broker > max_connections_per_broker) {
      return unexpected_error(errc::invalid_argument,
                              "connections_per_broker(" + std::to_string(settings_.connections_per_broker) +
                                  "): between 1 and " + std::to_string(max_connections_per_broker));
    }
    if (stats_requested_) {
      if (!settings_.on_stats) {
        return detail::empty_callback("stats_interval");
      }
      if (settings_.stats_interval <= std::chrono::milliseconds::zero() ||
          settings_.stats_interval > max_stats_interval) {
        return unexpected_error(errc::invalid_argument, "stats_interval(" +
                                                            std::to_string(settings_.stats_interval.count()) +
                                                            " ms): must be positive and at most 24 hours");
      }
    }
    if (!auth_) {
      return unexpected_error(errc::invalid_argument, "this client's auth policy needs a value: call auth(...)");
    }
    if (!tls_) {
      return unexpected_error(errc::invalid_argument, "this client's TLS policy needs a value: call tls(...)");
    }
    auto tls = tls_->configuration();
    if (!tls) {
      return std::unexpected(std::move(tls).error());
    }
    auto settings = settings_;
    settings.url = std::move(*url);
    settings.tls = std::move(*tls);
    // The logger and the auth policy (a token supplier) are user code that must not block: run
    // marked as such, so that the calls that would wait refuse to (docs/reliability.md).
    if (settings.logger) {
      settings.logger = detail::in_callback_scope(detail::callback_kind::completion, std::move(settings.logger));
    }
    if constexpr (Auth::sends_credentials) {
      if constexpr (asynchronous_auth<Auth>) {
        settings.authorization_async = [auth = *auth_](const auth_context& context, auth_completion done) mutable {
          detail::call_marked_async_policy(
              [&](auth_completion marked) { auth.authorization_async(context, std::move(marked)); }, std::move(done));
        };
      } else {
        settings.authorization = [auth = *auth_](const auth_context& context) mutable {
          const detail::callback_scope scope(detail::callback_kind::completion);
          return auth.authorization(context);
        };
      }
      // Optional members of a policy that caches tokens (auth::api_key_exchange).
      if constexpr (requires(Auth & a, std::chrono::steady_clock::time_point t) { a.token_rejected(t); }) {
        settings.token_rejected = [auth = *auth_](std::chrono::steady_clock::time_point prepared) mutable {
          const detail::callback_scope scope(detail::callback_kind::completion);
          auth.token_rejected(prepared);
        };
      }
      if constexpr (requires(const Auth& a) {
                      { a.exchange_timeout() } -> std::convertible_to<std::chrono::milliseconds>;
                    }) {
        settings.exchange_timeout = auth_->exchange_timeout();
      }
    }
    return basic_client<Auth, Tls>(std::make_shared<detail::client_core>(std::move(settings)));
  }

 private:
  std::string service_url_;
  detail::client_settings settings_;
  bool stats_requested_ = false;  // stats_interval() was called
  std::optional<Auth> auth_ = default_auth_();
  std::optional<Tls> tls_ = default_tls_();

  // tls::ca_file and tls::mutual need their file paths: they have no default.
  [[nodiscard]] static std::optional<Tls> default_tls_() {
    if constexpr (std::is_default_constructible_v<Tls>) {
      return Tls{};
    } else {
      return std::nullopt;
    }
  }

  [[nodiscard]] static std::optional<Auth> default_auth_() {
    if constexpr (std::is_default_constructible_v<Auth>) {
      return Auth{};
    } else {
      return std::nullopt;
    }
  }
};

}  // namespace danube
