// Keeps gRPC's process-wide callback completion queue alive for the life of the process.
//
// Where gRPC's I/O manager does not run in the background (Linux with the gRPC of Debian 12,
// 1.51), the callback API of every channel and every server is served by one process-wide
// completion queue. Each channel or server that uses it holds a reference to it. When the last
// reference is dropped, gRPC shuts the queue down, joins its polling threads and deletes it, and
// the next user builds a new one. That teardown races with the queue's own polling threads: under
// ASan we saw a double free inside grpc_cq_internal_unref on one of those threads. A process that
// creates and closes clients (or embedded brokers) one after another runs the teardown every time
// the last of them goes away.
//
// pin_callback_queue() makes one channel, which never connects anywhere, start one callback call
// that fails at once (its deadline has already passed). The channel then holds a reference to the
// queue, and the channel is kept until the process exits. So the queue is built once and is never
// torn down while the process runs. What this keeps is gRPC's own polling threads, which exist
// anyway while any client is open. It holds no connection and no file descriptor.
#pragma once

#include <danube/detail/proto.hpp>

#include <chrono>
#include <memory>

#include <grpcpp/grpcpp.h>

namespace danube::detail {

inline void pin_callback_queue() {
  static const bool pinned = [] {
    struct pin {
      std::shared_ptr<grpc::Channel> channel =
          grpc::CreateChannel("unix:/nonexistent/danube-cpp-callback-queue-pin", grpc::InsecureChannelCredentials());
      grpc::ClientContext context;
      wire::TopicLookupRequest request;
      wire::TopicLookupResponse response;
    };
    // Never deleted on purpose: destroying the channel would drop the reference again. It stays
    // reachable through this static, so leak checkers do not report it.
    static pin* const kept = new pin;
    kept->context.set_deadline(std::chrono::system_clock::now());
    wire::Discovery::NewStub(kept->channel)
        ->async()
        ->TopicLookup(&kept->context, &kept->request, &kept->response, [](const grpc::Status&) {});
    return true;
  }();
  (void)pinned;
}

}  // namespace danube::detail
