// The four policy families of danube-cpp. A type that models one of these concepts plugs into the
// client, producer or consumer with no change to the library. Requirements, the built-in models
// and worked examples of custom policies: docs/policies.md.
#pragma once

#include <danube/error.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace danube {

// ---------------------------------------------------------------------------------------------
// RetryPolicy: decides whether, and after how long, a failed operation is tried again.
//
//   p.next_delay(err, attempt) -> std::optional<std::chrono::milliseconds>
//     `attempt` counts retries from 1. std::nullopt means "give up and report err".
//     Only retryable errors (err.retryable()) are ever offered to the policy.
//
//   p.validate() -> result<void>        optional: checked by the producer's and consumer's build(),
//                                        whose error it becomes (e.g. a zero base delay)
template <class P>
concept retry_policy = std::copy_constructible<P> && requires(P& policy, const error& err, unsigned attempt) {
  { policy.next_delay(err, attempt) } -> std::same_as<std::optional<std::chrono::milliseconds>>;
};

// The optional validate() of a retry policy; a policy without one is always valid.
template <retry_policy P>
[[nodiscard]] result<void> validate_retry_policy(const P& policy) {
  if constexpr (requires {
                  { policy.validate() } -> std::same_as<result<void>>;
                }) {
    return policy.validate();
  } else {
    return {};
  }
}

// ---------------------------------------------------------------------------------------------
// MessageRouter: picks the partition of a partitioned producer for each message.
//
//   r.select_partition(key, partition_count) -> std::uint32_t in [0, partition_count)
//     `key` is the routing key of send_with_key, std::nullopt for plain sends.
//     Called concurrently when several threads send on one producer.
template <class R>
concept message_router = std::copy_constructible<R> &&
    requires(R& router, std::optional<std::string_view> key, std::uint32_t partitions) {
  { router.select_partition(key, partitions) } -> std::convertible_to<std::uint32_t>;
};

// ---------------------------------------------------------------------------------------------
// AuthPolicy: computes the `authorization` header of every call, in one of two forms.
//
//   A::sends_credentials                -> bool (constexpr): whether calls carry secrets, which
//                                          then must not travel over a plaintext channel
//   a.authorization(context)            -> result<std::optional<std::string>>: the header value
//                                          ("Bearer <jwt>"), std::nullopt for none, or an error
//                                          (reported as the call's error). Runs on the thread
//                                          that starts the call, which may be one of gRPC's or
//                                          the client's scheduler: it must not block.
// or, when the header takes I/O to get (a token exchange):
//   a.authorization_async(context, done) -> void: calls done(result<std::optional<std::string>>)
//                                          exactly once, on any thread, possibly before it
//                                          returns; the call waits (without a thread) until
//                                          then. The client uses this form when a policy has both.
//
// Called once per RPC, possibly from several threads at once. The header may only hold bytes
// 0x20-0x7E (gRPC's rule); the client refuses anything else with errc::unauthenticated.
//
// Optional, for a policy that caches tokens (auth::api_key_exchange):
//   a.token_rejected(prepared)          -> void: the broker answered UNAUTHENTICATED to a call
//                                          that asked for its header at `prepared`
//                                          (std::chrono::steady_clock::time_point): drop a cached
//                                          token that call carried. Must not block.
//   a.exchange_timeout()                -> std::chrono::milliseconds: how long the client lets
//                                          one context.exchange_api_key take (at most its
//                                          call_timeout; 10 s when absent).

// What authorization_async hands its header (or error) to.
using auth_completion = std::function<void(result<std::optional<std::string>>)>;

// What the client offers an auth policy: the legacy exchange of a credential for a JWT
// (`/danube.AuthService/Authenticate` at the service URL, through this client's connection).
// `done` runs exactly once, on a gRPC thread, or at once when the exchange cannot start.
// errc::closed means this client was closed (the exchange was cancelled with it); retryable
// errors (unavailable, timeout) mean the broker may answer later.
struct auth_context {
  std::function<void(std::string_view api_key, std::function<void(result<std::string>)> done)> exchange_api_key;
};

template <class A>
concept synchronous_auth = requires(A& auth, const auth_context& context) {
  { auth.authorization(context) } -> std::same_as<result<std::optional<std::string>>>;
};

template <class A>
concept asynchronous_auth = requires(A& auth, const auth_context& context, auth_completion done) {
  auth.authorization_async(context, std::move(done));
};

template <class A>
concept auth_policy = std::copy_constructible<A> && requires {
  { A::sends_credentials } -> std::convertible_to<bool>;
} &&(synchronous_auth<A> || asynchronous_auth<A>);

// ---------------------------------------------------------------------------------------------
// TlsPolicy: how the client's channels are secured.
//
//   T::is_plaintext                     -> bool (constexpr): no TLS at all
//   T::allows_credentials_in_clear      -> bool (constexpr): the explicit opt-in to send
//                                          credentials over plaintext
//   t.configuration()                   -> result<tls_configuration>: loads and validates the
//                                          PEM material; called once, by build()

// The material a TLS policy hands to the channel factory. Empty PEM strings mean "not used".
struct tls_configuration {
  bool enabled = false;           // false: plaintext (http://)
  std::string root_certificates;  // PEM; empty with enabled = the system's roots
  std::string certificate_chain;  // PEM, client certificate for mutual TLS
  std::string private_key;        // PEM, client key for mutual TLS
};

template <class T>
concept tls_policy = std::copy_constructible<T> && requires(const T& tls) {
  { T::is_plaintext } -> std::convertible_to<bool>;
  { T::allows_credentials_in_clear } -> std::convertible_to<bool>;
  { tls.configuration() } -> std::same_as<result<tls_configuration>>;
};

}  // namespace danube
