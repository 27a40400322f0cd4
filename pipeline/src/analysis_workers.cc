#include "evax/pipeline/analysis_workers.h"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <future>
#include <thread>

#include "evax/dicom_node/pixel_decoder.h"
#include "evax/logging/logger.h"
#include "evax/pipeline/backoff.h"
#include "result_production.h"

namespace evax::pipeline {
namespace {

using json = nlohmann::json;
using storage::JobImage;
using storage::JobState;

struct Analysis {
  JobState state = JobState::done;
  std::string reason;
  std::vector<JobImage> images;
};

// One image on its way to the model.
struct Candidate {
  std::size_t image_index;  // into Analysis::images
  std::string source_path;
  inference::GreyImage pixels;
  std::optional<dicom_node::PixelSpacing> spacing;
  std::string row_direction;
};

json lungs_json(const LungFindings& lungs) {
  json out{{"side_basis", lungs.side_basis}, {"lungs", json::array()}};
  if (!lungs.rejection.empty()) out["rejected"] = lungs.rejection;
  for (const auto& m : lungs.measurements) {
    json lung{{"laterality", m.laterality == reporting::Laterality::right ? "right" : "left"}, {"pixels", m.pixel_count}};
    lung["area_mm2"] = m.area_mm2 ? json(*m.area_mm2) : json(nullptr);
    lung["spacing_source"] = m.spacing_source;
    out["lungs"].push_back(std::move(lung));
  }
  return out;
}

}  // namespace

AnalysisWorkers::AnalysisWorkers(const storage::FileStore& files, storage::StorageBackend& storage,
                                 inference::BatchingClassifier& classifier,
                                 const inference::ModelInfo& model, AnalysisSettings settings, const Clock& clock,
                                 logging::Logger& log, std::function<void()> on_results_queued)
    : files_(files),
      storage_(storage),
      classifier_(classifier),
      model_(model),
      settings_(std::move(settings)),
      clock_(clock),
      log_(log),
      on_results_queued_(std::move(on_results_queued)) {}

AnalysisWorkers::~AnalysisWorkers() { stop(); }

void AnalysisWorkers::start() {
  for (int i = 0; i < settings_.workers.count; ++i) threads_.emplace_back([this, i] { run(i); });
}

void AnalysisWorkers::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void AnalysisWorkers::wake() {
  {
    std::lock_guard lock(mutex_);
    ++wake_generation_;
  }
  wake_.notify_all();
}

std::chrono::seconds AnalysisWorkers::retry_delay(const config::WorkerSettings& settings, int attempt) {
  return capped_backoff(settings.retry_initial_s, settings.retry_max_s, attempt);
}

std::set<std::int64_t> AnalysisWorkers::jobs_held_back() {
  std::lock_guard lock(mutex_);
  std::set<std::int64_t> held;
  const auto now = clock_.now();
  for (auto it = retry_at_.begin(); it != retry_at_.end();) {
    if (it->second > now) {
      held.insert(it->first);
      ++it;
    } else {
      it = retry_at_.erase(it);
    }
  }
  return held;
}

void AnalysisWorkers::run(int index) {
  std::unique_ptr<storage::JobQueue> jobs;
  std::vector<std::int64_t> unrecorded;
  bool claim_unsure = false;  // a claim failed: its commit may have gone through unanswered
  while (!jobs) {
    try {
      jobs = storage_.open_job_queue();
    } catch (const std::exception& e) {
      log_.error("worker", "database-unavailable", e.what(), {{"worker", std::to_string(index)}});
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) return;
    }
  }
  for (;;) {
    std::uint64_t seen_generation;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      seen_generation = wake_generation_;
    }
    // Jobs whose outcome did not reach the database go back to the queue once it answers.
    for (auto it = unrecorded.begin(); it != unrecorded.end();) {
      try {
        jobs->retry_later(*it, "the database was unreachable when the attempt ended", logging::utc_now_iso());
        it = unrecorded.erase(it);
      } catch (const storage::LostClaim&) {
        it = unrecorded.erase(it);  // taken over meanwhile
      } catch (const std::exception&) {
        break;  // still unreachable: next round
      }
    }
    std::optional<storage::Job> job;
    try {
      if (claim_unsure) {
        // A job this node may hold without knowing goes back to the queue (not one in hand).
        std::set<std::int64_t> in_hand;
        {
          std::lock_guard lock(mutex_);
          in_hand = in_hand_;
        }
        jobs->requeue_running(in_hand);
        claim_unsure = false;
      }
      if (unrecorded.empty()) job = jobs->claim_next(jobs_held_back());
    } catch (const std::exception& e) {
      log_.error("worker", "claim-failed", e.what(), {{"worker", std::to_string(index)}});
      claim_unsure = true;
    }
    if (job) {
      {
        std::lock_guard lock(mutex_);
        in_hand_.insert(job->id);
      }
      const bool recorded = process(*jobs, *job);
      {
        std::lock_guard lock(mutex_);
        in_hand_.erase(job->id);
      }
      if (!recorded) unrecorded.push_back(job->id);
      continue;
    }
    // Nothing to do: sleep until woken, or poll again for retries that came due.
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, std::chrono::milliseconds(500),
                   [&] { return stopping_ || wake_generation_ != seen_generation; });
  }
}

