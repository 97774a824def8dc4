# danube_add_compiled_libraries(SOURCE_DIR <dir>)
#
# The separately compiled mode (docs/getting-started.md, "Header-only or separately compiled"):
#   danube::compiled  STATIC, <dir>/danube.cpp: the client's non-template definitions. Defines
#                     DANUBE_SEPARATE_COMPILATION for itself and every dependant (PUBLIC), links
#                     danube::danube (headers, gRPC, protobuf, fmt, OpenSSL, danube::proto).
#   danube::testing   STATIC, <dir>/danube_testing.cpp: the embedded test broker's definitions;
#                     links danube::compiled. For test programs only.
# Both are EXCLUDE_FROM_ALL: built when something links them. Header-only users link danube::danube
# and never build either.
#
# This file is also installed next to danubeConfig.cmake, which calls it with the installed src/
# directory: like danube::proto, the compiled libraries of an installed package are built in the
# consumer's build, with the consumer's compiler and flags (docs/packaging.md).
function(danube_add_compiled_libraries)
  cmake_parse_arguments(arg "" "SOURCE_DIR" "" ${ARGN})
  if(NOT arg_SOURCE_DIR OR NOT EXISTS "${arg_SOURCE_DIR}/danube.cpp")
    message(FATAL_ERROR "danube_add_compiled_libraries: SOURCE_DIR must hold danube.cpp (got '${arg_SOURCE_DIR}')")
  endif()

  add_library(danube_compiled STATIC "${arg_SOURCE_DIR}/danube.cpp")
  add_library(danube::compiled ALIAS danube_compiled)
  target_compile_definitions(danube_compiled PUBLIC DANUBE_SEPARATE_COMPILATION)
  target_compile_features(danube_compiled PUBLIC cxx_std_23)
  target_link_libraries(danube_compiled PUBLIC danube::danube)
  set_target_properties(danube_compiled PROPERTIES POSITION_INDEPENDENT_CODE ON EXCLUDE_FROM_ALL ON)

  add_library(danube_testing STATIC "${arg_SOURCE_DIR}/danube_testing.cpp")
  add_library(danube::testing ALIAS danube_testing)
  target_link_libraries(danube_testing PUBLIC danube::compiled)
  set_target_properties(danube_testing PROPERTIES POSITION_INDEPENDENT_CODE ON EXCLUDE_FROM_ALL ON)
endfunction()
