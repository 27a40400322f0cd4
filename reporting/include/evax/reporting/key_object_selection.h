// A Key Object Selection Document (KOS) listing every object of one analysis's result set
// (SR, SC, SEG, Parametric Map), so a viewer or archive can open them as one. Built with
// DCMTK's dcmsr and checked before it is returned. Stateless; thread-safe.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "evax/reporting/result_objects.h"

namespace evax::reporting {

struct KeyObjectSelectionRequest {
  AlgorithmIdentity algorithm;
  std::string source_path;              // a received file of the study (patient/study copied)
  std::vector<ObjectReference> objects; // every object of the result set (SR, SC, SEG, PM)
  int series_number = 9905;
  std::optional<AlgorithmIdentity> segmenter;  // the lung model, when the set holds its objects
};

// The KOS (1.2.840.10008.5.1.4.1.1.88.59), kind "kos": title (113000, DCM, "Of Interest"), a
// Key Object Description, and one reference per object (IMAGE for images, COMPOSITE for SRs),
// all listed in the Current Requested Procedure Evidence Sequence.
std::expected<DicomObject, std::string> build_key_object_selection(const KeyObjectSelectionRequest& request);

}  // namespace evax::reporting