namespace {

// The job's outcome must reach the database; a database busy or unreachable (a PostgreSQL
// restart) is tried again every second for five minutes, the worker pausing meanwhile, before
// the job is left running (requeued at the next start). A claim this node lost is not retried.
template <class Write>
void record(Write&& write, logging::Logger& log, const logging::Fields& fields) {
  constexpr int kAttempts = 300;
  for (int attempt = 1;; ++attempt) {
    try {
      write();
      return;
    } catch (const storage::LostClaim&) {
      throw;
    } catch (const std::exception& e) {
      if (attempt == kAttempts) throw;
      if (attempt % 10 == 1) log.warn("worker", "bookkeeping-retry", e.what(), fields);
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
}

}  // namespace

bool AnalysisWorkers::process(storage::JobQueue& jobs, const storage::Job& job) {
  const auto fields = [&] { return logging::Fields{{"job", std::to_string(job.id)}, {"attempt", std::to_string(job.attempts)}}; };
  log_.info("worker", "job-started", "analysis started", fields());
  std::string failure;
  try {
    Analysis analysis;
    std::vector<Candidate> candidates;
    for (const auto& instance : jobs.instances_for(job)) {
      JobImage image{job.id, instance.id, instance.attributes.sop_instance_uid, "analysed", "", "", "", ""};
      const auto intake = dicom_node::decide_intake(instance.attributes, settings_.intake);
      if (!intake.analyse) {
        image.decision = "skipped";
        image.reason_code = intake.reason_code;
        image.detail = intake.detail;
      } else if (instance.file_path.empty()) {
        image.decision = "failed";
        image.reason_code = "file-purged";
        image.detail = "the received file was purged before analysis";
      } else if (auto decoded = dicom_node::decode_dicom_file(instance.file_path); !decoded) {
        image.decision = "failed";
        image.reason_code = "decode-failed";
        image.detail = decoded.error();
      } else {
        candidates.push_back({analysis.images.size(), instance.file_path,
                              {decoded->width, decoded->height, std::move(decoded->pixels)}, decoded->spacing,
                              decoded->row_direction});
      }
      analysis.images.push_back(std::move(image));
    }

    if (candidates.empty()) {
      const bool any_failed = std::any_of(analysis.images.begin(), analysis.images.end(),
                                          [](const JobImage& i) { return i.decision == "failed"; });
      analysis.state = any_failed ? JobState::failed : JobState::skipped;
      analysis.reason = any_failed ? "no-decodable-image: no frontal chest image could be decoded"
                                   : "no-analysable-image: no image passed the intake rules";
      record([&] { jobs.finish(job.id, analysis.state, analysis.reason, analysis.images); }, log_, fields());
      log_.info("worker", analysis.state == JobState::failed ? "job-failed" : "job-skipped", analysis.reason, fields());
      return true;
    }

    // One request per image: probabilities and the Grad-CAM maps of its leading findings in a
    // single pass (the batcher mixes the images with other jobs' images).
    const int cam_top_k = model_.task == inference::Task::features ? 0 : settings_.cam_top_k;
    std::vector<std::future<inference::BatchingClassifier::Outcome>> pending;
    for (auto& c : candidates) pending.push_back(classifier_.submit({c.pixels, {}, cam_top_k, settings_.segment_lungs}));
    std::vector<inference::ImageResult> results;
    for (auto& f : pending) {
      auto outcome = f.get();
      if (!outcome) throw std::runtime_error("inference failed: " + outcome.error());
      results.push_back(std::move(*outcome));
    }
    record([&] { jobs.mark_inferred(job.id); }, log_, fields());
    std::vector<std::optional<LungFindings>> lungs(candidates.size());
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      if (!results[i].lungs) continue;
      lungs[i] = assess_lungs(*results[i].lungs, candidates[i].spacing, candidates[i].row_direction, settings_.lung_limits);
      results[i].lungs.reset();  // the raw mask is no longer needed: free it before drawing
      if (!lungs[i]->rejection.empty())
        log_.info("worker", "lungs-rejected", lungs[i]->rejection,
                  {{"job", std::to_string(job.id)}, {"image", std::to_string(candidates[i].image_index + 1)}});
    }

    for (std::size_t i = 0; i < candidates.size(); ++i) {
      JobImage& image = analysis.images[candidates[i].image_index];
      json probabilities{{"model", model_.name}, {"task", std::string(inference::task_info(model_.task).name)},
                         {"demo", model_.demo}, {"labels", json::array()}, {"probabilities", json::array()}};
      json cams = json::array();
      for (std::size_t c = 0; c < results[i].findings.size(); ++c) {
        const auto& finding = results[i].findings[c];
        probabilities["labels"].push_back(finding.label);
        probabilities["probabilities"].push_back(finding.probability);
        if (finding.cam)
          cams.push_back({{"label", finding.label}, {"class_index", c}, {"grid_side", finding.cam->grid_side},
                          {"map", finding.cam->normalised}});
      }
      if (model_.task == inference::Task::features) probabilities["features"] = results[i].features;
      if (lungs[i]) probabilities["segmentation"] = lungs_json(*lungs[i]);
      image.probabilities_json = probabilities.dump();
      image.cams_json = cams.dump();
    }
    if (model_.task == inference::Task::features) {
      // Features have no findings to report: the vectors are the result.
      record([&] { jobs.finish(job.id, JobState::done, "", analysis.images); }, log_, fields());
      log_.info("worker", "job-done", "analysis done", {{"job", std::to_string(job.id)}, {"images", std::to_string(candidates.size())}});
      return true;
    }
    std::vector<AnalysedImageResult> analysed;
    for (std::size_t i = 0; i < candidates.size(); ++i)
      analysed.push_back({analysis.images[candidates[i].image_index].instance_id, candidates[i].source_path,
                          std::move(candidates[i].pixels), std::move(results[i]), std::move(lungs[i])});
    const auto outputs = produce_results(files_, settings_.results, analysed, jobs.previous_report(job));
    try {
      record([&] { jobs.finish_with_outputs(job.id, analysis.images, outputs, settings_.results.destinations); }, log_, fields());
    } catch (const storage::LostClaim&) {
      // Taken over, or an earlier attempt's commit went through though its answer was lost:
      // the files may be referenced. Unreferenced ones are swept at a start-up.
      throw;
    } catch (...) {
      for (const auto& o : outputs) ::unlink(o.file_path.c_str());  // never committed: nothing refers to them
      throw;
    }
    log_.info("worker", "job-done", "analysis done, results queued",
              {{"job", std::to_string(job.id)}, {"images", std::to_string(candidates.size())},
               {"outputs", std::to_string(outputs.size())}, {"destinations", std::to_string(settings_.results.destinations.size())}});
    if (on_results_queued_) on_results_queued_();
    return true;
  } catch (const storage::LostClaim& e) {
    // Another node took the job over (this node was silent past its lease): it analyses it.
    log_.warn("worker", "claim-lost", "the job was taken over by another node: this attempt's results are dropped", fields());
    return true;
  } catch (const std::exception& e) {
    failure = e.what();
  }

  // A failed attempt: retry later, or give up after max_attempts.
  try {
    if (job.attempts >= settings_.workers.max_attempts) {
      record([&] { jobs.finish(job.id, JobState::failed, "failed after " + std::to_string(job.attempts) + " attempts: " + failure, {}); },
             log_, fields());
      log_.error("worker", "job-failed", failure, fields());
      return true;
    }
    const auto delay = retry_delay(settings_.workers, job.attempts);
    {
      std::lock_guard lock(mutex_);
      retry_at_[job.id] = clock_.now() + delay;
    }
    const auto wall = std::chrono::system_clock::now() + delay;
    record([&] { jobs.retry_later(job.id, failure, logging::iso_utc(wall)); }, log_, fields());
    log_.warn("worker", "job-retry", failure, {{"job", std::to_string(job.id)}, {"retry_in_s", std::to_string(delay.count())}});
  } catch (const storage::LostClaim&) {
    log_.warn("worker", "claim-lost", "the job was taken over by another node", fields());
  } catch (const std::exception& e) {
    // The database itself failed: the job stays running until the worker can queue it again.
    log_.error("worker", "job-bookkeeping-failed", e.what(), fields());
    return false;
  }
  return true;
}

}  // namespace evax::pipeline
