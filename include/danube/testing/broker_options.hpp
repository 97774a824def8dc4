// Options of the embedded test broker (see embedded_broker.hpp and docs/embedded-broker.md).
// The defaults are a plaintext broker without authentication.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace danube::testing {

// Server-side TLS. The material is PEM text, not file paths: tests usually generate it in memory,
// and a file is one read away. start() checks it with OpenSSL (errc::invalid_argument naming the
// field and the reason) before listening.
struct broker_tls {
  // The broker's certificate, optionally followed by its intermediates.
  std::string certificate_chain;
  // The private key of the first certificate of certificate_chain.
  std::string private_key;
  // When set, clients must present a certificate signed by one of these CAs (mutual TLS);
  // connections without one, or with another CA's, fail the handshake. Empty: no client
  // certificate is requested (what the real broker does on its client port).
  std::string client_ca;
};

// Authentication: the real broker's `auth.mode: tls` JWT checks (docs/protocol.md §7.2, §7.3) and the
// legacy AuthService token exchange (§1.3).
struct broker_auth {
  // Every RPC except AuthService.Authenticate must carry `authorization: Bearer <jwt>`, validated
  // in §7.2's order. False (default): `auth.mode: none`, the header is ignored.
  bool require_token = false;
  // The HS256 secret (`auth.jwt.secret_key`). Empty: JWT support is not enabled (tokens are then
  // refused with FAILED_PRECONDITION, and Authenticate answers FAILED_PRECONDITION).
  std::string jwt_secret;
  // `iss` of the tokens the broker issues (`auth.jwt.issuer`); never checked on validation.
  std::string jwt_issuer = "danube-embedded-broker";
  // Lifetime of the tokens AuthService.Authenticate issues (`auth.jwt.expiration_time`).
  std::chrono::seconds token_ttl{3600};
  // The api keys AuthService.Authenticate exchanges for a token. Empty: every key is refused.
  std::vector<std::string> api_keys;
  // How long after its `exp` a token is still accepted (jsonwebtoken's default: 60 s).
  std::chrono::seconds leeway{60};
  // How long a validated `authorization` header is accepted again without validation, keyed by
  // the exact header (the real broker's cache: 30 s). Zero disables the cache.
  std::chrono::seconds validation_cache{30};
  // Serve the legacy `/danube.AuthService/Authenticate` (removed from v0.15.1, which answers
  // UNIMPLEMENTED; set false to reproduce that).
  bool legacy_auth_service = true;
};

// Upstream defects the embedded broker avoids by default, to be switched on by tests that must see
// what a client meets on a real v0.15.1 broker (docs/embedded-broker.md, docs/consumer.md).
struct broker_quirks {
  // A new reliable Failover subscription fixes its start position (Latest) only this long after
  // Subscribe answered, so messages published in between never reach it. Upstream's Subscribe
  // does not wait for a Failover dispatcher to start (subscription.rs), leaving such a window.
  std::chrono::milliseconds failover_start_delay{0};
  // A reliable KeyShared consumer evicted from the ring (inactive for 3 s) never rejoins it, and
  // the messages it had not acknowledged count as acknowledged (lost), as upstream; by default it
  // rejoins when active again and its messages go to the keys' new owners.
  bool key_shared_eviction_is_permanent = false;
};

struct broker_options {
  // HOST:PORT to listen on; port 0 picks a free ephemeral port. The broker advertises
  // "http://HOST:PORT" ("https://" with TLS; the actual port) in its lookup answers, as the real
  // broker advertises its bind address.
  std::string listen_address = "127.0.0.1:0";
  // Messages a non-reliable consumer may have dispatched but not yet written to its stream (also
  // while it is subscribed but has no stream yet); further messages for it are dropped. The real
  // broker buffers 4 in its consumer channel plus 4 in the gRPC response channel and drops beyond
  // that. The larger default keeps tests deterministic; set 8 to reproduce the real drop point.
  std::size_t consumer_buffer = 1000;
  // TLS on the client port; std::nullopt (default): plaintext HTTP/2.
  std::optional<broker_tls> tls;
  // Token checks and the legacy token exchange; the default checks nothing.
  broker_auth auth;
  // The namespaces that exist: the real broker's `default` and `system` (add those its admin API
  // or `bootstrap_namespaces` would create). CreateProducer of a new topic in another namespace is
  // refused with UNAVAILABLE "Unable to find the namespace {ns}, ...", as upstream.
  std::vector<std::string> namespaces{"default", "system"};
  // How long a non-reliable subscription may stay idle (a message found no active consumer, and
  // none has subscribed since) before it is removed with its consumers, whose health checks then
  // answer CLOSE. The real broker's grace is 60 s. Zero: never removed.
  std::chrono::milliseconds idle_subscription_grace{60'000};
  // Upstream defects to reproduce; none by default.
  broker_quirks quirks;
};

}  // namespace danube::testing
