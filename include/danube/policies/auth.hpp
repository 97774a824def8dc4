// Built-in auth policies (namespace danube::auth). Each models danube::auth_policy.
// Tokens and keys are never logged and never appear in error messages.
#pragma once

#include <danube/detail/jwt.hpp>
#include <danube/detail/metadata_value.hpp>
#include <danube/error.hpp>
#include <danube/policies/concepts.hpp>

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace danube::auth {

// No authorization header: for brokers running with `auth.mode: none`.
struct none {
  static constexpr bool sends_credentials = false;
  [[nodiscard]] result<std::optional<std::string>> authorization(const auth_context& /*unused*/) const {
    return std::optional<std::string>{};
  }
};

namespace detail {
// "Bearer <token>", or why gRPC could not carry it: "<source> an empty token" / "<source> a token
// with a byte ...". The message never contains the token.
[[nodiscard]] inline result<std::string> bearer_header(std::string_view token, std::string_view source) {
  if (token.empty()) {
    return unexpected_error(errc::unauthenticated, std::string(source) + " an empty token");
  }
  if (!danube::detail::is_legal_metadata_value(token)) {
    return unexpected_error(errc::unauthenticated,
                            std::string(source) +
                                " a token with a byte gRPC cannot send in a header (a control character such as a "
                                "trailing newline, or non-ASCII)");
  }
  return "Bearer " + std::string(token);
}
}  // namespace detail

// A fixed JWT, sent as `authorization: Bearer <token>` on every call. A token gRPC cannot carry
// (empty, a control character such as a trailing newline, non-ASCII) fails every call with
// errc::unauthenticated, before any I/O.
class static_token {
 public:
  static constexpr bool sends_credentials = true;
  explicit static_token(std::string token)
      : header_(std::make_shared<const result<std::string>>(detail::bearer_header(token, "static_token was given"))) {}
  [[nodiscard]] result<std::optional<std::string>> authorization(const auth_context& /*unused*/) const {
    if (!*header_) {
      return std::unexpected(header_->error());
    }
    return std::optional<std::string>{**header_};
  }

 private:
  std::shared_ptr<const result<std::string>> header_;
};

// A callable asked for the current JWT on every call (rotation is the supplier's business). It
// may return std::string (or anything convertible, such as const char*) or
// danube::result<std::string>; an error, a null pointer, an empty token or one gRPC cannot carry
// fails that call with errc::unauthenticated.
class token_supplier {
 public:
  static constexpr bool sends_credentials = true;

  template <class Supplier>
  requires std::invocable<Supplier&> &&
      (std::convertible_to<std::invoke_result_t<Supplier&>, std::string> ||
       std::same_as<std::invoke_result_t<Supplier&>, result<std::string>>)explicit token_supplier(Supplier supplier) {
    using supplied = std::invoke_result_t<Supplier&>;
    if constexpr (std::same_as<supplied, result<std::string>>) {
      supply_ = std::move(supplier);
    } else if constexpr (std::is_pointer_v<std::decay_t<supplied>>) {
      supply_ = [s = std::move(supplier)]() mutable -> result<std::string> {
        const auto* token = s();
        if (token == nullptr) {
          return unexpected_error(errc::unauthenticated, "the token supplier returned a null pointer");
        }
        return std::string(token);
      };
    } else {
      supply_ = [s = std::move(supplier)]() mutable -> result<std::string> { return std::string(s()); };
    }
  }

  [[nodiscard]] result<std::optional<std::string>> authorization(const auth_context& /*unused*/) const {
    auto token = supply_();
    if (!token) {
      return std::unexpected(error(errc::unauthenticated, "the token supplier failed: " + token.error().message()));
    }
    auto header = detail::bearer_header(*token, "the token supplier returned");
    if (!header) {
      return std::unexpected(std::move(header).error());
    }
    return std::optional<std::string>(std::move(*header));
  }

 private:
  std::function<result<std::string>()> supply_;
};

// How api_key_exchange uses the tokens it gets.
struct exchange_options {
  // A token is used until less than this is left before its `exp`; then it is exchanged again
  // (in the background while the old one is still valid).
  std::chrono::seconds margin{30};
  // How long a token whose JWT has no `exp` claim is used. std::nullopt (the default): such a
  // token is refused (errc::unauthenticated), since the client could never know when to refresh.
  std::optional<std::chrono::seconds> default_lifetime = std::nullopt;
  // How long one exchange may take (the client's call_timeout bounds it too): the calls waiting
  // for it fail with errc::timeout (retryable) when a broker never answers.
  std::chrono::milliseconds timeout{10'000};
  // How many calls may wait for the exchange in progress, over every client sharing the policy;
  // one more makes the oldest waiting call fail with errc::unavailable (retryable): it is the
  // likeliest to have given up already.
  std::size_t max_waiting = 65'536;
};

// For brokers that still serve `/danube.AuthService/Authenticate`: exchanges the key for a JWT and
// reuses it until its own `exp` claim (or options.default_lifetime when it has none) minus
// options.margin. Asynchronous and single flight: callers without a usable token share the one
// exchange in progress and continue when it completes; once the token is within the margin of its
// expiry, callers keep using it while one exchange runs in the background. Nothing blocks and no
// lock is held during the exchange. A refused exchange is errc::unauthenticated; a retryable
// failure (a broker restarting: unavailable, timeout) keeps its code, so the call is retried.
// Copies share the token and the flight, also across clients: when the client that started an
// exchange is closed, the callers waiting for it through other clients start their own.
// Exchanges are rate-limited to one a second when they do not help: a token that is already
// expired when it arrives (a clock skew) keeps being used while it is refreshed in the background
// at most once a second, and a token the broker rejects (UNAUTHENTICATED) is dropped, so the next
// call exchanges again, if the rejected call carried it and it arrived at least a second ago.
// (A v0.15 broker no longer has this RPC: the exchange then fails with the broker's UNIMPLEMENTED.)
class api_key_exchange {
 public:
  static constexpr bool sends_credentials = true;

  explicit api_key_exchange(std::string api_key, exchange_options options = {})
      : shared_(std::make_shared<shared_state>(std::move(api_key), options)) {}
  api_key_exchange(std::string api_key, std::chrono::seconds margin)
      : api_key_exchange(std::move(api_key), exchange_options{.margin = margin}) {}

  void authorization_async(const auth_context& context, auth_completion done) const {
    run_(shared_, {waiter{context, std::move(done)}});
  }

  // How long the client lets one exchange take (at most its call_timeout).
  [[nodiscard]] std::chrono::milliseconds exchange_timeout() const noexcept { return shared_->timeout; }

  // The broker answered UNAUTHENTICATED to a call whose header the client asked for at `prepared`
  // (the client calls this). The current token is dropped, so the next call exchanges again, if
  // that call carried it (asked for after it arrived: a late answer to a call with an older token
  // says nothing about it) and it is not brand new (at most one such exchange a second).
  void token_rejected(std::chrono::steady_clock::time_point prepared) const {
    std::lock_guard lock(shared_->mu);
    if (!shared_->header.empty() && prepared >= shared_->obtained &&
        std::chrono::steady_clock::now() >= shared_->obtained + rate_limit) {
      shared_->header.clear();
    }
  }

  // How many exchanges have completed (for tests and metrics).
  [[nodiscard]] std::uint64_t exchanges() const {
    std::lock_guard lock(shared_->mu);
    return shared_->exchanges;
  }

 private:
  using clock = std::chrono::system_clock;
  // The least time between two exchanges that a useless token (already expired, rejected) causes.
  static constexpr std::chrono::seconds rate_limit{1};

  struct waiter {
    auth_context context;
    auth_completion done;  // empty for a background refresh
  };

  // Durations past a century are taken as a century, negative ones as zero: every sum with the
  // clock's now() stays in its range.
  [[nodiscard]] static std::chrono::seconds bounded_(std::chrono::seconds d) {
    constexpr auto century = std::chrono::hours(24 * 365 * 100);
    return std::clamp<std::chrono::seconds>(d, std::chrono::seconds::zero(), century);
  }

  struct shared_state {
    shared_state(std::string key, exchange_options o)
        : api_key(std::move(key)),
          margin(bounded_(o.margin)),
          default_lifetime(o.default_lifetime ? std::optional(bounded_(*o.default_lifetime)) : std::nullopt),
          timeout(std::max(o.timeout, std::chrono::milliseconds(1))),
          max_waiting(o.max_waiting) {}
    const std::string api_key;
    const std::chrono::seconds margin;
    const std::optional<std::chrono::seconds> default_lifetime;
    const std::chrono::milliseconds timeout;
    const std::size_t max_waiting;
    std::mutex mu;
    std::string header;  // "Bearer <token>", empty before the first exchange (or once dropped)
    clock::time_point expires{};
    std::chrono::steady_clock::time_point obtained{};  // when `header` arrived (steady: a rate limit)
    bool stale_on_arrival = false;                     // `header` was already expired when it arrived
    bool refreshing = false;
    std::chrono::steady_clock::time_point no_background_refresh_before{};  // after any exchange
    std::uint64_t exchanges = 0;
    std::deque<waiter> waiters;  // callers without a usable token, waiting for the flight
  };

  // One exchange in progress: whether its starter returned yet, and the outcome when the exchange
  // completed before that (a client already closed answers at once, on the starter's thread).
  struct flight {
    std::mutex mu;
    bool returned = false;
    std::optional<result<std::string>> early;
    auth_completion starter;
  };

  // Serves `todo` in order. Iterative on purpose: an exchange that fails at once hands its waiters
  // back to this loop instead of recursing once per waiter.
  static void run_(const std::shared_ptr<shared_state>& s, std::vector<waiter> todo) {
    for (std::size_t next = 0; next < todo.size(); ++next) {
      auto w = std::move(todo[next]);
      std::optional<std::string> ready;
      bool start = false;
      std::optional<waiter> evicted;
      {
        std::lock_guard lock(s->mu);
        const auto now = clock::now();
        const auto steady_now = std::chrono::steady_clock::now();
        const bool may_refresh_ahead = !s->refreshing && steady_now >= s->no_background_refresh_before;
        if (!s->header.empty() && now < s->expires) {
          ready = s->header;
          start = s->expires - now <= s->margin && may_refresh_ahead;
        } else if (!s->header.empty() && s->stale_on_arrival) {
          // Expired when it arrived (a clock skew: the broker may well accept it): used, and
          // exchanged again in the background, at most once a second.
          ready = s->header;
          start = may_refresh_ahead && steady_now >= s->obtained + rate_limit;
        } else if (s->refreshing) {
          // Bounded: the oldest waiter makes room (it is the likeliest to have given up already:
          // its call's deadline or close() ended its wait).
          if (s->waiters.size() >= s->max_waiting && !s->waiters.empty()) {
            evicted.emplace(std::move(s->waiters.front()));
            s->waiters.pop_front();
          }
          if (s->max_waiting > 0) {
            s->waiters.push_back(std::move(w));
          } else {
            evicted.emplace(std::move(w));
          }
        } else {
          start = true;
        }
        s->refreshing = s->refreshing || start;
      }
      if (evicted) {
        evicted->done(unexpected_error(errc::unavailable, "too many calls (" + std::to_string(s->max_waiting) +
                                                              ") were waiting for the api key exchange"));
      }
      if (evicted || (!ready && !start)) {
        continue;
      }
      if (ready) {
        if (start) {
          auto again = exchange_(s, w.context, {});
          std::move(again.begin(), again.end(), std::back_inserter(todo));
        }
        w.done(std::optional<std::string>(std::move(*ready)));
        continue;
      }
      auto again = exchange_(s, w.context, std::move(w.done));
      std::move(again.begin(), again.end(), std::back_inserter(todo));
    }
  }

  // Starts the exchange; returns the waiters to serve again when it failed at once.
  [[nodiscard]] static std::vector<waiter> exchange_(const std::shared_ptr<shared_state>& s,
                                                     const auth_context& context, auth_completion starter) {
    auto f = std::make_shared<flight>();
    f->starter = std::move(starter);
    auto finished = [s, f](result<std::string> token) {
      {
        std::lock_guard lock(f->mu);
        if (!f->returned) {
          f->early = std::move(token);
          return;
        }
      }
      run_(s, complete_(s, std::move(token), std::move(f->starter)));
    };
    if (context.exchange_api_key) {
      context.exchange_api_key(s->api_key, std::move(finished));
    } else {
      finished(unexpected_error(errc::unauthenticated, "api key exchange is not available on this client"));
    }
    std::optional<result<std::string>> early;
    {
      std::lock_guard lock(f->mu);
      f->returned = true;
      early = std::move(f->early);
    }
    if (!early) {
      return {};
    }
    return complete_(s, std::move(*early), std::move(f->starter));  // no lock held: it runs callbacks
  }

  // Publishes an exchange's outcome to its starter and waiters; returns the waiters to serve again
  // when the starter's client was closed (errc::closed: the exchange was that client's own).
  [[nodiscard]] static std::vector<waiter> complete_(const std::shared_ptr<shared_state>& s, result<std::string> token,
                                                     auth_completion starter) {
    auto header = usable_header_(*s, std::move(token));
    std::vector<waiter> waiters;
    {
      std::lock_guard lock(s->mu);
      s->refreshing = false;
      ++s->exchanges;
      waiters.assign(std::make_move_iterator(s->waiters.begin()), std::make_move_iterator(s->waiters.end()));
      s->waiters.clear();
      if (header) {
        s->header = header->first;
        s->expires = header->second;
        s->obtained = std::chrono::steady_clock::now();
        s->stale_on_arrival = header->second <= clock::now();
      }
      // After a background refresh (no starter), failed or not, or any failed exchange: the next
      // refresh ahead not within a second. A token that lives shorter than the margin would
      // otherwise cost an exchange per call.
      if (!starter || !header) {
        s->no_background_refresh_before = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      }
    }
    if (!header && header.error() == errc::closed) {
      if (starter) {
        starter(std::unexpected(header.error()));
      }
      return waiters;
    }
    const auto outcome = header ? result<std::optional<std::string>>(std::optional<std::string>(header->first))
                                : result<std::optional<std::string>>(std::unexpected(header.error()));
    if (starter) {
      starter(outcome);
    }
    for (auto& w : waiters) {
      w.done(outcome);
    }
    return {};
  }

  // The exchange's answer as a header and its expiry, or why it cannot be used.
  [[nodiscard]] static result<std::pair<std::string, clock::time_point>> usable_header_(const shared_state& s,
                                                                                        result<std::string> token) {
    if (!token) {
      const auto& failure = token.error();
      if (failure == errc::closed) {
        return std::unexpected(failure);
      }
      const auto code = failure.retryable() ? failure.code() : errc::unauthenticated;
      return std::unexpected(error(
          code, "the api key exchange failed: " + std::string(to_string(failure.code())) + ": " + failure.message(),
          failure.grpc_status()));
    }
    auto expires = danube::detail::jwt_expiry_claim(*token);
    if (!expires) {
      return std::unexpected(error(errc::unauthenticated, "the broker's token is " + expires.error().message()));
    }
    if (!*expires) {
      if (!s.default_lifetime) {
        return std::unexpected(error(errc::unauthenticated,
                                     "the broker's token is unusable token: the JWT has no exp claim (set "
                                     "exchange_options::default_lifetime to use such tokens)"));
      }
      *expires = clock::now() + *s.default_lifetime;
    }
    auto header = detail::bearer_header(*token, "the api key exchange returned");
    if (!header) {
      return std::unexpected(std::move(header).error());
    }
    return std::pair{std::move(*header), **expires};
  }

  std::shared_ptr<shared_state> shared_;
};

static_assert(auth_policy<none>);
static_assert(auth_policy<static_token>);
static_assert(auth_policy<token_supplier>);
static_assert(auth_policy<api_key_exchange>);

}  // namespace danube::auth
