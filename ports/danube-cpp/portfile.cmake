# danube-cpp: header-only, or separately compiled in the consumer's build. The package installs
# headers, the .proto files, the committed generated/ tree, src/ and CMake files, and no compiled
# code; danubeConfig.cmake builds danube::proto (the generated protobuf/gRPC code) in the consumer's
# build with the host protoc and grpc_cpp_plugin (hence the host grpc and protobuf dependencies),
# and danube::compiled / danube::testing from src/ when a target links them. See docs/vcpkg.md.
set(VCPKG_BUILD_TYPE release) # header-only

# Used as an overlay port from a danube-cpp checkout (vcpkg install --overlay-ports=<checkout>/ports),
# the port builds that checkout. Upstreamed to a registry, it downloads a release: fill in REPO and
# SHA512 when the project is published.
get_filename_component(DANUBE_CHECKOUT "${CURRENT_PORT_DIR}/../.." ABSOLUTE)
if(EXISTS "${DANUBE_CHECKOUT}/include/danube/danube.hpp" AND EXISTS "${DANUBE_CHECKOUT}/CMakeLists.txt")
  set(SOURCE_PATH "${DANUBE_CHECKOUT}")
else()
  vcpkg_from_github(
    OUT_SOURCE_PATH SOURCE_PATH
    REPO danube-messaging/danube-cpp # placeholder: the repository it is published under
    REF "v${VERSION}"
    SHA512 0 # placeholder: the release archive's SHA512
    HEAD_REF main
  )
endif()

# tests/package/install_package.cmake runs the same configure and install with these -D options,
# read from this file: keep one option per line.
vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    -DDANUBE_BUILD_TESTS=OFF
    -DDANUBE_BUILD_EXAMPLES=OFF
    -DDANUBE_BUILD_TOOLS=OFF
    -DDANUBE_BUILD_BENCH=OFF
    -DDANUBE_INSTALL=ON
    -DDANUBE_CMAKE_CONFIG_INSTALL_DIR=share/danube
)

vcpkg_cmake_install()

vcpkg_cmake_config_fixup(PACKAGE_NAME danube CONFIG_PATH share/danube)

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug")

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
