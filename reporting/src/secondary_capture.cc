// The Secondary Capture heatmap: the windowed X-ray with the leading findings' Grad-CAM maps
// blended on it, the lung contours of the segmentation, a colour legend, a findings table and
// the AI banner burned in, as an RGB
// DICOM image in the source study. Drawing is OpenCV's; the DICOM side is checked with the
// same checks DCMTK's img2dcm applies before it writes a Secondary Capture.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/libi2d/i2d.h>
#include <dcmtk/dcmdata/libi2d/i2dplsc.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "dicom_file.h"
#include "evax/reporting/result_objects.h"

namespace evax::reporting {
namespace {

constexpr const char* kBanner = "AI-GENERATED - NOT FOR DIAGNOSTIC USE";
constexpr const char* kDemoBanner = "DEMO MODEL - UNTRAINED WEIGHTS";

// Text sizes follow the picture's width so the burned-in text stays legible from 256 px up.
struct TextStyle {
  double scale;
  int thickness;
  int line_height;
};

TextStyle text_style(int width) {
  const double scale = std::clamp(width / 1600.0, 0.35, 1.6);
  return {scale, std::max(1, static_cast<int>(scale * 2)), static_cast<int>(std::ceil(30 * scale))};
}

void put_text(cv::Mat& image, const std::string& text, cv::Point origin, const TextStyle& style, cv::Scalar colour) {
  cv::putText(image, text, origin, cv::FONT_HERSHEY_SIMPLEX, style.scale, colour, style.thickness, cv::LINE_AA);
}

// Per-pixel opacity follows the attention, so the X-ray stays readable where the model did not look.
cv::Mat blend_heat(const cv::Mat& grey_bgr, const cv::Mat& heat) {
  cv::Mat colour;
  cv::applyColorMap(heat, colour, cv::COLORMAP_JET);
  cv::Mat heat_weight, grey_weight;
  heat.convertTo(heat_weight, CV_32F, 0.6 / 255.0);
  cv::subtract(cv::Scalar::all(1.0), heat_weight, grey_weight);
  cv::Mat out;
  cv::blendLinear(grey_bgr, colour, grey_weight, heat_weight, out);
  return out;
}

constexpr const char* kLungContours = "Lung contours: AI segmentation";
const cv::Scalar kContourColour(80, 255, 80);  // BGR green: apart from the JET colours at their strongest

void draw_banner(cv::Mat& image, bool demo, const std::string& lung_line, const TextStyle& style) {
  const int lines = 1 + (demo ? 1 : 0) + (lung_line.empty() ? 0 : 1);
  cv::rectangle(image, {0, 0}, {image.cols, style.line_height * lines + style.line_height / 3}, {0, 0, 0}, cv::FILLED);
  put_text(image, kBanner, {style.line_height / 3, style.line_height}, style, {255, 255, 255});
  int line = 1;
  if (demo) put_text(image, kDemoBanner, {style.line_height / 3, style.line_height * ++line}, style, {60, 60, 255});
  if (!lung_line.empty()) put_text(image, lung_line, {style.line_height / 3, style.line_height * ++line}, style, kContourColour);
}

// Each lung's outline, and its side ("R" / "L", the patient's) above it.
void draw_lungs(cv::Mat& picture, const SecondaryCaptureRequest& request, const TextStyle& style) {
  const int thickness = std::max(2, picture.cols / 400);
  for (const auto& lung : request.lungs) {
    cv::Mat mask(request.height, request.width, CV_8UC1, const_cast<std::uint8_t*>(lung.mask.data()));
    cv::Mat scaled;
    cv::resize(mask, scaled, picture.size(), 0, 0, cv::INTER_NEAREST);
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(scaled, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
    cv::drawContours(picture, contours, -1, kContourColour, thickness, cv::LINE_AA);
    if (contours.empty()) continue;
    const cv::Rect box = cv::boundingRect(scaled);
    const cv::Point label(box.x + box.width / 2 - style.line_height / 3, std::max(style.line_height, box.y - style.line_height / 3));
    put_text(picture, lung.laterality == Laterality::right ? "R" : "L", label, style, kContourColour);
  }
}

// A vertical colour bar at the right edge: what the colours mean and which findings they show.
void draw_legend(cv::Mat& image, const std::vector<std::string>& labels, const TextStyle& style) {
  const int bar_width = std::max(6, style.line_height / 2);
  const int bar_height = std::max(20, image.rows / 3);
  const int right = image.cols - style.line_height / 3;
  const int top = image.rows - bar_height - style.line_height * 2;
  if (top < style.line_height * 3 || right - bar_width < 0) return;  // too small for a legend
  cv::Mat ramp(bar_height, 1, CV_8UC1);
  for (int y = 0; y < bar_height; ++y) ramp.at<std::uint8_t>(y) = static_cast<std::uint8_t>(255 - 255 * y / (bar_height - 1));
  cv::Mat ramp_colour;
  cv::applyColorMap(ramp, ramp_colour, cv::COLORMAP_JET);
  cv::resize(ramp_colour, ramp_colour, {bar_width, bar_height}, 0, 0, cv::INTER_NEAREST);
  ramp_colour.copyTo(image(cv::Rect(right - bar_width, top, bar_width, bar_height)));
  const TextStyle small{style.scale * 0.8, std::max(1, style.thickness - 1), style.line_height};
  auto label_left = [&](const std::string& text) {
    int baseline = 0;
    const auto size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, small.scale, small.thickness, &baseline);
    return std::max(0, right - bar_width - size.width - style.line_height / 4);
  };
  put_text(image, "high", {label_left("high"), top + style.line_height / 2}, small, {255, 255, 255});
  put_text(image, "low", {label_left("low"), top + bar_height}, small, {255, 255, 255});
  std::string shown = "Grad-CAM:";
  for (const auto& label : labels) shown += " " + label;
  int baseline = 0;
  const auto size = cv::getTextSize(shown, cv::FONT_HERSHEY_SIMPLEX, small.scale, small.thickness, &baseline);
  put_text(image, shown, {std::max(0, right - size.width), top + bar_height + style.line_height}, small, {255, 255, 255});
}

int text_width(const std::string& text, const TextStyle& style) {
  int baseline = 0;
  return cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, style.scale, style.thickness, &baseline).width;
}

// "Pleural_Thickening" as a reader writes it.
std::string display_label(std::string label) {
  for (char& c : label)
    if (c == '_') c = ' ';
  return label;
}

// The findings, most probable first, in columns on a dark panel at the bottom left; the ones
// at or above their operating point in yellow, marked "+".
void draw_findings_table(cv::Mat& image, const std::vector<FindingResult>& findings, const TextStyle& style) {
  std::vector<std::size_t> order(findings.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return findings[a].probability > findings[b].probability; });
  const int rows = static_cast<int>(order.size()) + 1;
  const int panel_height = rows * style.line_height + style.line_height / 2;
  const int gap = style.line_height / 2;
  int label_width = text_width("Finding", style);
  for (const auto& f : findings) label_width = std::max(label_width, text_width(display_label(f.label), style));
  const int x_label = style.line_height / 3;
  const int x_probability = x_label + label_width + gap;
  const int x_threshold = x_probability + text_width("0.00", style) + gap;
  const int panel_width = x_threshold + text_width("(0.00) +", style) + gap;
  const int top = image.rows - panel_height;
  if (top < style.line_height * 3 || panel_width > image.cols) return;  // an image this small carries the banner only
  cv::Mat panel = image(cv::Rect(0, top, panel_width, panel_height));
  panel *= 0.35;
  const cv::Scalar heading(200, 200, 200);
  const int heading_y = top + style.line_height;
  put_text(image, "Finding", {x_label, heading_y}, style, heading);
  put_text(image, "p", {x_probability, heading_y}, style, heading);
  put_text(image, "(cut-off)", {x_threshold, heading_y}, style, heading);
  for (int row = 0; row < static_cast<int>(order.size()); ++row) {
    const auto& f = findings[order[static_cast<std::size_t>(row)]];
    const int y = top + style.line_height * (row + 2);
    const cv::Scalar colour = f.present() ? cv::Scalar(0, 230, 255) : cv::Scalar(255, 255, 255);
    char number[32];
    put_text(image, display_label(f.label), {x_label, y}, style, colour);
    std::snprintf(number, sizeof number, "%.2f", f.probability);
    put_text(image, number, {x_probability, y}, style, colour);
    std::snprintf(number, sizeof number, "(%.2f)%s", f.operating_point, f.present() ? " +" : "");
    put_text(image, number, {x_threshold, y}, style, colour);
  }
}

