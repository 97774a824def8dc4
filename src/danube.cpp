// The separately compiled danube-cpp client (docs/getting-started.md, "Header-only or separately
// compiled"): the definitions the headers only declare when DANUBE_SEPARATE_COMPILATION is
// defined. Compile this file once per program, with DANUBE_SEPARATE_COMPILATION defined here and
// in every file that includes danube-cpp; the CMake target danube::compiled does both. Without
// CMake, compile it like generated/danube_proto_all.cc: in exactly one target of the program.
#if !defined(DANUBE_SEPARATE_COMPILATION)
#error \
    "src/danube.cpp is danube-cpp's separately compiled mode: define DANUBE_SEPARATE_COMPILATION here and in every file that includes danube-cpp (or use the header-only mode and do not compile this file)"
#endif

#include <danube/detail/config.hpp>
