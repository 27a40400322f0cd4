#include "status_command.h"

#include <nlohmann/json.hpp>

#include "command_line.h"
#include "evax/config/node_config.h"
#include "evax/storage/job_store.h"
#include "evax/storage/outbox_store.h"

namespace evax::app {
namespace {

using json = nlohmann::ordered_json;

// The job's result objects, each with its delivery to every destination and the attempts.
json outputs_json(storage::OutboxStore& outbox, std::int64_t job_id) {
  const auto deliveries = outbox.deliveries_of_job(job_id);
  json outputs = json::array();
  for (const auto& output : outbox.outputs_of_job(job_id)) {
    json sends = json::array();
    for (const auto& d : deliveries) {
      if (d.output.id != output.id) continue;
      json attempts = json::array();
      for (const auto& a : outbox.attempts_of(d.id))
        attempts.push_back({{"started", a.started_at}, {"finished", a.finished_at.empty() ? json(nullptr) : json(a.finished_at)},
                            {"outcome", a.outcome},
                            {"dimse_status", a.dimse_status ? json(*a.dimse_status) : json(nullptr)}, {"detail", a.detail}});
      sends.push_back({{"id", d.id}, {"destination", d.destination}, {"state", std::string(storage::delivery_state_name(d.state))},
                       {"attempts", d.attempts}, {"last_status", d.last_status},
                       {"next_attempt_at", d.next_attempt_at.empty() ? json(nullptr) : json(d.next_attempt_at)},
                       {"finished", d.finished_at.empty() ? json(nullptr) : json(d.finished_at)},
                       {"attempt_log", std::move(attempts)}});
    }
    outputs.push_back({{"id", output.id}, {"kind", output.kind}, {"sop_class_uid", output.sop_class_uid},
                       {"sop_instance_uid", output.sop_instance_uid}, {"series_instance_uid", output.series_instance_uid},
                       {"size_bytes", output.size_bytes}, {"file_present", !output.file_path.empty()},
                       {"deliveries", std::move(sends)}});
  }
  return outputs;
}

json job_json(storage::JobStore& jobs, storage::OutboxStore& outbox, const storage::Job& job) {
  const auto& t = job.times;
  auto time = [](const std::string& value) { return value.empty() ? json(nullptr) : json(value); };
  json out{{"id", job.id},
           {"study_instance_uid", job.study_instance_uid},
           {"state", std::string(storage::job_state_name(job.state))},
           {"reason", job.reason},
           {"attempts", job.attempts},
           {"last_error", job.last_error},
           {"supersedes_job", job.supersedes_job_id ? json(*job.supersedes_job_id) : json(nullptr)},
           {"times", {{"received", time(t.received)}, {"complete", time(t.complete)}, {"queued", time(t.queued)},
                      {"started", time(t.started)}, {"inferred", time(t.inferred)}, {"reported", time(t.reported)},
                      {"delivered", time(t.delivered)}, {"finished", time(t.finished)}}}};
  json images = json::array();
  for (const auto& image : jobs.images_of(job.id)) {
    json entry{{"sop_instance_uid", image.sop_instance_uid}, {"decision", image.decision},
               {"reason_code", image.reason_code}, {"detail", image.detail}};
    if (!image.probabilities_json.empty()) {
      const json results = json::parse(image.probabilities_json);
      json findings = json::array();
      for (std::size_t i = 0; i < results["labels"].size(); ++i)
        findings.push_back({{"label", results["labels"][i]}, {"probability", results["probabilities"][i]}});
      entry["model"] = results["model"];
      entry["demo"] = results["demo"];
      entry["findings"] = std::move(findings);
      if (results.contains("segmentation")) entry["segmentation"] = results["segmentation"];
    }
    if (!image.cams_json.empty()) entry["cams"] = json::parse(image.cams_json);
    images.push_back(std::move(entry));
  }
  out["images"] = std::move(images);
  out["outputs"] = outputs_json(outbox, job.id);
  return out;
}

}  // namespace

int run_status(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto parsed = parse_command_line(args, {"--config", "--job", "--limit"}, {});
  auto limit = parsed ? parsed->integer("--limit", 20) : std::expected<int, std::string>(0);
  auto job_id = parsed ? parsed->integer("--job", 0) : std::expected<int, std::string>(0);
  if (!parsed || !parsed->has("--config") || !limit || !job_id) {
    err << "evax-node status: " << (!parsed ? parsed.error() : !limit ? limit.error() : !job_id ? job_id.error() : "--config FILE is required")
        << "\nusage: " << kStatusUsage << "\n";
    return 2;
  }
  auto config = config::load_config_file(parsed->values.at("--config"));
  if (!config) {
    for (const auto& e : config.error()) err << "evax-node status: config: " << config::describe(e) << "\n";
    return 2;
  }
  try {
    const storage::FileStore files(config->storage.data_dir);
    storage::JobStore jobs(files);
    storage::OutboxStore outbox(files);
    json list = json::array();
    if (*job_id > 0) {
      auto job = jobs.job(*job_id);
      if (!job) {
        err << "evax-node status: no job " << *job_id << "\n";
        return 1;
      }
      list.push_back(job_json(jobs, outbox, *job));
    } else {
      for (const auto& job : jobs.recent_jobs(*limit)) list.push_back(job_json(jobs, outbox, job));
    }
    out << json{{"jobs", std::move(list)}}.dump(2) << "\n";
    return 0;
  } catch (const std::exception& e) {
    err << "evax-node status: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace evax::app
