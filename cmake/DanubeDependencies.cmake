# The third-party packages danube-cpp builds against (Debian 12: libgrpc++-dev, libprotobuf-dev,
# libfmt-dev, libssl-dev). Protobuf ships no CMake config on Debian, so the FindProtobuf module is
# used; gRPC's config looks for Protobuf itself.
include(GNUInstallDirs)
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(OpenSSL REQUIRED)
