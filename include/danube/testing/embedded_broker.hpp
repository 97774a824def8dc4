// danube::testing::embedded_broker: an in-process Danube broker for tests, speaking the real
// broker's gRPC protocol with its client-visible behaviour (v0.15.1). See docs/embedded-broker.md
// for what it reproduces and where it deliberately differs.
//
//   auto broker = danube::testing::embedded_broker::start();   // 127.0.0.1, ephemeral port
//   auto client = danube::client::builder().service_url(broker->url()).build();
//   broker->fail_next(danube::testing::rpc::create_producer, 2, grpc::StatusCode::UNAVAILABLE);
#pragma once

#include <danube/error.hpp>
#include <danube/producer_options.hpp>
#include <danube/testing/broker_options.hpp>
#include <danube/testing/failure_policy.hpp>
#include <danube/testing/rpc.hpp>
#include <danube/testing/token.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <grpcpp/support/status_code_enum.h>

#include <danube/detail/config.hpp>

namespace danube::testing {

namespace detail {
class broker_server;
}  // namespace detail

class embedded_cluster;

// A HS256 JWT of `claims` signed with `secret`, for tokens a test wants the broker to refuse
// (another secret, an exp long past) or accept (embedded_broker::issue_token is shorter).
[[nodiscard]] DANUBE_DECL result<std::string> sign_token(std::string_view secret, const token_claims& claims);

class embedded_broker {
 public:
  // Starts listening before returning. Failures (a malformed address, a port in use) are errors,
  // never exceptions.
  [[nodiscard]] static result<embedded_broker> start(const broker_options& options = {});

  embedded_broker(const embedded_broker&) = delete;
  embedded_broker& operator=(const embedded_broker&) = delete;
  embedded_broker(embedded_broker&& other) noexcept;
  embedded_broker& operator=(embedded_broker&& other) noexcept;
  ~embedded_broker();

  // "http://127.0.0.1:<port>" ("https://" with TLS): the service URL for clients, and the
  // broker_url / connect_url this broker advertises in lookup answers. Empty for a moved-from
  // broker.
  [[nodiscard]] std::string url() const;
  [[nodiscard]] std::uint16_t port() const noexcept;

  // Ends every open stream (clients see UNAVAILABLE), shuts the server down within a bounded grace
  // period and waits for every call to complete. Idempotent; the destructor calls it.
  void stop();

  // Stops the broker (if running) and starts a fresh one on the same address and port, with the
  // same options, as a broker process restart: producers, consumers, subscriptions, buffered
  // messages and injected faults are forgotten; its topics are served again (empty). Not to be
  // called concurrently with other calls on this object.
  [[nodiscard]] result<void> restart();

  // ---------------------------------------------------------------------------------------------
  // Fault injection (thread-safe; each applies to this broker only). Methods are named by
  // danube::testing::rpc; see docs/embedded-broker.md for the order in which a call meets them.

  // The next `count` calls of `method` fail with (code, message) before the broker does anything.
  void fail_next(rpc method, std::size_t count, grpc::StatusCode code, std::string message = "injected failure");

  // The next `count` TopicLookup calls answer LookupType Failed (which v0.15.1 never sends).
  void answer_lookup_failed(std::size_t count = 1);

  // HealthCheck answers CLOSE for producer or consumer `id` (until called again with false).
  void answer_close(std::uint64_t id, bool close = true);

  // HealthCheck answers CLOSE for every id (until called again with false).
  void answer_close_for_all(bool close = true);

  // Answers of unary `method` are held back by `delay` (zero: answer at once again). The broker
  // acts at once; only the answer is late. No gRPC thread waits meanwhile.
  void delay(rpc method, std::chrono::milliseconds delay);

  // Unary calls of `method` are never answered (and not acted on) while set: they end when the
  // client gives up (deadline, cancellation) or with UNAVAILABLE when the broker stops.
  void never_answer(rpc method, bool never = true);

