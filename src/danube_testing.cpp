// The separately compiled embedded test broker (danube::testing): the definitions of
// <danube/testing/embedded_broker.hpp> and <danube/testing/embedded_cluster.hpp>, so that a test
// file that starts a broker compiles the facade only, not the broker. Compile this file once per
// test program, with DANUBE_SEPARATE_COMPILATION defined everywhere, next to src/danube.cpp; the
// CMake target danube::testing does both.
#if !defined(DANUBE_SEPARATE_COMPILATION)
#error \
    "src/danube_testing.cpp is danube-cpp's separately compiled mode: define DANUBE_SEPARATE_COMPILATION here and in every file that includes danube-cpp (or use the header-only mode and do not compile this file)"
#endif

#include <danube/testing/impl/embedded_broker.ipp>
#include <danube/testing/impl/embedded_cluster.ipp>
