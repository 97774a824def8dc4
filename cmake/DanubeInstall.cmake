# Install rules and the package config (included by CMakeLists.txt when DANUBE_INSTALL is ON).
#
# The installed package is architecture independent: it holds headers, the .proto files, the
# committed generated/ tree, src/ and CMake files, and no compiled code. danubeConfig.cmake builds
# the generated-code library (danube::proto) in the consumer's own build, with the consumer's
# protoc, compiler and flags, once per consumer project, and defines the separately compiled
# libraries (danube::compiled, danube::testing) there the same way (see docs/packaging.md for why).
#
#   <prefix>/include/danube/**                   the headers (testing/ included) and impl/*.ipp
#   <prefix>/include/danube/generated/           generated/ (protobuf 3.21.12 / gRPC 1.51.1) and
#                                                danube_proto_all.cc, for DANUBE_PROTO_SOURCE=PREGENERATED
#   <prefix>/share/danube/proto/                 proto/ (input of DANUBE_PROTO_SOURCE=GENERATE)
#   <prefix>/share/danube/src/                   src/danube.cpp, src/danube_testing.cpp: the sources of
#                                                the separately compiled mode (danube::compiled,
#                                                danube::testing), built in the consumer's build too
#   <DANUBE_CMAKE_CONFIG_INSTALL_DIR>/           danubeConfig.cmake, danubeConfigVersion.cmake,
#                                                danubeTargets.cmake, DanubeProto.cmake,
#                                                DanubeCompiled.cmake
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(DANUBE_CMAKE_CONFIG_INSTALL_DIR
    "${CMAKE_INSTALL_DATADIR}/cmake/danube"
    CACHE STRING "Where danubeConfig.cmake is installed, relative to the prefix (vcpkg: share/danube)")
set(danube_install_proto_dir "${CMAKE_INSTALL_DATADIR}/danube/proto")
set(danube_install_generated_dir "${CMAKE_INSTALL_INCLUDEDIR}/danube/generated")
set(danube_install_src_dir "${CMAKE_INSTALL_DATADIR}/danube/src")

install(
  DIRECTORY "${PROJECT_SOURCE_DIR}/include/danube"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
  COMPONENT danube
  FILES_MATCHING
  PATTERN "*.hpp"
  PATTERN "*.ipp")
install(
  DIRECTORY "${PROJECT_SOURCE_DIR}/src/"
  DESTINATION "${danube_install_src_dir}"
  COMPONENT danube
  FILES_MATCHING
  PATTERN "*.cpp")
install(
  DIRECTORY "${PROJECT_SOURCE_DIR}/generated/"
  DESTINATION "${danube_install_generated_dir}"
  COMPONENT danube)
install(
  DIRECTORY "${PROJECT_SOURCE_DIR}/proto/"
  DESTINATION "${danube_install_proto_dir}"
  COMPONENT danube
  FILES_MATCHING
  PATTERN "*.proto")

install(TARGETS danube EXPORT danubeTargets COMPONENT danube)
install(
  EXPORT danubeTargets
  NAMESPACE danube::
  DESTINATION "${DANUBE_CMAKE_CONFIG_INSTALL_DIR}"
  COMPONENT danube)

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/danubeConfig.cmake.in" "${PROJECT_BINARY_DIR}/danubeConfig.cmake"
  INSTALL_DESTINATION "${DANUBE_CMAKE_CONFIG_INSTALL_DIR}"
  PATH_VARS danube_install_proto_dir danube_install_generated_dir danube_install_src_dir)
# ARCH_INDEPENDENT: nothing compiled is installed, so a 32-bit consumer may use a package installed
# by a 64-bit build. SameMinorVersion: before 1.0 a minor version may break the API.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/danubeConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(
  FILES "${PROJECT_BINARY_DIR}/danubeConfig.cmake" "${PROJECT_BINARY_DIR}/danubeConfigVersion.cmake"
        "${CMAKE_CURRENT_LIST_DIR}/DanubeProto.cmake" "${CMAKE_CURRENT_LIST_DIR}/DanubeCompiled.cmake"
  DESTINATION "${DANUBE_CMAKE_CONFIG_INSTALL_DIR}"
  COMPONENT danube)
