#include "result_production.h"

#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "evax/reporting/image_regions.h"
#include "evax/reporting/segmentation_object.h"

namespace evax::pipeline {
namespace {

// Each finding with its probability, operating point and place on the image: the outline of
// its Grad-CAM attention, or, beyond cam_top_k, the part of the image the model analysed.
std::vector<reporting::FindingResult> findings_of(const ResultSettings& settings, const inference::ImageResult& result) {
  const inference::ImageRect crop = inference::crop_in_image(result.geometry);
  const reporting::PixelRect analysed{crop.left, crop.top, crop.right, crop.bottom};
  std::vector<reporting::FindingResult> out;
  for (const auto& f : result.findings) {
    reporting::FindingResult finding{f.label, f.probability, settings.operating_point(f.label), std::nullopt};
    finding.region = f.cam ? reporting::attention_region({f.cam->grid_side, f.cam->normalised, analysed})
                           : reporting::rectangle_region(analysed, "the whole analysed area: no Grad-CAM map (beyond model.cam_top_k)");
    out.push_back(std::move(finding));
  }
  return out;
}

// The lungs' measurements with their outlines on the image, for the SR to draw.
std::vector<reporting::LungMeasurement> outlined(const LungFindings& lungs, int width, int height) {
  std::vector<reporting::LungMeasurement> out = lungs.measurements;
  for (auto& measurement : out)
    for (const auto& mask : lungs.masks)
      if (mask.laterality == measurement.laterality)
        measurement.outline = reporting::mask_outline(mask.mask, width, height, "the outline of the segmented lung");
  return out;
}

// Removes the files written so far unless released: a failed job leaves nothing behind.
class WrittenFiles {
 public:
  ~WrittenFiles() {
    for (const auto& o : outputs_) ::unlink(o.file_path.c_str());
  }
  void add(storage::Output output) { outputs_.push_back(std::move(output)); }
  std::vector<storage::Output> release() { return std::exchange(outputs_, {}); }

 private:
  std::vector<storage::Output> outputs_;
};

storage::Output write(const storage::FileStore& files, const reporting::DicomObject& object,
                      std::optional<std::int64_t> source_instance_id) {
  auto path = files.write_durably(object.bytes, storage::FileArea::outputs, object.reference.sop_instance_uid);
  if (!path) throw std::runtime_error("cannot write the " + object.kind + " result: " + path.error().message);
  storage::Output output;
  output.kind = object.kind;
  output.sop_class_uid = object.reference.sop_class_uid;
  output.sop_instance_uid = object.reference.sop_instance_uid;
  output.series_instance_uid = object.reference.series_instance_uid;
  output.study_instance_uid = object.reference.study_instance_uid;
  output.source_instance_id = source_instance_id;
  output.file_path = *path;
  output.size_bytes = static_cast<std::int64_t>(object.bytes.size());
  return output;
}

}  // namespace

std::vector<storage::Output> produce_results(const storage::FileStore& files, const ResultSettings& settings,
                                             const std::vector<AnalysedImageResult>& images,
                                             const std::optional<storage::Output>& predecessor) {
  WrittenFiles written;
  reporting::ReportRequest report{settings.algorithm, {}, std::nullopt, settings.document_type};
  report.segmenter = settings.segmenter;
  const std::string seg_series_uid = reporting::new_series_uid();
  int seg_number = 0;
  for (const auto& image : images) {
    reporting::AnalysedImage analysed{image.source_path, findings_of(settings, image.result), {}, std::nullopt, ""};
    if (image.lungs && !image.lungs->rejection.empty()) analysed.lung_note = image.lungs->rejection;
    if (image.lungs && image.lungs->rejection.empty() && settings.segmenter) {
      reporting::SegmentationRequest request{*settings.segmenter, image.source_path, image.grey.width, image.grey.height,
                                             image.lungs->masks, seg_series_uid};
      request.instance_number = ++seg_number;
      auto seg = reporting::build_lung_segmentation(request);
      if (!seg) throw std::runtime_error(seg.error());
      written.add(write(files, *seg, image.instance_id));
      analysed.lungs = outlined(*image.lungs, image.grey.width, image.grey.height);
      analysed.segmentation = seg->reference;
    }
    report.images.push_back(std::move(analysed));
  }
  if (predecessor)
    report.predecessor = reporting::ObjectReference{predecessor->study_instance_uid, predecessor->series_instance_uid,
                                                    predecessor->sop_class_uid, predecessor->sop_instance_uid};
  auto sr = reporting::build_structured_report(report);
  if (!sr) throw std::runtime_error(sr.error());
  written.add(write(files, *sr, std::nullopt));

  if (settings.secondary_capture) {
    const std::string series_uid = reporting::new_series_uid();
    int instance_number = 0;
    for (std::size_t i = 0; i < images.size(); ++i) {
      const AnalysedImageResult& image = images[i];
      reporting::SecondaryCaptureRequest request;
      request.algorithm = settings.algorithm;
      request.source_path = image.source_path;
      request.width = image.grey.width;
      request.height = image.grey.height;
      request.grey = image.grey.pixels;
      request.findings = report.images[i].findings;
      // The leading findings' maps combined by maximum on the patch grid, then upsampled once.
      std::vector<const inference::Finding*> explained;
      for (const auto& f : image.result.findings)
        if (f.cam) explained.push_back(&f);
      std::stable_sort(explained.begin(), explained.end(), [](auto a, auto b) { return a->probability > b->probability; });
      if (!explained.empty()) {
        inference::CamMap combined = *explained.front()->cam;
        for (const auto* f : explained) {
          request.heat_labels.push_back(f->label);
          for (std::size_t p = 0; p < combined.normalised.size() && p < f->cam->normalised.size(); ++p)
            combined.normalised[p] = std::max(combined.normalised[p], f->cam->normalised[p]);
        }
        request.heat = inference::render_cam(combined, image.result.geometry);
      }
      if (image.lungs) {
        request.lungs = image.lungs->masks;
        request.lung_note = image.lungs->rejection;
      }
      request.series_instance_uid = series_uid;
      request.instance_number = ++instance_number;
      request.max_side = settings.sc_max_side;
      auto sc = reporting::build_secondary_capture(request);
      if (!sc) throw std::runtime_error(sc.error());
      written.add(write(files, *sc, image.instance_id));
    }
  }
  return written.release();
}

}  // namespace evax::pipeline
