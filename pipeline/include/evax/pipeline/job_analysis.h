// JobAnalysis: one claimed job from intake to commit, without threads: the intake rules for
// every image, pixel decoding, the model (through the shared batcher), the output builders,
// writing the objects durably and committing the job's outcome. Returns what happened; the
// worker threads (AnalysisWorkers) own claiming, retry timing and an unreachable database.
// Collaborators come in through interfaces, so tests drive it with fakes. Thread-safe: analyse()
// may run on several threads at once (each with its own JobQueue).
#pragma once

#include <chrono>
#include <cstddef>
#include <expected>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "evax/dicom_node/intake_rules.h"
#include "evax/dicom_node/pixel_decoder.h"
#include "evax/inference/batcher.h"
#include "evax/inference/lung_mask.h"
#include "evax/logging/logger.h"
#include "evax/pipeline/output_builder.h"
#include "evax/results/records.h"
#include "evax/storage/file_store.h"
#include "evax/storage/job_queue.h"

namespace evax::pipeline {

// Reads and decodes a received file to 8-bit grey (production: dicom_node::decode_dicom_file).
class ImageDecoder {
 public:
  virtual ~ImageDecoder() = default;
  virtual std::expected<dicom_node::DecodedPixels, std::string> decode(const std::string& path) const = 0;
};
class DicomFileDecoder final : public ImageDecoder {
 public:
  std::expected<dicom_node::DecodedPixels, std::string> decode(const std::string& path) const override;
};

// The model, shared by all jobs (production: the BatchingClassifier, which batches across jobs).
class ImageModel {
 public:
  virtual ~ImageModel() = default;
  virtual std::future<inference::BatchingClassifier::Outcome> submit(inference::ClassifyRequest request) = 0;
};
class BatchedModel final : public ImageModel {
 public:
  explicit BatchedModel(inference::BatchingClassifier& classifier) : classifier_(classifier) {}
  std::future<inference::BatchingClassifier::Outcome> submit(inference::ClassifyRequest request) override {
    return classifier_.submit(std::move(request));
  }

 private:
  inference::BatchingClassifier& classifier_;
};

// How often a write of the job's state is tried while the database is busy or unreachable.
struct BookkeepingRetry {
  int attempts = 300;
  std::chrono::milliseconds pause{1000};
};

struct JobAnalysisSettings {
  dicom_node::IntakeSettings intake;
  int cam_top_k = 3;
  bool segment_lungs = false;  // the model has a Segmenter: ask it for the lungs
  inference::LungMaskLimits lung_limits;
  results::Provenance provenance;  // the model that runs
  bool features_task = false;      // the model makes feature vectors: nothing to report
  std::vector<storage::DeliveryRoute> destinations;  // each output is queued for those that take its kind
  BookkeepingRetry bookkeeping;
};

struct JobOutcome {
  enum class Kind {
    done,        // committed done (with its outputs queued, unless the features task)
    skipped,     // committed skipped: no image passed the intake rules
    failed,      // committed failed: no image could be decoded
    retry,       // the attempt failed (reason): nothing committed, no file left behind
    claim_lost,  // another node holds the job now: this attempt's results were dropped
  };
  Kind kind = Kind::done;
  std::string reason;
  std::size_t images_analysed = 0;
  std::size_t outputs = 0;  // objects queued for delivery
};

class JobAnalysis {
 public:
  // Everything passed in must outlive this object.
  JobAnalysis(const storage::FileStore& files, const ImageDecoder& decoder, ImageModel& model,
              const std::vector<std::unique_ptr<OutputBuilder>>& builders, JobAnalysisSettings settings,
              logging::Logger& log);

  // Never throws for a failure of the job; a database that stays unreachable while committing
  // gives a retry outcome.
  JobOutcome analyse(storage::JobQueue& jobs, const storage::Job& job) const;

 private:
  const storage::FileStore& files_;
  const ImageDecoder& decoder_;
  ImageModel& model_;
  const std::vector<std::unique_ptr<OutputBuilder>>& builders_;
  const JobAnalysisSettings settings_;
  logging::Logger& log_;
};

// Runs `write` until it succeeds, retrying a busy or unreachable database as `retry` says
// (logging every tenth try); rethrows LostClaim at once and the last error when out of tries.
void record_with_retry(const std::function<void()>& write, const BookkeepingRetry& retry, logging::Logger& log,
                       const logging::Fields& fields);

}  // namespace evax::pipeline
