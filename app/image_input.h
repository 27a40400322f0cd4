// Reads an input image for `evax-node infer`: a DICOM file through the node's pixel path, or
// an 8-bit greyscale PNG used as it is stored. Stateless; needs a live DicomCodecs for DICOM.
#pragma once

#include <expected>
#include <string>

#include "evax/inference/grey_image.h"

namespace evax::app {

struct InputImage {
  inference::GreyImage image;
  std::string format;        // "dicom" or "png"
  std::string grey_mapping;  // how the pixels became 8-bit grey (DICOM), "as stored" (PNG)
};

std::expected<InputImage, std::string> read_input_image(const std::string& path);

}  // namespace evax::app
