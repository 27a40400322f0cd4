// Reads the attributes the node keeps from a received dataset, refusing what it cannot trust
// (missing or malformed UIDs). Internal to dicom_node. Thread-safe.
#pragma once

#include <expected>
#include <string>

#include <dcmtk/dcmdata/dcdatset.h>

#include "evax/storage/records.h"

namespace evax::dicom_node {

// A DICOM UID: 1 to 64 characters of digits and dots, no empty component. Anything else
// (a "..", a "/", a NUL, 65+ characters) is refused before it goes anywhere near a path or
// the database.
bool valid_uid(const std::string& uid);

std::expected<storage::InstanceAttributes, std::string> read_instance_attributes(DcmDataset& dataset,
                                                                                const std::string& transfer_syntax_uid);

}  // namespace evax::dicom_node
