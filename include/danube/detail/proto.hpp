// The one place that includes the generated protobuf/gRPC headers. Only detail/ and testing/
// include this header; public headers never expose generated types.
#pragma once

#include <danube/wire/auth_service.grpc.pb.h>
#include <danube/wire/auth_service.pb.h>
#include <danube/wire/danube_api.grpc.pb.h>
#include <danube/wire/danube_api.pb.h>
#include <danube/wire/schema_registry.grpc.pb.h>
#include <danube/wire/schema_registry.pb.h>

// The generated names share the `danube` namespace with ours (the protobuf package is part of the
// wire protocol); these aliases keep the distinction visible at the use site.
namespace danube::detail::wire {
using ::danube::AckRequest;
using ::danube::AckResponse;
using ::danube::AuthRequest;
using ::danube::AuthResponse;
using ::danube::AuthService;
using ::danube::ConsumerRequest;
using ::danube::ConsumerResponse;
using ::danube::ConsumerService;
using ::danube::Discovery;
using ::danube::DispatchStrategy;
using ::danube::HealthCheck;
using ::danube::HealthCheckRequest;
using ::danube::HealthCheckResponse;
using ::danube::MessageResponse;
using ::danube::MsgID;
using ::danube::NackRequest;
using ::danube::NackResponse;
using ::danube::ProducerAccessMode;
using ::danube::ProducerRequest;
using ::danube::ProducerResponse;
using ::danube::ProducerService;
using ::danube::ReceiveRequest;
using ::danube::SchemaReference;
using ::danube::StreamMessage;
using ::danube::TopicLookupRequest;
using ::danube::TopicLookupResponse;
using ::danube::TopicPartitionsResponse;
}  // namespace danube::detail::wire
