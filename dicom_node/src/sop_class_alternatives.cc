#include "sop_class_alternatives.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <openssl/evp.h>

#include <algorithm>
#include <map>

namespace evax::dicom_node {
namespace {

constexpr const char* kComprehensiveSr = "1.2.840.10008.5.1.4.1.1.88.33";
constexpr const char* kComprehensive3dSr = "1.2.840.10008.5.1.4.1.1.88.34";
constexpr const char* kEnhancedSr = "1.2.840.10008.5.1.4.1.1.88.22";

// Whether a content item at or below `item` is a 3D spatial coordinate (Comprehensive SR has none).
bool has_3d_coordinates(DcmItem& item) {
  OFString value_type;
  if (item.findAndGetOFString(DCM_ValueType, value_type).good() && value_type == "SCOORD3D") return true;
  DcmSequenceOfItems* content = nullptr;
  if (item.findAndGetSequence(DCM_ContentSequence, content).bad() || !content) return false;
  for (unsigned long i = 0; i < content->card(); ++i)
    if (has_3d_coordinates(*content->getItem(i))) return true;
  return false;
}

// The 128-bit number's decimal digits.
std::string decimal(unsigned __int128 value) {
  std::string digits;
  do {
    digits.push_back(static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  } while (value != 0);
  std::reverse(digits.begin(), digits.end());
  return digits;
}

}  // namespace

std::optional<std::string> alternative_sop_class(const std::string& sop_class_uid) {
  if (sop_class_uid == kComprehensive3dSr || sop_class_uid == kEnhancedSr) return kComprehensiveSr;
  return std::nullopt;
}

std::string alternative_instance_uid(const std::string& original_instance_uid, const std::string& alternative_class_uid) {
  const std::string input = original_instance_uid + "/" + alternative_class_uid;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha256(), nullptr);
  unsigned __int128 value = 0;
  for (int i = 0; i < 16; ++i) value = (value << 8) | digest[i];  // PS3.5 B.2: any 128-bit number
  return "2.25." + decimal(value);
}

std::variant<std::unique_ptr<DcmFileFormat>, std::string> load_as_alternative(const std::string& path,
                                                                              const std::string& alternative_class_uid) {
  auto file = std::make_unique<DcmFileFormat>();
  const OFCondition loaded = file->loadFile(path.c_str());
  if (loaded.bad()) return std::string("cannot read the stored file: ") + loaded.text();
  DcmDataset& dataset = *file->getDataset();
  if (has_3d_coordinates(dataset)) return std::string("its content has 3D coordinates");
  OFString instance_uid;
  if (dataset.findAndGetOFString(DCM_SOPInstanceUID, instance_uid).bad() || instance_uid.empty())
    return std::string("the stored file has no SOP Instance UID");
  const std::string new_uid = alternative_instance_uid(instance_uid.c_str(), alternative_class_uid);
  dataset.putAndInsertString(DCM_SOPClassUID, alternative_class_uid.c_str());
  dataset.putAndInsertString(DCM_SOPInstanceUID, new_uid.c_str());
  DcmMetaInfo& meta = *file->getMetaInfo();
  meta.putAndInsertString(DCM_MediaStorageSOPClassUID, alternative_class_uid.c_str());
  meta.putAndInsertString(DCM_MediaStorageSOPInstanceUID, new_uid.c_str());
  return file;
}

std::string sop_class_name(const std::string& sop_class_uid) {
  static const std::map<std::string, std::string> names{{kComprehensiveSr, "Comprehensive SR"},
                                                        {kComprehensive3dSr, "Comprehensive 3D SR"},
                                                        {kEnhancedSr, "Enhanced SR"},
                                                        {"1.2.840.10008.5.1.4.1.1.30", "Parametric Map"},
                                                        {"1.2.840.10008.5.1.4.1.1.7", "Secondary Capture"},
                                                        {"1.2.840.10008.5.1.4.1.1.66.4", "Segmentation"},
                                                        {"1.2.840.10008.5.1.4.1.1.88.59", "Key Object Selection"}};
  const auto it = names.find(sop_class_uid);
  return it == names.end() ? sop_class_uid : it->second + " (" + sop_class_uid + ")";
}

}  // namespace evax::dicom_node
