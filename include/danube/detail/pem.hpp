// Loading and checking TLS material with OpenSSL, so build() can say exactly which file is wrong
// (gRPC itself only reports a failed handshake, later, on the first call).
#pragma once

#include <danube/error.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace danube::detail {

namespace pem_detail {
struct bio_free {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct x509_free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct pkey_free {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

[[nodiscard]] inline bio_ptr memory_bio(const std::string& pem) {
  return bio_ptr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

[[nodiscard]] inline error tls_error(std::string_view what, const std::string& path, std::string_view why) {
  return {errc::invalid_argument, "TLS " + std::string(what) + " '" + path + "': " + std::string(why)};
}
}  // namespace pem_detail

// The whole file, or an error naming it and the reason.
[[nodiscard]] inline result<std::string> read_pem_file(std::string_view what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::unexpected(pem_detail::tls_error(what, path, std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return std::unexpected(pem_detail::tls_error(what, path, "read error"));
  }
  return content.str();
}

// At least one certificate, and nothing that fails to parse.
[[nodiscard]] inline result<void> check_certificates(std::string_view what, const std::string& path,
                                                     const std::string& pem) {
  using namespace pem_detail;
  const auto bio = memory_bio(pem);
  int count = 0;
  for (;;) {
    x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      break;
    }
    ++count;
  }
  ERR_clear_error();
  if (count == 0) {
    return std::unexpected(tls_error(what, path, "no PEM certificate in the file"));
  }
  return {};
}

// A private key that parses and belongs to the first certificate of `cert_pem`.
[[nodiscard]] inline result<void> check_key_pair(const std::string& cert_path, const std::string& cert_pem,
                                                 const std::string& key_path, const std::string& key_pem) {
  using namespace pem_detail;
  const auto key_bio = memory_bio(key_pem);
  const pkey_ptr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    return std::unexpected(tls_error("private key", key_path, "no PEM private key in the file"));
  }
  const auto cert_bio = memory_bio(cert_pem);
  const x509_ptr cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    return std::unexpected(tls_error("certificate", cert_path, "no PEM certificate in the file"));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return std::unexpected(tls_error("private key", key_path, "does not match the certificate in '" + cert_path + "'"));
  }
  return {};
}

}  // namespace danube::detail
