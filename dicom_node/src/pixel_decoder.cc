#include "evax/dicom_node/pixel_decoder.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmimgle/dcmimage.h>

#include <dcmtk/dcmdata/dcuid.h>

#include <fstream>

namespace evax::dicom_node {
namespace {

std::string text_of(DcmDataset& dataset, const DcmTagKey& tag) {
  OFString value;
  if (dataset.findAndGetOFString(tag, value).good()) return value.c_str();
  return {};
}

}  // namespace

std::expected<DecodedPixels, std::string> decode_dicom_file(const std::string& path) {
  DcmFileFormat file;
  if (const OFCondition status = file.loadFile(path.c_str()); status.bad())
    return std::unexpected("cannot read DICOM file " + path + ": " + status.text());
  DcmDataset& dataset = *file.getDataset();
  if (!dataset.tagExists(DCM_PixelData)) return std::unexpected("DICOM file " + path + " has no pixel data");

  DecodedPixels out;
  out.photometric = text_of(dataset, DCM_PhotometricInterpretation);
  if (out.photometric != "MONOCHROME1" && out.photometric != "MONOCHROME2")
    return std::unexpected("DICOM file " + path + " is " + (out.photometric.empty() ? "missing its photometric interpretation"
                                                                                     : out.photometric) +
                           ", not a greyscale (MONOCHROME1/2) radiograph");

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
  if (image.getVoiLutCount() > 0 && image.setVoiLut(0)) {
    out.grey_mapping = "VOI LUT";
  } else if (image.getWindowCount() > 0 && image.setWindow(0)) {
    out.grey_mapping = "window";
  } else if (stored_8_bit && image.setNoVoiTransformation()) {
    out.grey_mapping = "as stored";
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
  return out;
}

bool looks_like_dicom_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[132] = {};
  return in.read(head, sizeof head) && std::string_view(head + 128, 4) == "DICM";
}

std::string dcmtk_version() { return OFFIS_DCMTK_VERSION_STRING; }

}  // namespace evax::dicom_node
