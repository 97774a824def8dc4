#pragma once

#define DANUBE_VERSION_MAJOR 0
#define DANUBE_VERSION_MINOR 1
#define DANUBE_VERSION_PATCH 0

namespace danube {
inline constexpr const char* version_string = "0.1.0";
}  // namespace danube
