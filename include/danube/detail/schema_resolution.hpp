// A producer's schema: the SchemaReference it sends with CreateProducer, and the (schema_id,
// version) it stamps on every message, resolved at create() as the Rust client does
// (docs/protocol.md §8.5).
#pragma once

#include <danube/detail/client_core.hpp>
#include <danube/detail/proto.hpp>
#include <danube/detail/schema_wire.hpp>
#include <danube/detail/unary_call.hpp>
#include <danube/error.hpp>
#include <danube/schema_types.hpp>

#include <string>
#include <utility>

namespace danube::detail {

// The broker reads only the subject; the version choice travels for completeness.
inline void fill_schema_reference(wire::SchemaReference& out, const schema_reference& reference) {
  out.set_subject(reference.subject);
  if (reference.pinned_version) {
    out.set_pinned_version(*reference.pinned_version);
  } else if (reference.min_version) {
    out.set_min_version(*reference.min_version);
  } else {
    out.set_use_latest(true);
  }
}

// latest → GetLatestSchema; pinned v → must not exceed the latest (GetSchema(id, v) when older,
// so a deleted version fails); minimum m → the latest, which must be at least m. Errors fail
// create(): errc::schema for a version that cannot be satisfied, the broker's error otherwise
// (errc::not_found for an unknown subject).
[[nodiscard]] inline result<resolved_schema> resolve_schema(client_core& core, const schema_reference& reference) {
  const auto address = core.service_address();
  registry_wire::GetLatestSchemaRequest latest_request;
  latest_request.set_subject(reference.subject);
  auto latest = unary_call<registry_wire::SchemaRegistry>(
      core, address, &registry_wire::SchemaRegistry::Stub::GetLatestSchema, latest_request);
  if (!latest) {
    return std::unexpected(std::move(latest).error());
  }
  const resolved_schema newest{latest->schema_id(), latest->version()};
  if (reference.pinned_version) {
    const auto pinned = *reference.pinned_version;
    if (pinned > newest.version) {
      return unexpected_error(errc::schema, "Pinned version " + std::to_string(pinned) +
                                                " does not exist for subject '" + reference.subject +
                                                "' (the latest version is " + std::to_string(newest.version) + ")");
    }
    if (pinned == newest.version) {
      return newest;
    }
    registry_wire::GetSchemaRequest request;
    request.set_schema_id(newest.schema_id);
    request.set_version(pinned);
    auto found = unary_call<registry_wire::SchemaRegistry>(core, address,
                                                           &registry_wire::SchemaRegistry::Stub::GetSchema, request);
    if (!found) {
      return std::unexpected(std::move(found).error());
    }
    return resolved_schema{found->schema_id(), found->version()};
  }
  if (reference.min_version && newest.version < *reference.min_version) {
    return unexpected_error(errc::schema, "subject '" + reference.subject +
                                              "' has no version >= " + std::to_string(*reference.min_version) +
                                              " (the latest version is " + std::to_string(newest.version) + ")");
  }
  return newest;
}

}  // namespace danube::detail
