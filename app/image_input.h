// Reads an input image for `evax-node infer`: a DICOM file through the node's pixel path, or
// an 8-bit greyscale PNG used as it is stored. Stateless; needs a live DicomCodecs for DICOM.
#pragma once

#include <expected>
#include <optional>
#include <string>

#include "evax/dicom_node/pixel_decoder.h"

#include "evax/inference/grey_image.h"

namespace evax::app {

struct InputImage {
  inference::GreyImage image;
  std::string format;        // "dicom" or "png"
  std::string grey_mapping;  // how the pixels became 8-bit grey (DICOM), "as stored" (PNG)
  std::optional<dicom_node::PixelSpacing> spacing;  // DICOM only
  std::string row_direction;                        // DICOM PatientOrientation's first value
};

std::expected<InputImage, std::string> read_input_image(const std::string& path);

// `text` made safe as part of an output file name: letters, digits, '-' and '_' kept, the
// rest '_' (labels and input file stems become PNG names).
std::string safe_file_part(std::string text);

}  // namespace evax::app
