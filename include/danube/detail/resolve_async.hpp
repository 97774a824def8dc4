// The non-blocking form of the lookup every producer and consumer runs before registering: asked
// of the service URL, answered with where to register (see address_for in lookup.hpp).
#pragma once

#include <danube/detail/async_call.hpp>
#include <danube/detail/client_core.hpp>
#include <danube/detail/lookup.hpp>
#include <danube/detail/proto.hpp>
#include <danube/error.hpp>
#include <danube/logging.hpp>

#include <string>
#include <utility>

namespace danube::detail {

// `done(result<broker_address>)` runs once, on a gRPC thread (or inline if the call could not start).
// `last_known` is where the partition was registered last (an empty connect_url: never); a
// retryable lookup failure falls back to it (address_for).
template <class Done>
void resolve_topic_async(client_core& core, std::string topic, broker_address last_known, Done done) {
  wire::TopicLookupRequest lookup;
  lookup.set_request_id(core.next_request_id());
  lookup.set_topic(topic);
  const auto via = core.service_address();
  async_unary<wire::Discovery>(
      core, {via.broker_url, via.connect_url, false},
      static_cast<async_method<wire::Discovery, wire::TopicLookupRequest, wire::TopicLookupResponse>>(
          &wire::Discovery::Stub::async::TopicLookup),
      std::move(lookup),
      [weak = core.weak_from_this(), via, last_known = std::move(last_known), topic = std::move(topic),
       done = std::move(done)](result<wire::TopicLookupResponse> answer) mutable {
        auto found =
            answer ? from_wire(*answer, topic) : result<topic_lookup>(std::unexpected(std::move(answer).error()));
        const auto& fallback = last_known.connect_url.empty() ? via : last_known;
        if (const auto self = weak.lock(); self && !found && falls_back(found.error())) {
          self->log(log_level::info, "lookup of " + topic + " failed (" + found.error().message() +
                                         "), trying the last known broker " + fallback.connect_url);
        }
        done(address_for(std::move(found), via, fallback));
      });
}

}  // namespace danube::detail
