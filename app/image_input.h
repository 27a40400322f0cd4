// Reads an input image for `evax-node infer`: a DICOM file through the node's pixel path, or
// an 8-bit greyscale PNG used as it is stored. Stateless; needs a live DicomCodecs for DICOM.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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

// One batch of a command's files, files[first, last): the readable images in order with their
// position in the batch, and why each unreadable one could not be read.
struct InputBatch {
  std::vector<InputImage> inputs;
  std::vector<std::size_t> positions;                         // of inputs[k] within the batch
  std::vector<std::pair<std::size_t, std::string>> errors;    // position, message
};
InputBatch read_input_batch(const std::vector<std::string>& files, std::size_t first, std::size_t last);

// `text` made safe as part of an output file name: letters, digits, '-' and '_' kept, the
// rest '_' (labels and input file stems become PNG names).
std::string safe_file_part(std::string text);

}  // namespace evax::app
