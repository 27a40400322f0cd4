#include "evax/dicom_node/pixel_decoder.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmimgle/dcmimage.h>
#include <dcmtk/dcmimgle/dipixel.h>

#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>
#include <fstream>
#include <optional>

namespace evax::dicom_node {
namespace {

// 16384 x 16384: larger than any detector; bounds the memory one decode may take.
constexpr std::uint64_t kMaxPixels = std::uint64_t{16384} * 16384;

std::string text_of(DcmDataset& dataset, const DcmTagKey& tag) {
  OFString value;
  if (dataset.findAndGetOFString(tag, value).good()) return value.c_str();
  return {};
}

// Modality values of the first frame as doubles (DCMTK keeps them in the narrowest type).
std::vector<double> modality_values(const DicomImage& image) {
  const DiPixel* pixels = image.getInterData();
  std::vector<double> out;
  if (pixels == nullptr) return out;
  const std::size_t count = static_cast<std::size_t>(image.getWidth()) * image.getHeight();
  auto copy = [&](const auto* data) { out.assign(data, data + count); };
  switch (pixels->getRepresentation()) {
    case EPR_Uint8: copy(static_cast<const Uint8*>(pixels->getData())); break;
    case EPR_Sint8: copy(static_cast<const Sint8*>(pixels->getData())); break;
    case EPR_Uint16: copy(static_cast<const Uint16*>(pixels->getData())); break;
    case EPR_Sint16: copy(static_cast<const Sint16*>(pixels->getData())); break;
    case EPR_Uint32: copy(static_cast<const Uint32*>(pixels->getData())); break;
    case EPR_Sint32: copy(static_cast<const Sint32*>(pixels->getData())); break;
  }
  return out;
}

// PixelPaddingValue (and PixelPaddingRangeLimit) in modality units, when the image has them
// and a plain rescale maps stored to modality values.
std::optional<std::pair<double, double>> padding_range(DcmDataset& dataset) {
  Sint32 stored = 0, limit = 0;
  Uint16 unsigned_value = 0, unsigned_limit = 0;
  Sint16 signed_value = 0, signed_limit = 0;
  if (dataset.findAndGetUint16(DCM_PixelPaddingValue, unsigned_value).good()) stored = unsigned_value;
  else if (dataset.findAndGetSint16(DCM_PixelPaddingValue, signed_value).good()) stored = signed_value;
  else return std::nullopt;
  limit = stored;
  if (dataset.findAndGetUint16(DCM_PixelPaddingRangeLimit, unsigned_limit).good()) limit = unsigned_limit;
  else if (dataset.findAndGetSint16(DCM_PixelPaddingRangeLimit, signed_limit).good()) limit = signed_limit;
  if (dataset.tagExists(DCM_ModalityLUTSequence)) return std::nullopt;  // not a linear mapping
  // DCMTK zeroes the output when a tag is absent: keep the defaults unless it is there.
  Float64 slope = 1.0, intercept = 0.0, value = 0.0;
  if (dataset.findAndGetFloat64(DCM_RescaleSlope, value).good()) slope = value;
  if (dataset.findAndGetFloat64(DCM_RescaleIntercept, value).good()) intercept = value;
  const double a = slope * stored + intercept, b = slope * limit + intercept;
  return std::make_pair(std::min(a, b), std::max(a, b));
}

// The first valid of PixelSpacing and ImagerPixelSpacing: two positive, finite values, at most
// 10 mm (no radiograph has coarser pixels; larger values are damaged or in the wrong unit).
std::optional<PixelSpacing> pixel_spacing(DcmDataset& dataset) {
  for (const auto& [tag, name] : {std::pair{DCM_PixelSpacing, "PixelSpacing"}, std::pair{DCM_ImagerPixelSpacing, "ImagerPixelSpacing"}}) {
    Float64 row = 0, column = 0;
    if (dataset.findAndGetFloat64(tag, row, 0).bad() || dataset.findAndGetFloat64(tag, column, 1).bad()) continue;
    if (!(row > 0 && row <= 10 && column > 0 && column <= 10)) continue;
    return PixelSpacing{row, column, name};
  }
  return std::nullopt;
}

}  // namespace

std::expected<DecodedPixels, std::string> decode_dicom_file(const std::string& path) {
  DcmFileFormat file;
  if (const OFCondition status = file.loadFile(path.c_str()); status.bad())
    return std::unexpected("cannot read DICOM file " + path + ": " + status.text());
  DcmDataset& dataset = *file.getDataset();
  if (!dataset.tagExists(DCM_PixelData)) return std::unexpected("DICOM file " + path + " has no pixel data");

  DecodedPixels out;
  out.spacing = pixel_spacing(dataset);
  OFString row_direction;
  if (dataset.findAndGetOFString(DCM_PatientOrientation, row_direction, 0).good()) out.row_direction = row_direction.c_str();
  out.photometric = text_of(dataset, DCM_PhotometricInterpretation);
  if (out.photometric != "MONOCHROME1" && out.photometric != "MONOCHROME2")
    return std::unexpected("DICOM file " + path + " is " + (out.photometric.empty() ? "missing its photometric interpretation"
                                                                                     : out.photometric) +
                           ", not a greyscale (MONOCHROME1/2) radiograph");

  Uint16 rows = 0, columns = 0;
  dataset.findAndGetUint16(DCM_Rows, rows);
  dataset.findAndGetUint16(DCM_Columns, columns);
  if (static_cast<std::uint64_t>(rows) * columns > kMaxPixels)
    return std::unexpected("DICOM file " + path + " is " + std::to_string(columns) + " x " + std::to_string(rows) +
                           " pixels, more than any radiograph the node decodes");
  const E_TransferSyntax syntax = dataset.getOriginalXfer();
  DicomImage image(&file, syntax, CIF_UsePartialAccessToPixelData, 0, 1);
  if (image.getStatus() != EIS_Normal) {
    return std::unexpected("cannot decode the pixels of " + path + " (transfer syntax " + DcmXfer(syntax).getXferName() +
                           "): " + DicomImage::getString(image.getStatus()));
  }
  out.width = static_cast<int>(image.getWidth());
  out.height = static_cast<int>(image.getHeight());
  out.frames = static_cast<int>(image.getNumberOfFrames());

  const bool stored_8_bit = image.getDepth() <= 8;
  std::optional<std::pair<double, double>> padding_window;
  // Padding (the collimated-out border some detectors mark) must not stretch a min-max window,
  // and is shown black whatever the mapping.
  const auto padding = padding_range(dataset);
  std::vector<bool> is_padding;
  if (padding) {
    const std::vector<double> values = modality_values(image);
    is_padding.resize(values.size());
    double low = 0, high = -1;
    for (std::size_t i = 0; i < values.size(); ++i) {
      is_padding[i] = values[i] >= padding->first && values[i] <= padding->second;
      if (is_padding[i]) continue;
      if (high < low) low = high = values[i];
      low = std::min(low, values[i]);
      high = std::max(high, values[i]);
    }
    padding_window = high >= low ? std::optional(std::make_pair(low, high)) : std::nullopt;
  }

  if (image.getVoiLutCount() > 0 && image.setVoiLut(0)) {
    out.grey_mapping = "VOI LUT";
  } else if (image.getWindowCount() > 0 && image.setWindow(0)) {
    out.grey_mapping = "window";
  } else if (stored_8_bit && image.setNoVoiTransformation()) {
    out.grey_mapping = "as stored";
  } else if (padding_window && image.setWindow((padding_window->first + padding_window->second) / 2 + 0.5,
                                               padding_window->second - padding_window->first + 1)) {
    // DICOM's linear window with these values maps the lowest value to 0, the highest to 255.
    out.grey_mapping = "min-max (padding excluded)";
  } else if (image.setMinMaxWindow(0)) {
    out.grey_mapping = "min-max";
  } else {
    return std::unexpected("cannot set a grey mapping for " + path);
  }

  // DCMTK renders MONOCHROME1 already inverted (its output is in presentation values).
  const void* rendered = image.getOutputData(8, 0);
  if (rendered == nullptr) return std::unexpected("cannot render the pixels of " + path);
  const auto* bytes = static_cast<const std::uint8_t*>(rendered);
  out.pixels.assign(bytes, bytes + static_cast<std::size_t>(out.width) * out.height);
  for (std::size_t i = 0; i < is_padding.size() && i < out.pixels.size(); ++i)
    if (is_padding[i]) out.pixels[i] = 0;
  return out;
}

bool looks_like_dicom_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[132] = {};
  return in.read(head, sizeof head) && std::string_view(head + 128, 4) == "DICM";
}

std::string dcmtk_version() { return OFFIS_DCMTK_VERSION_STRING; }

}  // namespace evax::dicom_node
