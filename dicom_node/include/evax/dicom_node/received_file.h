// One inspection of a received DICOM file, used by every intake (the storage SCP, STOW-RS)
// before its StoreHandler sees the file, so that a file is trusted on the same terms whichever
// way it arrived: its sequence nesting is bounded, it parses, it carries valid UIDs, pixel data
// of the size its attributes declare, a SOP class this node stores (CR, DX), a transfer
// syntax it can decode, and the identity its sender announced. Stateless; thread-safe.
// DCMTK stays inside: the interface is a path in, plain records out.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "evax/dicom_node/study_priority.h"
#include "evax/storage/records.h"

namespace evax::dicom_node {

enum class RefusalCode {
  cannot_understand,              // 0xC000: nesting too deep, unparseable, bad UIDs, no or short pixels
  sop_class_mismatch,             // 0xA900: the dataset's SOP class is not the one announced
  sop_instance_mismatch,          // 0xC000: the dataset's SOP instance is not the one announced
  study_mismatch,                 // 0xA900: not the study the request was for (STOW-RS to a study)
  sop_class_not_supported,        // 0x0122: not CR or DX
  transfer_syntax_not_supported,  // 0xC122: one this node cannot decode (JPEG 2000, ...)
};

struct Refusal {
  RefusalCode code;
  std::string why;  // for people and the log; never patient data
  // The dataset's own, once read and found valid (a refusal after the parse); else "".
  std::string sop_class_uid;
  std::string sop_instance_uid;
};

// What the sender said the file is, where it said so: an empty field is not checked.
struct AnnouncedIdentity {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string study_instance_uid;
};

// `path`: a DICOM Part 10 file (preamble, meta header, dataset), as the SCP writes a received
// dataset and as a STOW-RS part carries one. Values over 4 KiB are not loaded into memory.
// The file is left where it is either way: the caller keeps or removes it. The attributes'
// priority is decided by `priority` (RequestedProcedurePriority and the configured rules).
std::expected<storage::InstanceAttributes, Refusal> inspect_received_file(const std::string& path,
                                                                          const AnnouncedIdentity& announced,
                                                                          const PriorityRules& priority = {});

// The DICOM status a refusal answers: the C-STORE status, and the STOW-RS FailureReason
// (PS3.18 I.2.2 uses the same numbers).
std::uint16_t refusal_status(RefusalCode code);

// A DICOM UID: 1 to 64 characters of digits and dots, no empty component. Anything else
// (a "..", a "/", a NUL, 65+ characters) is refused before it goes anywhere near a path or
// the database.
bool valid_uid(const std::string& uid);

// Whether the node stores instances of this SOP class (CR, DX for presentation and processing).
bool stored_sop_class(std::string_view sop_class_uid);

}  // namespace evax::dicom_node
