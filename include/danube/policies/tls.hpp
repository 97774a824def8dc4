// Built-in TLS policies (namespace danube::tls). Each models danube::tls_policy.
//
// build() loads and checks the PEM files with OpenSSL: a missing file, a file without PEM
// content, or a key that does not belong to its certificate is an error naming the file.
#pragma once

#include <danube/detail/pem.hpp>
#include <danube/error.hpp>
#include <danube/policies/concepts.hpp>

#include <filesystem>
#include <string>
#include <utility>

#include <openssl/x509.h>

namespace danube::tls {

// No TLS (http:// service URLs). Refuses, at compile time, auth policies that send credentials.
struct plaintext {
  static constexpr bool is_plaintext = true;
  static constexpr bool allows_credentials_in_clear = false;
  [[nodiscard]] result<tls_configuration> configuration() const { return tls_configuration{}; }
};

// No TLS, and the explicit opt-in to send credentials in clear (a trusted loopback or a sidecar
// that terminates TLS). Never the default.
struct plaintext_insecure {
  static constexpr bool is_plaintext = true;
  static constexpr bool allows_credentials_in_clear = true;
  [[nodiscard]] result<tls_configuration> configuration() const { return tls_configuration{}; }
};

// TLS, verifying the broker against the operating system's trust store.
struct system_roots {
  static constexpr bool is_plaintext = false;
  static constexpr bool allows_credentials_in_clear = false;
  [[nodiscard]] result<tls_configuration> configuration() const {
    tls_configuration out;
    out.enabled = true;
    // OpenSSL knows where the distribution keeps its bundle; when it is absent gRPC falls back to
    // its own default roots.
    const std::string bundle = X509_get_default_cert_file();
    if (std::error_code ec; std::filesystem::exists(bundle, ec)) {
      auto pem = detail::read_pem_file("system CA bundle", bundle);
      if (!pem) {
        return std::unexpected(std::move(pem).error());
      }
      out.root_certificates = std::move(*pem);
    }
    return out;
  }
};

// TLS, verifying the broker against the CA certificate(s) in one PEM file.
class ca_file {
 public:
  static constexpr bool is_plaintext = false;
  static constexpr bool allows_credentials_in_clear = false;
  explicit ca_file(std::string path) : path_(std::move(path)) {}

  [[nodiscard]] result<tls_configuration> configuration() const {
    auto pem = detail::read_pem_file("CA file", path_);
    if (!pem) {
      return std::unexpected(std::move(pem).error());
    }
    if (auto ok = detail::check_certificates("CA file", path_, *pem); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    tls_configuration out;
    out.enabled = true;
    out.root_certificates = std::move(*pem);
    return out;
  }

 private:
  std::string path_;
};

// Mutual TLS: the CA that verifies the broker, plus this client's certificate and private key.
class mutual {
 public:
  static constexpr bool is_plaintext = false;
  static constexpr bool allows_credentials_in_clear = false;
  mutual(std::string ca_path, std::string cert_path, std::string key_path)
      : ca_path_(std::move(ca_path)), cert_path_(std::move(cert_path)), key_path_(std::move(key_path)) {}

  [[nodiscard]] result<tls_configuration> configuration() const {
    auto out = ca_file(ca_path_).configuration();
    if (!out) {
      return out;
    }
    auto cert = detail::read_pem_file("certificate", cert_path_);
    if (!cert) {
      return std::unexpected(std::move(cert).error());
    }
    if (auto ok = detail::check_certificates("certificate", cert_path_, *cert); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    auto key = detail::read_pem_file("private key", key_path_);
    if (!key) {
      return std::unexpected(std::move(key).error());
    }
    if (auto ok = detail::check_key_pair(cert_path_, *cert, key_path_, *key); !ok) {
      return std::unexpected(std::move(ok).error());
    }
    out->certificate_chain = std::move(*cert);
    out->private_key = std::move(*key);
    return out;
  }

 private:
  std::string ca_path_;
  std::string cert_path_;
  std::string key_path_;
};

static_assert(tls_policy<plaintext>);
static_assert(tls_policy<plaintext_insecure>);
static_assert(tls_policy<system_roots>);
static_assert(tls_policy<ca_file>);
static_assert(tls_policy<mutual>);

}  // namespace danube::tls
