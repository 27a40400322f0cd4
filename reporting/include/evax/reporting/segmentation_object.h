// The lung segmentation as a DICOM Segmentation (binary, one segment per lung), derived from the
// analysed image and placed in its own series of the source study. Built with DCMTK's dcmseg and
// checked before it is returned; a failed check is an error value. Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "evax/reporting/result_objects.h"

namespace evax::reporting {

struct SegmentationRequest {
  AlgorithmIdentity algorithm;     // the segmentation model's identity (name, checksum, demo)
  std::string source_path;         // the received DICOM file the mask was made from
  int width = 0, height = 0;       // the source image's Columns and Rows
  std::vector<LungMask> lungs;     // one or two, each becomes a segment (numbered from 1, in order)
  std::string series_instance_uid; // shared by the SEGs of one analysis
  int series_number = 9903;
  int instance_number = 1;
};

// The SEG (1.2.840.10008.5.1.4.1.1.66.4), kind "seg".
std::expected<DicomObject, std::string> build_lung_segmentation(const SegmentationRequest& request);

}  // namespace evax::reporting
