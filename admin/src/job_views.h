// Jobs as JSON: the full record (images, decisions, findings, lungs, stage times, outputs with
// their deliveries and attempts) and the one-line summary the job list gives. Shared by the
// API and `evax-node status`. Internal to the admin module.
#pragma once

#include <nlohmann/json.hpp>

#include "evax/storage/feedback_store.h"
#include "evax/storage/read_model.h"

namespace evax::admin {

using json = nlohmann::ordered_json;

json stage_times_json(const storage::StageTimes& times);
// With `feedback`, the job's radiologist feedback too ("feedback": [...], oldest first).
json job_detail_json(storage::ReadModel& read, const storage::Job& job, storage::FeedbackStore* feedback = nullptr);
json feedback_json(const storage::Feedback& feedback);
json job_summary_json(storage::ReadModel& read, const storage::Job& job);
json delivery_json(storage::ReadModel& read, const storage::Delivery& delivery);
// GET /api/v1/queue: up to `limit` queued jobs in claim order, each a summary with its
// 1-based position, and every queued job counted by priority.
json queue_json(storage::ReadModel& read, int limit);

}  // namespace evax::admin
