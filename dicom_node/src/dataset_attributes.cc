#include "dataset_attributes.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcsequen.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <algorithm>

namespace evax::dicom_node {
namespace {

// Text attributes are kept to 64 characters: the longest value representation used here
// (LO) allows 64, and nothing longer belongs in the index.
std::string text(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return {};
  std::string out = value.c_str();
  if (out.size() > 64) out.resize(64);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return out;
}

int number(DcmItem& item, const DcmTagKey& tag) {
  Uint16 value = 0;
  return item.findAndGetUint16(tag, value).good() ? value : 0;
}

}  // namespace

bool valid_uid(const std::string& uid) {
  if (uid.empty() || uid.size() > 64 || uid.front() == '.' || uid.back() == '.') return false;
  char previous = '.';
  for (char c : uid) {
    if (c == '.' && previous == '.') return false;
    if (c != '.' && (c < '0' || c > '9')) return false;
    previous = c;
  }
  return true;
}

std::expected<storage::InstanceAttributes, std::string> read_instance_attributes(DcmDataset& dataset,
                                                                                const std::string& transfer_syntax_uid) {
  storage::InstanceAttributes a;
  struct Uid {
    const DcmTagKey& tag;
    std::string& target;
    const char* name;
  };
  for (const Uid& uid : {Uid{DCM_SOPClassUID, a.sop_class_uid, "SOPClassUID"},
                         Uid{DCM_SOPInstanceUID, a.sop_instance_uid, "SOPInstanceUID"},
                         Uid{DCM_StudyInstanceUID, a.study_instance_uid, "StudyInstanceUID"},
                         Uid{DCM_SeriesInstanceUID, a.series_instance_uid, "SeriesInstanceUID"}}) {
    OFString value;
    if (dataset.findAndGetOFString(uid.tag, value).bad() || !valid_uid(value.c_str()))
      return std::unexpected(std::string(uid.name) + " is missing or not a valid UID");
    uid.target = value.c_str();
  }
  a.transfer_syntax_uid = transfer_syntax_uid;
  a.modality = text(dataset, DCM_Modality);
  a.body_part_examined = text(dataset, DCM_BodyPartExamined);
  a.view_position = text(dataset, DCM_ViewPosition);
  a.presentation_intent = text(dataset, DCM_PresentationIntentType);
  a.manufacturer = text(dataset, DCM_Manufacturer);
  a.image_type = text(dataset, DCM_ImageType);
  a.rows = number(dataset, DCM_Rows);
  a.columns = number(dataset, DCM_Columns);
  // An image without its pixels (a dataset cut short at an element boundary parses cleanly).
  DcmElement* pixels = nullptr;
  if (dataset.findAndGetElement(DCM_PixelData, pixels).bad() || pixels == nullptr)
    return std::unexpected(std::string("the image has no pixel data"));
  if (a.rows == 0 || a.columns == 0) return std::unexpected(std::string("Rows or Columns is missing or zero"));
  if (!DcmXfer(transfer_syntax_uid.c_str()).isEncapsulated()) {  // native pixel data has a known size
    const int samples = std::max(1, number(dataset, DCM_SamplesPerPixel));
    const int bits = number(dataset, DCM_BitsAllocated);
    long frames = 1;
    if (Sint32 value = 0; dataset.findAndGetSint32(DCM_NumberOfFrames, value).good() && value > 0) frames = value;
    const unsigned long long expected =
        static_cast<unsigned long long>(a.rows) * a.columns * samples * frames * static_cast<unsigned long long>(bits) / 8;
    if (bits == 0 || pixels->getLength() < expected)
      return std::unexpected("pixel data holds " + std::to_string(pixels->getLength()) + " bytes where " +
                             std::to_string(expected) + " are needed");
  }
  DcmItem* view = nullptr;
  if (dataset.findAndGetSequenceItem(DCM_ViewCodeSequence, view, 0).good() && view) a.view_code = text(*view, DCM_CodeValue);
  return a;
}

}  // namespace evax::dicom_node
