// What a destination that refuses a SOP class at association negotiation can get instead: the
// Comprehensive SR form of a 3D or Enhanced SR (same content, new SOP Class and a SOP Instance
// UID derived from the original, so a re-send gives the same UID). Made from the stored file at
// send time, in memory: nothing extra to keep, purge or migrate. Internal to dicom_node.
#pragma once

#include <dcmtk/dcmdata/dcfilefo.h>

#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace evax::dicom_node {

// The SOP class an object of `sop_class_uid` can be sent as when that one is refused.
std::optional<std::string> alternative_sop_class(const std::string& sop_class_uid);

// "2.25.<decimal>" from SHA-256 of the original UID and the alternative class: the same inputs
// always give the same UID, different ones (practically) never.
std::string alternative_instance_uid(const std::string& original_instance_uid, const std::string& alternative_class_uid);

// The file at `path` as `alternative_class_uid` with its derived SOP Instance UID, or why it
// cannot be (unreadable, or content the alternative cannot hold, such as 3D coordinates).
std::variant<std::unique_ptr<DcmFileFormat>, std::string> load_as_alternative(const std::string& path,
                                                                              const std::string& alternative_class_uid);

// "Comprehensive 3D SR (1.2.840.10008.5.1.4.1.1.88.34)" for the classes the node sends, else the UID.
std::string sop_class_name(const std::string& sop_class_uid);

}  // namespace evax::dicom_node
