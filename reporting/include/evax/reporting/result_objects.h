// The DICOM objects the node sends back to the PACS, built from plain values: a TID 1500
// Structured Report of the findings and one Secondary Capture heatmap per analysed image.
// Patient and study attributes are copied from the received files, so the results land in
// the source study. Every object is checked with DCMTK's own validity checks before it is
// returned; a check that fails is an error value, never a half-valid object. DCMTK and
// OpenCV stay inside this module. Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evax::reporting {

// Who made the results; written into every object (Manufacturer, SoftwareVersions, the SR's
// device observer and algorithm items, the SC's banner).
struct AlgorithmIdentity {
  std::string manufacturer = "evax-node";  // the intake loop guard skips images with this
  std::string software_version;            // the node's version, "0.1.0"
  std::string model_name;                  // "EVA-X-S"
  std::string model_task;                  // "cxr14"
  std::string checkpoint_sha256;           // hex digest of the checkpoint file; "" for demo weights
  bool demo = false;                       // untrained demo weights: every object says so
  std::string device_observer_uid;         // stable for one installation
  std::string station_name;                // the node's AE title
  std::string parameters;                  // how the model ran, for Algorithm Parameters ("" = none)
};

// A point on the source image in DICOM image coordinates: column and row, with (0, 0) the top
// left corner of the top left pixel (a pixel's centre is at +0.5).
struct ImagePoint {
  float column = 0, row = 0;
};

// Where on the source image a finding or a lung is: the SR's Image Region. An outline is a
// closed polyline (the first point repeated last); a point marks a spot.
struct ImageRegion {
  enum class Shape { outline, point };
  Shape shape = Shape::outline;
  std::vector<ImagePoint> points;
  std::string basis;  // how it was found, written into the SR ("Grad-CAM attention ...")
};

struct FindingResult {
  std::string label;             // the head's label, "Effusion"
  double probability = 0.0;      // 0..1
  double operating_point = 0.5;  // present when probability >= operating_point
  std::optional<ImageRegion> region;  // where the finding is; absent: the whole image
  bool present() const { return probability >= operating_point; }
};

// A stored DICOM object: enough to reference it from another one.
struct ObjectReference {
  std::string study_instance_uid;
  std::string series_instance_uid;
  std::string sop_class_uid;
  std::string sop_instance_uid;
};

struct DicomObject {
  std::string kind;                 // "sr", "sc", "seg", "pmap" or "kos"
  ObjectReference reference;
  std::vector<std::uint8_t> bytes;  // a DICOM Part 10 file, explicit VR little endian
};

enum class SrDocumentType { comprehensive, enhanced, comprehensive_3d };
// "comprehensive" | "enhanced" | "comprehensive-3d"
std::optional<SrDocumentType> parse_sr_document_type(std::string_view name);

// The patient's side, as DICOM Laterality and SNOMED CT code it.
enum class Laterality { right, left };

// One lung's pixels in the source image's grid.
struct LungMask {
  Laterality laterality = Laterality::right;  // the patient's side
  std::vector<std::uint8_t> mask;             // width * height of the source image, row-major, 0 or 1
};

// One lung of an analysed image, from the segmentation model after post-processing.
struct LungMeasurement {
  Laterality laterality = Laterality::right;
  std::int64_t pixel_count = 0;     // in the source image's pixel grid
  std::optional<double> area_mm2;   // absent when the image has no usable spacing
  std::string spacing_source;       // "PixelSpacing" (at the patient) or "ImagerPixelSpacing"
                                    // (at the detector, not corrected for magnification)
  std::uint16_t segment_number = 0; // the segment in the lung SEG; 0 when no SEG was made
  std::optional<ImageRegion> outline;  // the lung's outline on the source image (the SR draws it)
};

struct AnalysedImage {
  std::string source_path;              // the received DICOM file
  std::vector<FindingResult> findings;  // head order
  std::vector<LungMeasurement> lungs;   // empty when no segmentation ran or its mask was rejected
  std::optional<ObjectReference> segmentation;  // the lung SEG made from this image
  std::string lung_note;                // why no lungs are reported (mask rejected), or ""
};

struct ReportRequest {
  AlgorithmIdentity algorithm;
  std::vector<AnalysedImage> images;            // one study's analysed images, at least one
  std::optional<ObjectReference> predecessor;   // the SR of the analysis this one supersedes
  SrDocumentType document_type = SrDocumentType::comprehensive;
  int series_number = 9901;
  std::optional<AlgorithmIdentity> segmenter;   // the lung model, when lungs are reported
};

// The Tracking Unique Identifier of what `model` reports about `subject` (a finding's label,
// "lung right") in the image `source_sop_instance_uid`: a 2.25 UID derived from these, the
// same in every re-analysis with the same checkpoint, different for another checkpoint.
std::string tracking_uid(const std::string& source_sop_instance_uid, const AlgorithmIdentity& model, std::string_view subject);

// "2.25." and the first 128 bits of SHA-256(key) in decimal (PS3.5 B.2): the same key always
// gives the same UID, different keys (practically) never. Tracking, Device and Device Observer
// UIDs are made with it.
std::string uid_from_key(std::string_view key);

// The TID 1500 Measurement Report (see docs/results.md for its content tree).
std::expected<DicomObject, std::string> build_structured_report(const ReportRequest& request);

struct SecondaryCaptureRequest {
  AlgorithmIdentity algorithm;
  std::string source_path;                 // the received DICOM file
  int width = 0, height = 0;
  std::vector<std::uint8_t> grey;          // the windowed image the model saw, width * height
  std::vector<FindingResult> findings;     // head order; the table lists them by probability
  std::vector<std::uint8_t> heat;          // Grad-CAM attention per pixel, width * height (0 = none);
                                           // empty: no heatmap
  std::vector<std::string> heat_labels;    // the findings the heat shows, most probable first
  std::vector<LungMask> lungs;             // outlined on the picture; empty: no contours
  std::optional<AlgorithmIdentity> segmenter;  // the lung model: a Contributing Equipment item when lungs are drawn
  std::string lung_note;                   // why no lungs are drawn (mask rejected), or ""
  std::string series_instance_uid;         // shared by the SCs of one analysis
  int series_number = 9902;
  int instance_number = 1;
  int max_side = 2048;                     // larger images are scaled down to fit
};

std::expected<DicomObject, std::string> build_secondary_capture(const SecondaryCaptureRequest& request);

// A PNG of a Secondary Capture file the node made, its longer side at most `max_side` (never
// enlarged): the status page's thumbnail. An error value for anything else.
std::expected<std::vector<std::uint8_t>, std::string> secondary_capture_preview_png(const std::string& path, int max_side);

// The Device UID of an algorithm, written in every object's Contributing Equipment Sequence:
// 2.25.<the first 128 bits of SHA-256 over model name, task, checkpoint digest and the node's
// software version, as an unsigned decimal>. The same for the same model and checkpoint on any
// node; a new checkpoint or node version gives a new one.
std::string device_uid(const AlgorithmIdentity& algorithm);

// A new UID under the node's root, for series shared by several objects.
std::string new_series_uid();

}  // namespace evax::reporting
