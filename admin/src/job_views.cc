#include "job_views.h"
#include "node_views.h"

#include "evax/admin/admin_server.h"
#include "evax/results/codec.h"

namespace evax::admin {
namespace {

json time_or_null(const std::string& value) { return value.empty() ? json(nullptr) : json(value); }

json output_json(const storage::Output& output) {
  json out{{"id", output.id},
           {"kind", output.kind},
           {"sop_class_uid", output.sop_class_uid},
           {"sop_instance_uid", output.sop_instance_uid},
           {"series_instance_uid", output.series_instance_uid},
           {"size_bytes", output.size_bytes},
           {"file_present", !output.file_path.empty()}};
  if (output.kind == "sc" && !output.file_path.empty()) out["preview"] = "/api/v1/outputs/" + std::to_string(output.id) + "/preview.png";
  return out;
}

}  // namespace

json stage_times_json(const storage::StageTimes& t) {
  return {{"received", time_or_null(t.received)}, {"complete", time_or_null(t.complete)}, {"queued", time_or_null(t.queued)},
          {"started", time_or_null(t.started)},   {"inferred", time_or_null(t.inferred)}, {"reported", time_or_null(t.reported)},
          {"delivered", time_or_null(t.delivered)}, {"finished", time_or_null(t.finished)}};
}

json delivery_json(storage::ReadModel& read, const storage::Delivery& d) {
  json attempts = json::array();
  for (const auto& a : read.attempts_of(d.id))
    attempts.push_back({{"started", a.started_at},
                        {"finished", time_or_null(a.finished_at)},
                        {"outcome", a.outcome},
                        {"dimse_status", a.dimse_status ? json(*a.dimse_status) : json(nullptr)},
                        {"detail", a.detail}});
  return {{"id", d.id},
          {"destination", d.destination},
          {"state", std::string(storage::delivery_state_name(d.state))},
          {"attempts", d.attempts},
          {"last_status", d.last_status},
          {"next_attempt_at", time_or_null(d.next_attempt_at)},
          {"finished", time_or_null(d.finished_at)},
          {"substitution", d.substitution.empty() ? json(nullptr) : json(d.substitution)},
          {"attempt_log", std::move(attempts)}};
}

json feedback_json(const storage::Feedback& f) {
  json items = json::array();
  for (const auto& item : f.items)
    items.push_back({{"sop_instance_uid", item.sop_instance_uid},
                     {"finding", item.label},
                     {"verdict", item.verdict},
                     {"probability", item.probability ? json(*item.probability) : json(nullptr)},
                     {"operating_point", item.operating_point ? json(*item.operating_point) : json(nullptr)},
                     {"label", item.value}});
  return {{"id", f.id}, {"job", f.job_id}, {"reviewer", f.reviewer}, {"comment", f.comment}, {"created", f.created_at}, {"items", std::move(items)}};
}

json job_detail_json(storage::ReadModel& read, const storage::Job& job, storage::FeedbackStore* feedback) {
  json out{{"id", job.id},
           {"study_instance_uid", job.study_instance_uid},
           {"state", std::string(storage::job_state_name(job.state))},
           {"priority", std::string(storage::priority_name(job.priority))},
           {"reason", job.reason},
           {"attempts", job.attempts},
           {"last_error", job.last_error},
           {"supersedes_job", job.supersedes_job_id ? json(*job.supersedes_job_id) : json(nullptr)},
           {"times", stage_times_json(job.times)}};
  json images = json::array();
  for (const auto& image : read.images_of(job.id)) images.push_back(json::parse(results::encode_api_image(image.result)));
  out["images"] = std::move(images);
  const auto deliveries = read.deliveries_of_job(job.id);
  json outputs = json::array();
  for (const auto& output : read.outputs_of_job(job.id)) {
    json entry = output_json(output);
    json sends = json::array();
    for (const auto& d : deliveries)
      if (d.output.id == output.id) sends.push_back(delivery_json(read, d));
    entry["deliveries"] = std::move(sends);
    outputs.push_back(std::move(entry));
  }
  out["outputs"] = std::move(outputs);
  if (feedback) {
    json reviews = json::array();
    for (const auto& f : feedback->of_job(job.id)) reviews.push_back(feedback_json(f));
    out["feedback"] = std::move(reviews);
  }
  return out;
}

json job_summary_json(storage::ReadModel& read, const storage::Job& job) {
  std::map<std::string, int> decisions{{"analysed", 0}, {"skipped", 0}, {"failed", 0}};
  for (const auto& image : read.images_of(job.id)) decisions[image.result.decision] += 1;
  std::map<std::string, int> deliveries{{"total", 0}, {"delivered", 0}, {"pending", 0}, {"dead", 0}};
  for (const auto& d : read.deliveries_of_job(job.id)) {
    deliveries["total"] += 1;
    const std::string state(storage::delivery_state_name(d.state));
    deliveries[state == "sending" ? "pending" : state] += 1;
  }
  return {{"id", job.id},
          {"study_instance_uid", job.study_instance_uid},
          {"state", std::string(storage::job_state_name(job.state))},
          {"priority", std::string(storage::priority_name(job.priority))},
          {"reason", job.reason},
          {"attempts", job.attempts},
          {"times", stage_times_json(job.times)},
          {"images", decisions},
          {"outputs", deliveries}};
}

json queue_json(storage::ReadModel& read, int limit) {
  const auto jobs = read.queued_jobs(limit);
  json list = json::array();
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    json entry = job_summary_json(read, jobs[i]);
    entry["position"] = i + 1;
    list.push_back(std::move(entry));
  }
  const auto counts = read.statistics(0).queued_by_priority;
  json queued = json::object();
  for (auto p : {storage::Priority::stat, storage::Priority::high, storage::Priority::routine}) {
    const std::string name(storage::priority_name(p));
    queued[name] = counts.count(name) ? counts.at(name) : 0;
  }
  return {{"order", "priority (stat, high, routine), then first queued first"},
          {"queued", std::move(queued)},
          {"jobs", std::move(list)},
          {"limit", limit}};
}

std::string status_report_json(storage::StorageBackend& storage, const std::vector<std::int64_t>& job_ids,
                               int lease_seconds, const std::string& self_node_id) {
  const auto read = storage.open_read_model();
  const auto feedback = storage.open_feedback_store();
  json list = json::array();
  for (std::int64_t id : job_ids)
    if (auto job = read->job(id)) list.push_back(job_detail_json(*read, *job, feedback.get()));
  return json{{"jobs", std::move(list)}, {"nodes", nodes_json(*read, lease_seconds, self_node_id)}}.dump(2);
}

std::vector<std::int64_t> recent_job_ids(storage::StorageBackend& storage, int limit) {
  const auto read = storage.open_read_model();
  std::vector<std::int64_t> ids;
  for (const auto& job : read->recent_jobs(limit)) ids.push_back(job.id);
  return ids;
}

}  // namespace evax::admin
