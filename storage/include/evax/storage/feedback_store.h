// FeedbackStore: radiologists' verdicts on a job's findings (POST /api/v1/jobs/{id}/feedback),
// kept as labels: each item says, for one image and one finding, whether the finding is present
// (1) or absent (0), resolved when it was given (an "agree" with a finding the node called
// present is a 1). `evax-node evaluate` reads them back as labels (labels_from_feedback).
// Owns the tables feedback and feedback_items. Thread-safe: calls from several threads are
// serialised on the store's connection.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace evax::storage {

struct FeedbackItem {
  std::string sop_instance_uid;            // the image
  std::string label;                       // the finding, as the model's head names it
  std::string verdict;                     // agree | disagree | present | absent
  std::optional<double> probability;       // the model's, when the verdict was about its decision
  std::optional<double> operating_point;   // the threshold that decision used
  int value = 0;                           // the label it gives: 1 present, 0 absent
};

struct Feedback {
  std::int64_t id = 0;
  std::int64_t job_id = 0;
  std::string reviewer;                    // the API token's name
  std::string comment;
  std::string created_at;                  // ISO 8601 UTC, set by the store
  std::vector<FeedbackItem> items;
};

class FeedbackStore {
 public:
  virtual ~FeedbackStore() = default;

  // Stores `feedback` (its id and created_at are ignored) in one transaction; returns it as
  // stored. Throws StorageError (the job must exist: the caller checks first).
  virtual Feedback record(const Feedback& feedback) = 0;
  // The job's feedback, oldest first.
  virtual std::vector<Feedback> of_job(std::int64_t job_id) = 0;
  // Labels for evaluation: SOP Instance UID -> finding -> 0/1. Where several reviews name the
  // same image and finding, the newest wins.
  virtual std::map<std::string, std::map<std::string, int>> labels_from_feedback() = 0;
};

}  // namespace evax::storage