std::string joined(const std::vector<std::string>& labels) {
  std::string text;
  for (const auto& label : labels) text += (text.empty() ? "" : ", ") + label;
  return text;
}

std::expected<cv::Mat, std::string> render(const SecondaryCaptureRequest& request) {
  const std::size_t pixels = static_cast<std::size_t>(request.width) * static_cast<std::size_t>(request.height);
  if (request.width <= 0 || request.height <= 0 || request.grey.size() != pixels)
    return std::unexpected(std::string("the grey image does not match its size"));
  if (!request.heat.empty() && request.heat.size() != pixels)
    return std::unexpected(std::string("the heatmap does not match the image size"));
  for (const auto& lung : request.lungs)
    if (lung.mask.size() != pixels) return std::unexpected(std::string("a lung mask does not match the image size"));
  cv::Mat grey(request.height, request.width, CV_8UC1, const_cast<std::uint8_t*>(request.grey.data()));
  cv::Mat heat;
  if (!request.heat.empty()) heat = cv::Mat(request.height, request.width, CV_8UC1, const_cast<std::uint8_t*>(request.heat.data()));
  // Never larger than the source; large detectors are scaled down to max_side before drawing.
  const int longest = std::max(request.width, request.height);
  if (request.max_side > 0 && longest > request.max_side) {
    const double factor = static_cast<double>(request.max_side) / longest;
    cv::Mat smaller_grey, smaller_heat;
    cv::resize(grey, smaller_grey, {}, factor, factor, cv::INTER_AREA);
    grey = smaller_grey;
    if (!heat.empty()) {
      cv::resize(heat, smaller_heat, grey.size(), 0, 0, cv::INTER_AREA);
      heat = smaller_heat;
    }
  }
  cv::Mat grey_bgr;
  cv::cvtColor(grey, grey_bgr, cv::COLOR_GRAY2BGR);
  cv::Mat picture = heat.empty() ? grey_bgr : blend_heat(grey_bgr, heat);
  const TextStyle style = text_style(picture.cols);
  draw_lungs(picture, request, style);
  if (!heat.empty()) draw_legend(picture, request.heat_labels, style);
  draw_findings_table(picture, request.findings, style);
  const std::string lung_line = !request.lungs.empty() ? kLungContours
                                : request.lung_note.empty() ? ""
                                                            : "Lungs not drawn: " + request.lung_note;
  draw_banner(picture, request.algorithm.demo, lung_line, style);
  cv::Mat rgb;
  cv::cvtColor(picture, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

void put_source_reference(DcmItem& dataset, DcmItem& source) {
  DcmItem* item = nullptr;
  if (dataset.findOrCreateSequenceItem(DCM_SourceImageSequence, item, -2).bad() || !item) return;
  item->putAndInsertString(DCM_ReferencedSOPClassUID, element_string(source, DCM_SOPClassUID).c_str());
  item->putAndInsertString(DCM_ReferencedSOPInstanceUID, element_string(source, DCM_SOPInstanceUID).c_str());
  DcmItem* purpose = nullptr;
  if (item->findOrCreateSequenceItem(DCM_PurposeOfReferenceCodeSequence, purpose, -2).good() && purpose) {
    purpose->putAndInsertString(DCM_CodeValue, "121322");
    purpose->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
    purpose->putAndInsertString(DCM_CodeMeaning, "Source image for image processing operation");
  }
}

// The Patient, General Study, General Series, General Image and Image Pixel checks of
// img2dcm, plus its Secondary Capture plug-in's: nothing is invented, a gap is an error.
struct Img2DcmChecks : Image2Dcm {
  using Image2Dcm::isValid;  // protected in Image2Dcm: the converter calls it before writing
};

std::string img2dcm_check(DcmDataset& dataset) {
  Img2DcmChecks converter;
  converter.setValidityChecking(OFTrue, OFFalse, OFFalse);
  I2DOutputPlugSC sc_plugin;
  sc_plugin.setValidityChecking(OFTrue, OFFalse, OFFalse);
  return (converter.isValid(dataset) + sc_plugin.isValid(dataset)).c_str();
}

}  // namespace

std::expected<DicomObject, std::string> build_secondary_capture(const SecondaryCaptureRequest& request) {
  try {
    auto source = load_source(request.source_path);
    if (!source) return std::unexpected(source.error());
    DcmDataset& source_set = *(*source)->getDataset();
    auto picture = render(request);
    if (!picture) return std::unexpected(picture.error());

    DcmFileFormat file;
    DcmDataset& d = *file.getDataset();
    copy_patient_and_study(source_set, d);
    const std::string sop_instance_uid = new_uid(SITE_INSTANCE_UID_ROOT);
    const std::string series_uid = request.series_instance_uid.empty() ? new_series_uid() : request.series_instance_uid;
    d.putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
    d.putAndInsertString(DCM_SOPInstanceUID, sop_instance_uid.c_str());
    d.putAndInsertString(DCM_SeriesInstanceUID, series_uid.c_str());
    d.putAndInsertString(DCM_Modality, "OT");
    d.putAndInsertString(DCM_SeriesNumber, std::to_string(request.series_number).c_str());
    d.putAndInsertString(DCM_InstanceNumber, std::to_string(request.instance_number).c_str());
    d.putAndInsertString(DCM_SeriesDescription,
                         request.algorithm.demo ? "EVA-X AI heatmaps (DEMO MODEL)" : "EVA-X AI heatmaps");
    put_equipment(request.algorithm, d, request.lungs.empty() || !request.segmenter ? nullptr : &*request.segmenter);
    d.putAndInsertString(DCM_ConversionType, "WSD");
    d.putAndInsertString(DCM_PatientOrientation, element_string(source_set, DCM_PatientOrientation).c_str());
    // General Series: Laterality is type 2C, required for paired body parts. The chest is not
    // one, so it goes only with a known body part when the source has a value, and (empty)
    // whenever the body part is unknown.
    const std::string body_part = element_string(source_set, DCM_BodyPartExamined);
    const std::string laterality = element_string(source_set, DCM_Laterality);
    if (!body_part.empty()) d.putAndInsertString(DCM_BodyPartExamined, body_part.c_str());
    if (body_part.empty() || !laterality.empty()) d.putAndInsertString(DCM_Laterality, laterality.c_str());
    d.putAndInsertString(DCM_ImageType, "DERIVED\\SECONDARY");
    d.putAndInsertString(DCM_BurnedInAnnotation, "YES");
    d.putAndInsertString(DCM_RecognizableVisualFeatures, "NO");
    d.putAndInsertString(DCM_LossyImageCompression, "00");
    d.putAndInsertString(DCM_ImageComments, (std::string(kBanner) + (request.algorithm.demo ? ". " + std::string(kDemoBanner) : "")).c_str());
    const std::string derivation = request.heat.empty()
                                       ? "Findings of " + model_description(request.algorithm)
                                       : "Grad-CAM of " + model_description(request.algorithm) + " for " + joined(request.heat_labels);
    d.putAndInsertString(DCM_DerivationDescription, derivation.substr(0, 1024).c_str());
    put_source_reference(d, source_set);

    const cv::Mat& rgb = *picture;
    d.putAndInsertUint16(DCM_SamplesPerPixel, 3);
    d.putAndInsertString(DCM_PhotometricInterpretation, "RGB");
    d.putAndInsertUint16(DCM_PlanarConfiguration, 0);
    d.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(rgb.rows));
    d.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(rgb.cols));
    d.putAndInsertUint16(DCM_BitsAllocated, 8);
    d.putAndInsertUint16(DCM_BitsStored, 8);
    d.putAndInsertUint16(DCM_HighBit, 7);
    d.putAndInsertUint16(DCM_PixelRepresentation, 0);
    const cv::Mat packed = rgb.isContinuous() ? rgb : rgb.clone();
    d.putAndInsertUint8Array(DCM_PixelData, packed.data, static_cast<unsigned long>(packed.total() * packed.elemSize()));

    if (const std::string problems = img2dcm_check(d); !problems.empty())
      return std::unexpected("the Secondary Capture failed DCMTK's checks: " + problems);
    auto bytes = to_part10(file);
    if (!bytes) return std::unexpected(bytes.error());
    return DicomObject{"sc",
                       {element_string(d, DCM_StudyInstanceUID), series_uid, UID_SecondaryCaptureImageStorage, sop_instance_uid},
                       std::move(*bytes)};
  } catch (const std::exception& e) {
    return std::unexpected(std::string("cannot build the Secondary Capture: ") + e.what());
  }
}

}  // namespace evax::reporting

