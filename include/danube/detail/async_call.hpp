// One non-blocking control-plane call on gRPC's callback API: for work that must not block the
// thread it runs on (recovery from gRPC callbacks and scheduler tasks).
#pragma once

#include <danube/detail/client_core.hpp>
#include <danube/detail/grpc_status.hpp>
#include <danube/error.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <utility>

#include <grpcpp/grpcpp.h>

namespace danube::detail {

template <class Service, class Request, class Response>
using async_method = void (Service::Stub::async::*)(grpc::ClientContext*, const Request*, Response*,
                                                    std::function<void(grpc::Status)>);

// Calls `method` on the broker at `address`; `done(result<Response>)` runs exactly once, on a gRPC
// thread (or inline if the call could not start). Waiting for a token exchange blocks no thread:
// the call starts when the token is there (client_core::prepare_async).
template <class Service, class Request, class Response, class Done>
void async_unary(client_core& core, const broker_address& address, async_method<Service, Request, Response> method,
                 Request request, Done done) {
  struct call {
    grpc::ClientContext context;
    Request request;
    Response response;
    std::unique_ptr<typename Service::Stub> stub;
  };
  auto ch = core.channel(address.connect_url);
  if (!ch) {
    done(result<Response>(std::unexpected(std::move(ch).error())));
    return;
  }
  auto c = std::make_shared<call>();
  c->request = std::move(request);
  c->stub = Service::NewStub(*ch);
  auto* raw = c.get();
  core.prepare_async(
      raw->context, address, core.settings().call_timeout,
      [c, method, done = std::move(done), weak_core = core.weak_from_this(),
       asked = std::chrono::steady_clock::now()](result<void> prepared) mutable {
        if (!prepared) {
          // The call never went out (no token in time, the client closed): its error says nothing
          // about the broker it was for, so it carries no gRPC status (detail::falls_back), even
          // when the token exchange failed with one.
          done(result<Response>(unexpected_error(prepared.error().code(), prepared.error().message())));
          return;
        }
        auto* started = c.get();
        ((*started->stub->async()).*method)(
            &started->context, &started->request, &started->response,
            [c = std::move(c), done = std::move(done), weak = weak_core, asked](const grpc::Status& status) mutable {
              if (const auto alive = weak.lock()) {
                alive->on_call_status(status, asked);
              }
              if (status.ok()) {
                done(result<Response>(std::move(c->response)));
              } else {
                done(result<Response>(std::unexpected(error_from_uncancelled_call(status))));
              }
            });
      });
}

}  // namespace danube::detail
