#include "evax/dicom_node/tls_files.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

namespace evax::dicom_node {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Certificate = std::unique_ptr<X509, X509Free>;
using PrivateKey = std::unique_ptr<EVP_PKEY, KeyFree>;

// Refuses a passphrase instead of letting OpenSSL prompt on the terminal: keys must be unencrypted.
int no_passphrase(char*, int, int, void*) { return -1; }

// The file opened for reading, or why it cannot be.
Bio open_file(const std::string& path, std::string& problem) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) {
    problem = "no such file: " + path;
    return nullptr;
  }
  if (!std::filesystem::is_regular_file(status)) {
    problem = "not a regular file: " + path;
    return nullptr;
  }
  errno = 0;
  Bio bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) problem = "cannot read " + path + (errno ? std::string(": ") + std::strerror(errno) : std::string());
  return bio;
}

// The first certificate of a PEM file and how many it holds.
Certificate read_certificates(const std::string& path, int& count, std::string& problem) {
  count = 0;
  Bio bio = open_file(path, problem);
  if (!bio) return nullptr;
  Certificate first;
  while (Certificate next{PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)}) {
    if (!first) first = std::move(next);
    ++count;
  }
  if (count == 0) problem = "not a PEM certificate file (no BEGIN CERTIFICATE block that parses): " + path;
  return first;
}

PrivateKey read_private_key(const std::string& path, std::string& problem) {
  Bio bio = open_file(path, problem);
  if (!bio) return nullptr;
  PrivateKey key{PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)};
  if (!key) problem = "not an unencrypted PEM private key: " + path;
  return key;
}

}  // namespace

std::vector<TlsFileProblem> check_tls_files(const TlsFiles& files) {
  std::vector<TlsFileProblem> problems;
  std::string problem;
  Certificate certificate;
  PrivateKey key;
  if (!files.certificate.empty()) {
    int count = 0;
    certificate = read_certificates(files.certificate, count, problem);
    if (!certificate) problems.push_back({files.certificate_field, problem});
  }
  if (!files.private_key.empty()) {
    key = read_private_key(files.private_key, problem);
    if (!key) problems.push_back({files.private_key_field, problem});
  }
  if (certificate && key && X509_check_private_key(certificate.get(), key.get()) != 1)
    problems.push_back({files.private_key_field, "does not belong to the certificate " + files.certificate});
  for (std::size_t i = 0; i < files.trusted_certificates.size(); ++i) {
    int count = 0;
    if (!read_certificates(files.trusted_certificates[i], count, problem))
      problems.push_back({files.trusted_field + "[" + std::to_string(i) + "]", problem});
  }
  ERR_clear_error();  // what failed is reported above; leave no error behind for the next TLS user
  return problems;
}

}  // namespace evax::dicom_node