namespace evax::reporting {

std::expected<std::vector<std::uint8_t>, std::string> secondary_capture_preview_png(const std::string& path, int max_side) {
  DcmFileFormat file;
  if (file.loadFile(path.c_str()).bad()) return std::unexpected("cannot read " + path);
  DcmDataset& d = *file.getDataset();
  Uint16 rows = 0, columns = 0, samples = 0, bits = 0;
  d.findAndGetUint16(DCM_Rows, rows);
  d.findAndGetUint16(DCM_Columns, columns);
  d.findAndGetUint16(DCM_SamplesPerPixel, samples);
  d.findAndGetUint16(DCM_BitsAllocated, bits);
  const Uint8* pixels = nullptr;
  unsigned long count = 0;
  if (element_string(d, DCM_SOPClassUID) != UID_SecondaryCaptureImageStorage || samples != 3 || bits != 8 ||
      d.findAndGetUint8Array(DCM_PixelData, pixels, &count).bad() || count < 3ul * rows * columns)
    return std::unexpected(std::string("not an uncompressed RGB Secondary Capture"));
  const cv::Mat rgb(rows, columns, CV_8UC3, const_cast<Uint8*>(pixels));
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  const int longest = std::max<int>(rows, columns);
  if (max_side > 0 && longest > max_side) {
    const double factor = static_cast<double>(max_side) / longest;
    cv::resize(bgr, bgr, {}, factor, factor, cv::INTER_AREA);
  }
  std::vector<std::uint8_t> png;
  if (!cv::imencode(".png", bgr, png)) return std::unexpected(std::string("cannot encode the preview"));
  return png;
}

}  // namespace evax::reporting
