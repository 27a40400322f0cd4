// A depth check that runs before DCMTK parses a received file. DCMTK's reader recurses once
// per nested sequence (about 1 KiB of stack each), so a dataset of a few hundred kilobytes that
// nests sequences thousands deep would overflow a thread's stack and end the process. This
// scanner walks the element structure iteratively (lengths, sequences, items, delimiters;
// values are skipped, deflated data is inflated on the fly) and reports a nesting deeper than
// allowed. Internal to dicom_node. Stateless; thread-safe.
#pragma once

#include <optional>
#include <string>

namespace evax::dicom_node {

// `path` is a DICOM file as the SCP writes it (preamble, meta header, dataset). Returns why it
// must be refused, or nullopt when its nesting is within `max_depth` (or the structure is too
// broken to tell, which DCMTK's own parse will then report).
std::optional<std::string> excessive_nesting(const std::string& path, int max_depth);

}  // namespace evax::dicom_node
