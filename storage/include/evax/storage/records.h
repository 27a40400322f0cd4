// Plain records of what the node stores: instances, studies, jobs and their images. The
// storage module hands these out; SQLite stays inside it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "evax/results/records.h"

namespace evax::storage {

// How urgently a study is analysed: workers claim queued jobs by priority, highest first, and
// in order of arrival within a priority. Stored as these numbers (0, 1, 2) in both backends.
enum class Priority { routine = 0, high = 1, stat = 2 };
std::string_view priority_name(Priority priority);  // "routine", "high", "stat"
std::optional<Priority> parse_priority(std::string_view name);

// What ingest extracts from a received dataset: identity, and the attributes the intake rules
// and the admin need. No patient identifiers.
struct InstanceAttributes {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string study_instance_uid;
  std::string series_instance_uid;
  std::string transfer_syntax_uid;
  std::string modality;
  std::string body_part_examined;
  std::string view_position;
  std::string view_code;              // ViewCodeSequence[0].CodeValue
  std::string presentation_intent;    // PresentationIntentType
  std::string manufacturer;
  std::string image_type;             // ImageType, backslash-separated
  int rows = 0;
  int columns = 0;
  // From RequestedProcedurePriority and the configured priority rules (dicom_node/study_priority.h);
  // a study takes the highest of its instances'.
  Priority priority = Priority::routine;
};

// Where an instance came from (for the record; never used to name files).
struct Provenance {
  std::string calling_ae_title;
  std::string peer_address;
};

struct Instance {
  std::int64_t id = 0;
  std::int64_t study_id = 0;
  InstanceAttributes attributes;
  std::string file_path;              // absolute; empty once purged
  std::int64_t size_bytes = 0;
  std::string received_at;            // ISO 8601 UTC
};

enum class JobState { queued, running, done, skipped, failed };
std::string_view job_state_name(JobState state);
std::optional<JobState> parse_job_state(std::string_view name);
inline bool is_final(JobState s) { return s == JobState::done || s == JobState::skipped || s == JobState::failed; }

// Per-stage wall-clock times (ISO 8601 UTC; empty until the stage is reached).
struct StageTimes {
  std::string received;   // the last instance of the analysed set arrived
  std::string complete;   // the study's quiet period ended
  std::string queued;
  std::string started;
  std::string inferred;
  std::string reported;
  std::string delivered;
  std::string finished;   // the job reached a final state
};

struct Job {
  std::int64_t id = 0;
  std::int64_t study_id = 0;
  std::string study_instance_uid;
  JobState state = JobState::queued;
  std::string reason;                 // why skipped or failed (a reason code and text)
  int attempts = 0;
  std::string last_error;
  std::int64_t max_instance_id = 0;   // the job covers the study's instances up to this id
  std::optional<std::int64_t> supersedes_job_id;
  StageTimes times;
  Priority priority = Priority::routine;  // the study's when the job was queued (or extended)
};

// One image's fate within a job: analysed (with results) or skipped (with a reason code). The
// analysis is stored in the job_images columns through the results codec.
struct JobImage {
  std::int64_t job_id = 0;
  results::ImageResult result;
};

// A result object the node made for a job (a Part 10 file under outputs/).
struct Output {
  std::int64_t id = 0;
  std::int64_t job_id = 0;
  std::string kind;                   // "sr", "sc", "seg", "pmap", "kos"
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string series_instance_uid;
  std::string study_instance_uid;
  std::optional<std::int64_t> source_instance_id;
  std::string file_path;              // empty once purged
  std::int64_t size_bytes = 0;
  std::string created_at;
};

enum class DeliveryState { pending, sending, delivered, dead };
std::string_view delivery_state_name(DeliveryState state);
std::optional<DeliveryState> parse_delivery_state(std::string_view name);

// One output on its way to one destination.
struct Delivery {
  std::int64_t id = 0;
  Output output;
  std::string destination;
  DeliveryState state = DeliveryState::pending;
  int attempts = 0;                   // including the one in progress
  std::string last_status;            // the last attempt's outcome, readable
  std::string created_at;
  std::string next_attempt_at;        // informational (wall clock)
  std::string finished_at;            // delivered or dead-lettered
  double age_seconds = 0;             // since created_at, by the database's clock
  // How the destination got this output when it refused the output's SOP class at association
  // negotiation, readable ("sent as Comprehensive SR ..."); empty when sent as made.
  std::string substitution;
};

// Which outputs go to a destination: a delivery is queued for each output whose kind it takes.
struct DeliveryRoute {
  std::string destination;
  std::vector<std::string> kinds;     // empty: every kind

  bool takes(const std::string& kind) const;
};

struct DeliveryAttempt {
  std::int64_t id = 0;
  std::int64_t delivery_id = 0;
  std::string started_at;
  std::string finished_at;
  std::string outcome;                // sending | delivered | retryable | permanent | interrupted
  std::optional<int> dimse_status;
  std::string detail;
};

}  // namespace evax::storage
