// The test certificates the TLS tests use: danube::testing::test_certificates.
#pragma once

#include <danube/testing/certificates.hpp>

namespace danube_test {
using danube::testing::test_certificates;
}  // namespace danube_test
