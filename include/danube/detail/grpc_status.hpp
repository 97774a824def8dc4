// The single mapping from grpc::Status to danube::error. Every RPC result goes through here.
#pragma once

#include <danube/error.hpp>

#include <grpcpp/support/status.h>

namespace danube::detail {

[[nodiscard]] constexpr errc errc_from_grpc(grpc::StatusCode code) noexcept {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE: return errc::invalid_argument;
    case grpc::StatusCode::NOT_FOUND: return errc::not_found;
    case grpc::StatusCode::ALREADY_EXISTS: return errc::already_exists;
    case grpc::StatusCode::UNAUTHENTICATED: return errc::unauthenticated;
    case grpc::StatusCode::PERMISSION_DENIED: return errc::permission_denied;
    case grpc::StatusCode::UNAVAILABLE: return errc::unavailable;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return errc::timeout;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return errc::resource_exhausted;
    case grpc::StatusCode::FAILED_PRECONDITION: return errc::failed_precondition;
    case grpc::StatusCode::CANCELLED: return errc::cancelled;
    case grpc::StatusCode::UNIMPLEMENTED: return errc::unimplemented;
    case grpc::StatusCode::OK:  // not an error; callers check ok() first
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::DATA_LOSS:
    case grpc::StatusCode::DO_NOT_USE: return errc::internal;
  }
  return errc::internal;
}

[[nodiscard]] inline error error_from_grpc(const grpc::Status& status) {
  return {errc_from_grpc(status.error_code()), status.error_message(), static_cast<int>(status.error_code())};
}

// The error of a call the client never cancels itself (control calls, or a send while its producer
// is open): a CANCELLED status then comes from the broker's side (gRPC cancels the calls in flight
// when a server shuts down), a transient failure a new attempt gets past, so it is unavailable.
[[nodiscard]] inline error error_from_uncancelled_call(const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::CANCELLED) {
    return {errc::unavailable, "the broker cancelled the call (" + status.error_message() + ")",
            static_cast<int>(status.error_code())};
  }
  return error_from_grpc(status);
}

// Turns an RPC outcome into result<void>.
[[nodiscard]] inline result<void> check(const grpc::Status& status) {
  if (status.ok()) {
    return {};
  }
  return std::unexpected(error_from_grpc(status));
}

}  // namespace danube::detail
