#include "evax/pipeline/job_analysis.h"

#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <thread>
#include <utility>

#include "evax/pipeline/lung_findings.h"

namespace evax::pipeline {
namespace {

using storage::JobImage;
using storage::JobState;

// One image on its way to the model.
struct Candidate {
  std::size_t image_index;  // into the job's images
  std::string source_path;
  inference::GreyImage pixels;
  std::optional<dicom_node::PixelSpacing> spacing;
  std::string row_direction;
};

results::LungResult lung_result(const LungFindings& lungs) {
  results::LungResult out{lungs.side_basis, lungs.rejection, {}};
  for (const auto& m : lungs.measurements)
    out.lungs.push_back({m.laterality == reporting::Laterality::right ? "right" : "left", m.pixel_count, m.area_mm2, m.spacing_source});
  return out;
}

// The model's numbers for one image, as they are stored, shown and reported.
results::ImageAnalysis analysis_of(const JobAnalysisSettings& settings, const inference::ImageResult& result,
                                   const std::optional<LungFindings>& lungs) {
  results::ImageAnalysis a;
  a.provenance = settings.provenance;
  for (const auto& f : result.findings) {
    results::Finding finding{f.label, f.probability, std::nullopt};
    if (f.cam) finding.cam = results::CamGrid{f.cam->grid_side, f.cam->normalised};
    a.findings.push_back(std::move(finding));
  }
  const auto& g = result.geometry;
  a.crop = results::CropPlacement{g.image_width, g.image_height, g.resized_width, g.resized_height, g.crop_left, g.crop_top, g.crop_size};
  if (settings.features_task) a.features = result.features;
  if (lungs) a.lungs = lung_result(*lungs);
  return a;
}

storage::Output write(const storage::FileStore& files, const BuiltObject& built) {
  const reporting::DicomObject& object = built.object;
  auto path = files.write_durably(object.bytes, storage::FileArea::outputs, object.reference.sop_instance_uid);
  if (!path) throw std::runtime_error("cannot write the " + object.kind + " result: " + path.error().message);
  storage::Output output;
  output.kind = object.kind;
  output.sop_class_uid = object.reference.sop_class_uid;
  output.sop_instance_uid = object.reference.sop_instance_uid;
  output.series_instance_uid = object.reference.series_instance_uid;
  output.study_instance_uid = object.reference.study_instance_uid;
  output.source_instance_id = built.source_instance_id;
  output.file_path = *path;
  output.size_bytes = static_cast<std::int64_t>(object.bytes.size());
  return output;
}

// Removes the files written so far unless released: a failed attempt leaves nothing behind.
class WrittenFiles {
 public:
  ~WrittenFiles() {
    for (const auto& o : outputs_) ::unlink(o.file_path.c_str());
  }
  void add(storage::Output output) { outputs_.push_back(std::move(output)); }
  const std::vector<storage::Output>& outputs() const { return outputs_; }
  void release() { outputs_.clear(); }

