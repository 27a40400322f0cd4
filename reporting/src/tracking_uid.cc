// Tracking Unique Identifiers that a re-analysis repeats: a UID derived from what the finding
// is about, so a viewer following a finding across reports finds the same UID for the same
// image, model and finding, and a new one when any of them changes.
#include <openssl/sha.h>

#include <string>

#include "evax/reporting/result_objects.h"

namespace evax::reporting {

std::string tracking_uid(const std::string& source_sop_instance_uid, const AlgorithmIdentity& model, std::string_view subject) {
  // The node's version is left out: a new node release with the same checkpoint sees the same
  // finding. Demo weights are seeded, so "demo" names them.
  const std::string key = "evax-node tracking uid|" + source_sop_instance_uid + "|" + model.model_name + "|" + model.model_task + "|" +
                          (model.demo ? std::string("demo") : model.checkpoint_sha256) + "|" + std::string(subject);
  return uid_from_key(key);
}

std::string uid_from_key(std::string_view key) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  // The first 128 bits as an unsigned decimal (PS3.5 B.2: UUID-derived UIDs under 2.25).
  unsigned __int128 value = 0;
  for (int i = 0; i < 16; ++i) value = value << 8 | digest[i];
  std::string decimal;
  do {
    decimal.insert(decimal.begin(), static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  } while (value != 0);
  return "2.25." + decimal;
}

}  // namespace evax::reporting
