// The non-blocking form of the lookup every producer and consumer runs before registering: asked
// of the service URL, answered with where to register (see address_for in lookup.hpp).
#pragma once

#include <danube/detail/async_call.hpp>
#include <danube/detail/client_core.hpp>
#include <danube/detail/lookup.hpp>
#include <danube/detail/proto.hpp>
#include <danube/error.hpp>

#include <string>
#include <utility>

namespace danube::detail {

// `done(result<broker_address>)` runs once, on a gRPC thread (or inline if the call could not start).
template <class Done>
void resolve_topic_async(client_core& core, std::string topic, Done done) {
  wire::TopicLookupRequest lookup;
  lookup.set_request_id(core.next_request_id());
  lookup.set_topic(topic);
  const auto via = core.service_address();
  async_unary<wire::Discovery>(
      core, {via.broker_url, via.connect_url, false},
      static_cast<async_method<wire::Discovery, wire::TopicLookupRequest, wire::TopicLookupResponse>>(
          &wire::Discovery::Stub::async::TopicLookup),
      std::move(lookup),
      [via, topic = std::move(topic), done = std::move(done)](result<wire::TopicLookupResponse> answer) mutable {
        done(address_for(
            answer ? from_wire(*answer, topic) : result<topic_lookup>(std::unexpected(std::move(answer).error())),
            via));
      });
}

}  // namespace danube::detail
