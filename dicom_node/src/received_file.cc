#include "evax/dicom_node/received_file.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>

#include <algorithm>

#include "dataset_attributes.h"
#include "dataset_priority.h"
#include "evax/dicom_node/intake_rules.h"
#include "nesting_guard.h"
#include "storage_syntaxes.h"

namespace evax::dicom_node {
namespace {

// Far beyond any real radiograph (a handful of levels), far below what overflows a thread.
constexpr int kMaxSequenceDepth = 64;

}  // namespace

bool stored_sop_class(std::string_view sop_class_uid) {
  return sop_class_uid == kCrImageStorage || sop_class_uid == kDxForPresentation || sop_class_uid == kDxForProcessing;
}

std::uint16_t refusal_status(RefusalCode code) {
  switch (code) {
    case RefusalCode::cannot_understand: return 0xC000;
    case RefusalCode::sop_class_mismatch: return 0xA900;
    case RefusalCode::sop_instance_mismatch: return 0xC000;
    case RefusalCode::study_mismatch: return 0xA900;
    case RefusalCode::sop_class_not_supported: return 0x0122;
    case RefusalCode::transfer_syntax_not_supported: return 0xC122;
  }
  return 0xC000;
}

std::expected<storage::InstanceAttributes, Refusal> inspect_received_file(const std::string& path,
                                                                          const AnnouncedIdentity& announced,
                                                                          const PriorityRules& priority) {
  auto refuse = [](RefusalCode code, std::string why) { return std::unexpected(Refusal{code, std::move(why), "", ""}); };
  if (auto why = excessive_nesting(path, kMaxSequenceDepth)) return refuse(RefusalCode::cannot_understand, *why);
  // Values over 4 KiB stay on disk, so a huge or inflating dataset does not grow memory here.
  DcmFileFormat file;
  const OFCondition loaded = file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, 4096);
  if (loaded.bad()) return refuse(RefusalCode::cannot_understand, std::string("unparseable dataset: ") + loaded.text());
  OFString syntax;
  file.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, syntax);
  auto attributes = read_instance_attributes(*file.getDataset(), syntax.c_str());
  if (!attributes) return refuse(RefusalCode::cannot_understand, attributes.error());
  attributes->priority = read_priority(*file.getDataset(), priority);
  auto refuse_read = [&](RefusalCode code, std::string why) {
    return std::unexpected(Refusal{code, std::move(why), attributes->sop_class_uid, attributes->sop_instance_uid});
  };
  if (!announced.sop_class_uid.empty() && attributes->sop_class_uid != announced.sop_class_uid)
    return refuse_read(RefusalCode::sop_class_mismatch, "SOPClassUID differs from the one announced");
  if (!announced.sop_instance_uid.empty() && attributes->sop_instance_uid != announced.sop_instance_uid)
    return refuse_read(RefusalCode::sop_instance_mismatch, "SOPInstanceUID differs from the one announced");
  if (!announced.study_instance_uid.empty() && attributes->study_instance_uid != announced.study_instance_uid)
    return refuse_read(RefusalCode::study_mismatch, "StudyInstanceUID differs from the study the request names");
  if (!stored_sop_class(attributes->sop_class_uid))
    return refuse_read(RefusalCode::sop_class_not_supported, "SOP class " + attributes->sop_class_uid + " is not stored here (CR and DX only)");
  if (std::find(std::begin(kStorageSyntaxes), std::end(kStorageSyntaxes), std::string_view(attributes->transfer_syntax_uid)) ==
      std::end(kStorageSyntaxes))
    return refuse_read(RefusalCode::transfer_syntax_not_supported,
                  "transfer syntax " + attributes->transfer_syntax_uid + " cannot be decoded here");
  return *attributes;
}

}  // namespace evax::dicom_node