  // Forgets every injected fault (failures still due, delays, hangs, forced CLOSE answers).
  void clear_faults();

  // How many calls of `method` reached this broker since it started (refused ones included).
  [[nodiscard]] std::uint64_t calls(rpc method) const;

  // How many AuthService.Authenticate calls reached this broker.
  [[nodiscard]] std::uint64_t authenticate_calls() const { return calls(rpc::authenticate); }

  // How many unary calls are being held back right now (delayed or never answered).
  [[nodiscard]] std::size_t held_calls() const;

  // A token this broker accepts (signed with its jwt_secret): sub = principal_name = `subject`,
  // exp = now + `ttl` (negative: already expired). errc::failed_precondition without a secret.
  [[nodiscard]] result<std::string> issue_token(const std::string& subject,
                                                std::chrono::seconds ttl = std::chrono::hours(1)) const;

  // Admin stand-ins: what the real broker's admin API does (docs/embedded-broker.md).

  // Creates `topic` with `strategy` before any producer does, or, with partitions > 0, its
  // partitions "<topic>-part-0" .. "-part-<partitions-1>" (all or none). errc::invalid_argument for
  // a malformed name; errc::already_exists for an existing topic, a partition of an existing
  // non-partitioned topic, or a non-partitioned topic whose name starts another topic's (§2.2).
  [[nodiscard]] result<void> create_topic(std::string_view topic,
                                          dispatch_strategy strategy = dispatch_strategy::non_reliable,
                                          std::uint32_t partitions = 0);

  // Sets the failure policy of `subscription` on the reliable `topic` (a partition name for a
  // partitioned topic). Read when the subscription is created, as upstream: set it before the first
  // Subscribe. errc::failed_precondition unless `topic` exists and is reliable;
  // errc::invalid_argument for poison::dead_letter without a dead_letter_topic.
  [[nodiscard]] result<void> set_failure_policy(std::string_view topic, std::string_view subscription,
                                                const failure_policy& policy);

  // The failure policy `subscription` of `topic` has (once created) or would be created with;
  // std::nullopt unless `topic` is a reliable topic served here.
  [[nodiscard]] std::optional<failure_policy> subscription_failure_policy(std::string_view topic,
                                                                          std::string_view subscription) const;

  // Reliable subscriptions: messages dispatched and not yet acknowledged (or dropped /
  // dead-lettered), plus KeyShared messages held back behind their key. 0 otherwise.
  [[nodiscard]] std::size_t unacked_messages(std::string_view topic, std::string_view subscription) const;

  // Introspection for tests; still answers after stop().

  // The topics (and partitions) this broker serves, sorted.
  [[nodiscard]] std::vector<std::string> topics() const;

  // How many consumers of `topic` have an open ReceiveMessages stream: wait for this before
  // publishing to consumers that must be attached.
  [[nodiscard]] std::size_t streaming_consumers(std::string_view topic) const;

  // How many ReceiveMessages streams attached to a consumer without a Subscribe of it since its
  // previous stream: the broker redelivers nothing for such a stream, so messages it had written
  // to the replaced one wait for their ack timeout (docs/protocol.md §2.5). danube-cpp subscribes
  // before every stream it opens, so this stays 0 with its consumers.
  [[nodiscard]] std::uint64_t streams_without_subscribe() const;

  // The names of `topic`'s subscriptions on this broker, sorted (an idle non-reliable one goes
  // after broker_options::idle_subscription_grace).
  [[nodiscard]] std::vector<std::string> subscriptions(std::string_view topic) const;

 private:
  friend class embedded_cluster;

  explicit embedded_broker(std::unique_ptr<detail::broker_server> impl) noexcept;

  [[nodiscard]] detail::broker_server* server() noexcept { return impl_.get(); }

  std::unique_ptr<detail::broker_server> impl_;
};

}  // namespace danube::testing

#if !defined(DANUBE_SEPARATE_COMPILATION)
#include <danube/testing/impl/embedded_broker.ipp>
#endif
