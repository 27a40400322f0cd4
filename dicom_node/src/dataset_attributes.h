// Reads the attributes the node keeps from a received dataset, refusing what it cannot trust
// (missing or malformed UIDs). Internal to dicom_node. Thread-safe.
#pragma once

#include <expected>
#include <string>

#include <dcmtk/dcmdata/dcdatset.h>

#include "evax/dicom_node/received_file.h"  // valid_uid
#include "evax/storage/records.h"

namespace evax::dicom_node {

std::expected<storage::InstanceAttributes, std::string> read_instance_attributes(DcmDataset& dataset,
                                                                                const std::string& transfer_syntax_uid);

}  // namespace evax::dicom_node
