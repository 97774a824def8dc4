// Topic lookup and partition discovery, as every producer and consumer runs them before creating
// or subscribing, and again when its topic moves.
#pragma once

#include <danube/detail/client_core.hpp>
#include <danube/detail/grpc_status.hpp>
#include <danube/detail/metadata_value.hpp>
#include <danube/detail/proto.hpp>
#include <danube/detail/unary_call.hpp>
#include <danube/error.hpp>
#include <danube/logging.hpp>
#include <danube/lookup.hpp>
#include <danube/topic_name.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace danube::detail {

// A TopicLookup answer as the public type. Failed (never sent by v0.15 brokers, but in the
// protocol) and unusable URLs are errc::lookup_failed.
[[nodiscard]] inline result<topic_lookup> from_wire(wire::TopicLookupResponse& response, std::string_view topic) {
  topic_lookup out;
  switch (response.response_type()) {
    case wire::TopicLookupResponse::Connect: out.kind = lookup_kind::connect; break;
    case wire::TopicLookupResponse::Redirect: out.kind = lookup_kind::redirect; break;
    default: return unexpected_error(errc::lookup_failed, "the broker could not resolve topic " + std::string(topic));
  }
  out.broker_url = std::move(*response.mutable_broker_url());
  out.connect_url = std::move(*response.mutable_connect_url());
  out.proxy = response.proxy();
  if (auto url = parse_service_url(out.connect_url); !url) {
    return unexpected_error(errc::lookup_failed, "lookup of " + std::string(topic) +
                                                     " returned an unusable connect_url: " + url.error().message());
  }
  // The broker URL of a proxied answer travels in a header of every later call: gRPC would abort
  // the process on a byte it cannot carry, so such an answer is refused here.
  if (out.proxy && !is_legal_metadata_value(proxy_header_value(out.broker_url))) {
    return unexpected_error(errc::lookup_failed,
                            "lookup of " + std::string(topic) +
                                " returned a proxied broker_url with a byte gRPC cannot send in a header (a control "
                                "character or non-ASCII)");
  }
  return out;
}

// Whether a failed lookup sends the partition to its last known broker: a retryable failure of
// the lookup call itself (it carries a gRPC status). The call's own wait for a token timing out
// says nothing about the broker answering lookups.
[[nodiscard]] inline bool falls_back(const error& lookup_failure) noexcept {
  return lookup_failure.retryable() && lookup_failure.grpc_status().has_value();
}

// Where to create a producer or subscribe, given a lookup's outcome: its answer (Connect and
// Redirect alike); `via` itself when the topic does not exist yet (NOT_FOUND), since the broker
// creates topics on CreateProducer at the address asked; and `last_known` -- the partition's
// broker, or `via` before its first registration -- when the lookup failed with a retryable error
// (the broker answering lookups is down or restarting, the partition's own broker may be fine: as
// the Rust client, which keeps its current address on a failed lookup). Any other failure (refused,
// lookup_failed, closed) is returned: registering elsewhere would hide its reason.
[[nodiscard]] inline result<broker_address> address_for(result<topic_lookup> found, const broker_address& via,
                                                        const broker_address& last_known) {
  if (!found) {
    if (found.error() == errc::not_found) {
      return via;
    }
    if (falls_back(found.error())) {
      return last_known;
    }
    return std::unexpected(std::move(found).error());
  }
  return broker_address{std::move(found->broker_url), std::move(found->connect_url), found->proxy};
}

// Asks the broker at `via` who serves `topic`. Failed (never sent by v0.15 brokers, but in the
// protocol) is errc::lookup_failed.
[[nodiscard]] inline result<topic_lookup> lookup_topic(client_core& core, const broker_address& via,
                                                       std::string_view topic) {
  wire::TopicLookupRequest request;
  request.set_request_id(core.next_request_id());
  request.set_topic(std::string(topic));
  // Lookups go to the address itself: no proxy header (the broker-behaviour reference, §4).
  auto response = unary_call<wire::Discovery>(core, {via.broker_url, via.connect_url, false},
                                              &wire::Discovery::Stub::TopicLookup, request);
  if (!response) {
    return std::unexpected(std::move(response).error());
  }
  return from_wire(*response, topic);
}

// The partition topics of `topic` (the topic itself when it is not partitioned). The broker's
// answer is a plain prefix match (the broker-behaviour reference, §2.9): the names that are neither
// `topic` nor `<topic>-part-<digits>`, and repeated names, are dropped here, with a debug line in
// the client's log. More than danube::max_partitions names left is errc::lookup_failed.
[[nodiscard]] inline result<std::vector<std::string>> topic_partitions(client_core& core, const broker_address& via,
                                                                       std::string_view topic) {
  wire::TopicLookupRequest request;
  request.set_request_id(core.next_request_id());
  request.set_topic(std::string(topic));
  auto response = unary_call<wire::Discovery>(core, {via.broker_url, via.connect_url, false},
                                              &wire::Discovery::Stub::TopicPartitions, request);
  if (!response) {
    return std::unexpected(std::move(response).error());
  }
  std::vector<std::string> names(response->partitions().begin(), response->partitions().end());
  if (const auto dropped = keep_topic_and_partitions(topic, names); !dropped.empty()) {
    // At most a few names: a hostile answer must not make a log line of megabytes.
    constexpr std::size_t listed = 8;
    std::string line = "TopicPartitions for " + std::string(topic) + " also listed";
    for (std::size_t i = 0; i < dropped.size() && i < listed; ++i) {
      line += ' ';
      line += dropped[i];
    }
    if (dropped.size() > listed) {
      line += " and " + std::to_string(dropped.size() - listed) + " more";
    }
    line += ": repeated, or not its partitions (the broker matches by prefix), ignored";
    core.log(log_level::debug, line);
  }
  if (names.size() > max_partitions) {
    return unexpected_error(errc::lookup_failed, "TopicPartitions for " + std::string(topic) + " listed " +
                                                     std::to_string(names.size()) +
                                                     " partitions; a consumer handles at most " +
                                                     std::to_string(max_partitions) + " (danube::max_partitions)");
  }
  return names;
}

}  // namespace danube::detail
