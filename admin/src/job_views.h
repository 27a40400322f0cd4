// Jobs as JSON: the full record (images, decisions, findings, lungs, stage times, outputs with
// their deliveries and attempts) and the one-line summary the job list gives. Shared by the
// API and `evax-node status`. Internal to the admin module.
#pragma once

#include <nlohmann/json.hpp>

#include "evax/storage/job_store.h"
#include "evax/storage/outbox_store.h"

namespace evax::admin {

using json = nlohmann::ordered_json;

json stage_times_json(const storage::StageTimes& times);
json job_detail_json(storage::JobStore& jobs, storage::OutboxStore& outbox, const storage::Job& job);
json job_summary_json(storage::JobStore& jobs, storage::OutboxStore& outbox, const storage::Job& job);
json delivery_json(storage::OutboxStore& outbox, const storage::Delivery& delivery);

}  // namespace evax::admin
