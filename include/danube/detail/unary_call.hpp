// One blocking control-plane call (lookup, create, subscribe, ack): pooled channel, deadline,
// auth and proxy header, status mapping. Data-plane calls (sends, streams) use the callback API.
#pragma once

#include <danube/detail/client_core.hpp>
#include <danube/detail/grpc_status.hpp>
#include <danube/error.hpp>

#include <chrono>
#include <utility>

namespace danube::detail {

template <class Service, class Request, class Response>
using sync_method = grpc::Status (Service::Stub::*)(grpc::ClientContext*, const Request&, Response*);

template <class Service, class Request, class Response>
[[nodiscard]] result<Response> unary_call(client_core& core, const broker_address& address,
                                          sync_method<Service, Request, Response> method, const Request& request) {
  auto ch = core.channel(address.connect_url);
  if (!ch) {
    return std::unexpected(std::move(ch).error());
  }
  const auto stub = Service::NewStub(*ch);
  grpc::ClientContext context;
  const auto asked = std::chrono::steady_clock::now();
  if (auto ok = core.prepare(context, address); !ok) {
    // The call never went out: its error carries no gRPC status (detail::falls_back).
    return unexpected_error(ok.error().code(), ok.error().message());
  }
  Response response;
  if (const auto status = ((*stub).*method)(&context, request, &response); !status.ok()) {
    core.on_call_status(status, asked);
    return std::unexpected(error_from_uncancelled_call(status));
  }
  return response;
}

}  // namespace danube::detail
