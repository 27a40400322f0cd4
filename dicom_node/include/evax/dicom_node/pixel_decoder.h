// Decodes the pixels of a greyscale DICOM image to the 8-bit grey picture the engine takes:
// Modality LUT, then the first VOI LUT or the first window when present, else a min-max
// window over the stored values (8-bit data without VOI is used as stored); MONOCHROME1 is
// inverted so that bright means dense everywhere. Pixels marked by PixelPaddingValue (and
// PixelPaddingRangeLimit) are left out of the min-max window and come out black. Stateless; thread-safe once DicomCodecs
// has been created.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <vector>

namespace evax::dicom_node {

// The physical size of a pixel, for measurements on the image.
struct PixelSpacing {
  double row_mm = 0;     // between the centres of adjacent rows
  double column_mm = 0;  // between the centres of adjacent columns
  std::string source;    // "PixelSpacing" (calibrated, at the patient) or "ImagerPixelSpacing"
                         // (at the detector: larger than the patient by the magnification)
};

struct DecodedPixels {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // row-major, 0 = black
  std::string photometric;           // MONOCHROME1 or MONOCHROME2
  std::string grey_mapping;          // "VOI LUT", "window", "min-max", "min-max (padding
                                     // excluded)" or "as stored"
  int frames = 1;                    // only the first frame is decoded
  std::optional<PixelSpacing> spacing;  // PixelSpacing if valid, else ImagerPixelSpacing, else none
  std::string row_direction;         // PatientOrientation's first value: where the columns run
                                     // towards along a row ("L": column 0 is the patient's right)
};

std::expected<DecodedPixels, std::string> decode_dicom_file(const std::string& path);

// Whether `path` starts like a DICOM Part 10 file ("DICM" after the 128-byte preamble).
bool looks_like_dicom_file(const std::string& path);

// The DCMTK version the node was built with, e.g. "3.6.7".
std::string dcmtk_version();

}  // namespace evax::dicom_node
