// The header-only half of the add_subdirectory project's mixed_modes program (round_trip.cpp with
// DANUBE_PACKAGE_MIXED is the separately compiled half): compiled without
// DANUBE_SEPARATE_COMPILATION, so every danube-cpp definition it uses is also compiled here, inline.
// A program that mixes the modes must link and work: the two modes declare the same classes and
// define them with the same text (danube/detail/config.hpp).
#include <danube/danube.hpp>
#include <danube/testing/embedded_broker.hpp>

#include <cstdio>
#include <string>

#include <fmt/format.h>

#ifdef DANUBE_SEPARATE_COMPILATION
#error "mixed_header_only.cpp must be compiled header-only"
#endif

bool publish_from_header_only_code(danube::testing::embedded_broker& broker, danube::client& client,
                                   const std::string& topic, const std::string& payload) {
  const auto sends_before = broker.calls(danube::testing::rpc::send_message);
  auto producer = client.new_producer().topic(topic).name("header-only-producer").build();
  if (!producer || !producer->create() || !producer->send(payload)) {
    fmt::print(stderr, "package test (mixed): the header-only translation unit could not publish\n");
    return false;
  }
  if (broker.calls(danube::testing::rpc::send_message) != sends_before + 1) {
    fmt::print(stderr, "package test (mixed): the broker did not count the header-only send\n");
    return false;
  }
  return true;
}
