#pragma once
// The PEM files a TLS setup names, checked one by one before any TLS layer is built, so that a
// config error names the key at fault and the cause ("no such file", "not a PEM private key")
// instead of an OpenSSL error code. Used by check-config and at start, for every TLS block.
#include <string>
#include <vector>

namespace evax::dicom_node {

struct TlsFileProblem {
  std::string field;    // relative to the TLS block: "certificate", "private_key", "trusted_certificates[1]"
  std::string problem;  // says what is wrong with which path
};

struct TlsFiles {
  std::string certificate;                        // PEM, one or more certificates; "" = none
  std::string certificate_field = "certificate";  // its key name in this TLS block
  std::string private_key;                        // PEM, unencrypted; "" = none
  std::string private_key_field = "private_key";
  std::vector<std::string> trusted_certificates;  // PEM files, each with at least one certificate
  std::string trusted_field = "trusted_certificates";
};

// Every problem found: a missing, unreadable or unparsable file, and a key that does not belong to
// the certificate. Empty when all is well.
std::vector<TlsFileProblem> check_tls_files(const TlsFiles& files);

}  // namespace evax::dicom_node