 private:
  std::vector<storage::Output> outputs_;
};

}  // namespace

std::expected<dicom_node::DecodedPixels, std::string> DicomFileDecoder::decode(const std::string& path) const {
  return dicom_node::decode_dicom_file(path);
}

void record_with_retry(const std::function<void()>& write, const BookkeepingRetry& retry, logging::Logger& log,
                       const logging::Fields& fields) {
  for (int attempt = 1;; ++attempt) {
    try {
      write();
      return;
    } catch (const storage::LostClaim&) {
      throw;
    } catch (const std::exception& e) {
      if (attempt >= retry.attempts) throw;
      if (attempt % 10 == 1) log.warn("worker", "bookkeeping-retry", e.what(), fields);
      std::this_thread::sleep_for(retry.pause);
    }
  }
}

JobAnalysis::JobAnalysis(const storage::FileStore& files, const ImageDecoder& decoder, ImageModel& model,
                         const std::vector<std::unique_ptr<OutputBuilder>>& builders, JobAnalysisSettings settings,
                         logging::Logger& log)
    : files_(files), decoder_(decoder), model_(model), builders_(builders), settings_(std::move(settings)), log_(log) {}

JobOutcome JobAnalysis::analyse(storage::JobQueue& jobs, const storage::Job& job) const {
  const logging::Fields fields{{"job", std::to_string(job.id)}, {"attempt", std::to_string(job.attempts)}};
  const auto record = [&](const std::function<void()>& write) { record_with_retry(write, settings_.bookkeeping, log_, fields); };
  log_.info("worker", "job-started", "analysis started", fields);
  try {
    results::StudyResult study{job.id, job.study_instance_uid, settings_.provenance, {}};
    std::vector<Candidate> candidates;
    for (const auto& instance : jobs.instances_for(job)) {
      results::ImageResult image{instance.id, instance.attributes.sop_instance_uid, "analysed", "", "", std::nullopt};
      const auto intake = dicom_node::decide_intake(instance.attributes, settings_.intake);
      if (!intake.analyse) {
        image.decision = "skipped";
        image.reason_code = intake.reason_code;
        image.detail = intake.detail;
      } else if (instance.file_path.empty()) {
        image.decision = "failed";
        image.reason_code = "file-purged";
        image.detail = "the received file was purged before analysis";
      } else if (auto decoded = decoder_.decode(instance.file_path); !decoded) {
        image.decision = "failed";
        image.reason_code = "decode-failed";
        image.detail = decoded.error();
      } else {
        candidates.push_back({study.images.size(), instance.file_path,
                              {decoded->width, decoded->height, std::move(decoded->pixels)}, decoded->spacing,
                              decoded->row_direction});
      }
      study.images.push_back(std::move(image));
    }
    const auto job_images = [&] {
      std::vector<JobImage> out;
      for (const auto& image : study.images) out.push_back({job.id, image});
      return out;
    };

    if (candidates.empty()) {
      const bool any_failed = std::any_of(study.images.begin(), study.images.end(),
                                          [](const results::ImageResult& i) { return i.decision == "failed"; });
      const JobState state = any_failed ? JobState::failed : JobState::skipped;
      const std::string reason = any_failed ? "no-decodable-image: no frontal chest image could be decoded"
                                            : "no-analysable-image: no image passed the intake rules";
      record([&] { jobs.finish(job.id, state, reason, job_images()); });
      log_.info("worker", any_failed ? "job-failed" : "job-skipped", reason, fields);
      return {any_failed ? JobOutcome::Kind::failed : JobOutcome::Kind::skipped, reason, 0, 0};
    }

    // One request per image: probabilities and the Grad-CAM maps of its leading findings in a
    // single pass (the batcher mixes the images with other jobs' images).
    const int cam_top_k = settings_.features_task ? 0 : settings_.cam_top_k;
    std::vector<std::future<inference::BatchingClassifier::Outcome>> pending;
    for (auto& c : candidates) pending.push_back(model_.submit({c.pixels, {}, cam_top_k, settings_.segment_lungs}));
    std::vector<inference::ImageResult> inferred;
    for (auto& f : pending) {
      auto outcome = f.get();
      if (!outcome) throw std::runtime_error("inference failed: " + outcome.error());
      inferred.push_back(std::move(*outcome));
    }
    record([&] { jobs.mark_inferred(job.id); });

    std::vector<AnalysedSource> sources;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      std::optional<LungFindings> lungs;
      if (inferred[i].lungs) {
        lungs = assess_lungs(*inferred[i].lungs, candidates[i].spacing, candidates[i].row_direction, settings_.lung_limits);
        inferred[i].lungs.reset();  // the raw mask is no longer needed: free it before drawing
        if (!lungs->rejection.empty())
          log_.info("worker", "lungs-rejected", lungs->rejection,
                    {{"job", std::to_string(job.id)}, {"image", std::to_string(candidates[i].image_index + 1)}});
      }
      study.images[candidates[i].image_index].analysis = analysis_of(settings_, inferred[i], lungs);
      sources.push_back({nullptr, candidates[i].source_path, std::move(candidates[i].pixels), std::move(lungs)});
    }
    for (std::size_t i = 0; i < candidates.size(); ++i) sources[i].result = &study.images[candidates[i].image_index];

    if (settings_.features_task) {
      // Features have no findings to report: the vectors are the result.
      record([&] { jobs.finish(job.id, JobState::done, "", job_images()); });
      log_.info("worker", "job-done", "analysis done", {{"job", std::to_string(job.id)}, {"images", std::to_string(candidates.size())}});
      return {JobOutcome::Kind::done, "", candidates.size(), 0};
    }

    std::optional<reporting::ObjectReference> predecessor;
    if (const auto previous = jobs.previous_report(job))
      predecessor = reporting::ObjectReference{previous->study_instance_uid, previous->series_instance_uid,
                                               previous->sop_class_uid, previous->sop_instance_uid};
    std::vector<BuiltObject> built;
    WrittenFiles written;
    for (const auto& builder : builders_) {
      auto objects = builder->build({study, sources, built, predecessor});
      if (!objects) throw std::runtime_error(objects.error());
      for (auto& object : *objects) {
        written.add(write(files_, object));
        built.push_back(std::move(object));
      }
    }
    const std::vector<storage::Output> outputs = written.outputs();
    try {
      record([&] { jobs.finish_with_outputs(job.id, job_images(), outputs, settings_.destinations); });
    } catch (const storage::LostClaim&) {
      // Taken over, or an earlier attempt's commit went through though its answer was lost:
      // the files may be referenced. Unreferenced ones are swept at a start-up.
      written.release();
      throw;
    }
    written.release();
    log_.info("worker", "job-done", "analysis done, results queued",
              {{"job", std::to_string(job.id)}, {"images", std::to_string(candidates.size())},
               {"outputs", std::to_string(outputs.size())}, {"destinations", std::to_string(settings_.destinations.size())}});
    return {JobOutcome::Kind::done, "", candidates.size(), outputs.size()};
  } catch (const storage::LostClaim&) {
    // Another node took the job over (this node was silent past its lease): it analyses it.
    log_.warn("worker", "claim-lost", "the job was taken over by another node: this attempt's results are dropped", fields);
    return {JobOutcome::Kind::claim_lost, "the job was taken over by another node", 0, 0};
  } catch (const std::exception& e) {
    return {JobOutcome::Kind::retry, e.what(), 0, 0};
  }
}

}  // namespace evax::pipeline
