// Reads a received dataset's priority (RequestedProcedurePriority and the configured rules,
// study_priority.h) with DCMTK. Internal to dicom_node. Thread-safe.
#pragma once

#include <dcmtk/dcmdata/dcitem.h>

#include "evax/dicom_node/study_priority.h"

namespace evax::dicom_node {

storage::Priority read_priority(DcmItem& dataset, const PriorityRules& rules);

}  // namespace evax::dicom_node
