// danube::testing::test_certificates: throw-away TLS material for tests, made at run time with
// OpenSSL's C API (no openssl program, no files in the repository): a CA, a server certificate for
// 127.0.0.1 and localhost signed by it, a client certificate signed by it, and an unrelated key.
// Written into a fresh temporary directory (for the file-based TLS policies) that is removed again
// with the object. For tests and examples only: never use these in production.
#pragma once

#include <danube/detail/pem.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace danube::testing {

namespace detail::certificates {

// The OpenSSL owners the client's PEM checks use, plus the one only certificate making needs.
using ::danube::detail::pem_detail::bio_ptr;
using ::danube::detail::pem_detail::pkey_ptr;
using ::danube::detail::pem_detail::x509_ptr;
struct extension_free {
  void operator()(X509_EXTENSION* e) const noexcept { X509_EXTENSION_free(e); }
};
using extension_ptr = std::unique_ptr<X509_EXTENSION, extension_free>;

// A fresh P-256 key (fast to generate, and every TLS stack takes it).
[[nodiscard]] inline pkey_ptr make_key() {
  return pkey_ptr(EVP_EC_gen("P-256"));  // NOLINT(*-vararg): OpenSSL's macro
}

[[nodiscard]] inline std::string key_pem(EVP_PKEY* key) {
  const bio_ptr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_PrivateKey(out.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return {};
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);  // NOLINT(*-vararg)
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

[[nodiscard]] inline std::string certificate_pem(X509* cert) {
  const bio_ptr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_X509(out.get(), cert) != 1) {
    return {};
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);  // NOLINT(*-vararg)
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

[[nodiscard]] inline bool add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  const extension_ptr extension(X509V3_EXT_conf_nid(nullptr, &context, nid, value));
  return extension && X509_add_ext(cert, extension.get(), -1) == 1;
}

[[nodiscard]] inline bool set_name(X509_NAME* name, const char* common_name) {
  return X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                    reinterpret_cast<const unsigned char*>("danube-cpp tests"),  // NOLINT
                                    -1, -1, 0) == 1 &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    reinterpret_cast<const unsigned char*>(common_name),  // NOLINT
                                    -1, -1, 0) == 1;
}

enum class role : std::uint8_t { ca, server, client };

// A certificate for `key`, valid from an hour ago for a day, signed by (issuer, issuer_key), or
// self-signed when issuer is nullptr.
[[nodiscard]] inline x509_ptr make_certificate(role kind, const char* common_name, EVP_PKEY* key, X509* issuer,
                                               EVP_PKEY* issuer_key, long serial) {
  x509_ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1 ||
      ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24L * 3600L) == nullptr ||
      X509_set_pubkey(cert.get(), key) != 1 || !set_name(X509_get_subject_name(cert.get()), common_name)) {
    return nullptr;
  }
  X509* signer = issuer != nullptr ? issuer : cert.get();
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) != 1) {
    return nullptr;
  }
  bool ok = add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) {
    ok = ok && add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
  }
  switch (kind) {
    case role::ca:
      ok = ok && add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE") &&
           add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
      break;
    case role::server:
      ok = ok && add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE") &&
           add_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
           add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth") &&
           add_extension(cert.get(), signer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
      break;
    case role::client:
      ok = ok && add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE") &&
           add_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature") &&
           add_extension(cert.get(), signer, NID_ext_key_usage, "clientAuth");
      break;
  }
  if (!ok || X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) <= 0) {
    return nullptr;
  }
  return cert;
}

}  // namespace detail::certificates

// The PEM material and the files holding it. Check `ok()` (or `error`) before use.
class test_certificates {
 public:
  test_certificates() {
    using namespace detail::certificates;
    const auto ca_key = make_key();
    const auto server_key = make_key();
    const auto client_key = make_key();
    const auto unrelated_key = make_key();
    if (!ca_key || !server_key || !client_key || !unrelated_key) {
      error = "OpenSSL could not generate a key";
      return;
    }
    const auto ca = make_certificate(role::ca, "danube-cpp test CA", ca_key.get(), nullptr, nullptr, 1);
    if (!ca) {
      error = "OpenSSL could not make the CA certificate";
      return;
    }
    const auto server = make_certificate(role::server, "localhost", server_key.get(), ca.get(), ca_key.get(), 2);
    const auto client =
        make_certificate(role::client, "danube-cpp test client", client_key.get(), ca.get(), ca_key.get(), 3);
    if (!server || !client) {
      error = "OpenSSL could not make the server or client certificate";
      return;
    }
    ca_pem = certificate_pem(ca.get());
    server_pem = certificate_pem(server.get());
    server_key_pem = key_pem(server_key.get());
    client_pem = certificate_pem(client.get());
    client_key_pem = key_pem(client_key.get());
    unrelated_key_pem = key_pem(unrelated_key.get());

    static std::atomic<unsigned> counter{0};
    std::error_code ec;
    std::random_device entropy;
    dir = std::filesystem::temp_directory_path(ec) /
          ("danube-cpp-certs-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)) + "-" +
           std::to_string(entropy()));
    if (ec || !std::filesystem::create_directories(dir, ec) || ec) {
      error = "cannot create a temporary directory for the certificates";
      return;
    }
    ca_file = write_("ca.pem", ca_pem);
    server_file = write_("server.pem", server_pem);
    server_key_file = write_("server.key", server_key_pem);
    client_file = write_("client.pem", client_pem);
    client_key_file = write_("client.key", client_key_pem);
    unrelated_key_file = write_("unrelated.key", unrelated_key_pem);
    garbage_file = write_("garbage.pem", "this is not PEM\n");
    missing_file = (dir / "does-not-exist.pem").string();
  }

  test_certificates(const test_certificates&) = delete;
  test_certificates& operator=(const test_certificates&) = delete;
  test_certificates(test_certificates&&) = delete;
  test_certificates& operator=(test_certificates&&) = delete;
  ~test_certificates() {
    if (!dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  }

  [[nodiscard]] bool ok() const noexcept { return error.empty(); }

  std::string error;  // empty when everything was made and written

  // PEM text.
  std::string ca_pem, server_pem, server_key_pem, client_pem, client_key_pem, unrelated_key_pem;
  // The same, as files (plus a file that is not PEM and a path that does not exist).
  std::filesystem::path dir;
  std::string ca_file, server_file, server_key_file, client_file, client_key_file, unrelated_key_file, garbage_file,
      missing_file;

 private:
  std::string write_(const char* name, const std::string& content) {
    const auto path = dir / name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) {
      error = "cannot write " + path.string();
    }
    return path.string();
  }
};

}  // namespace danube::testing
