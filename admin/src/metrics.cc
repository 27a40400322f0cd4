#include "metrics.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "evax/storage/records.h"

namespace evax::admin {
namespace {

// A label value with the format's escapes (backslash, quote, newline).
std::string label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.12g", value);
  return text;
}

class Exposition {
 public:
  // Every sample carries node="<node_id>": on a shared database several nodes report.
  explicit Exposition(const std::string& node_id) : node_label_("node=\"" + label(node_id) + "\"") {}
  void family(const std::string& name, const char* type, const char* help) {
    text_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const std::string& name, const std::string& labels, double value) {
    text_ += name + "{" + node_label_ + (labels.empty() ? "" : "," + labels) + "} " + number(value) + "\n";
  }
  // A histogram from raw observations, with the given upper bounds.
  void histogram(const std::string& name, const std::string& labels, const std::vector<double>& values,
                 const std::vector<double>& bounds) {
    const std::string prefix = labels.empty() ? "" : labels + ",";
    for (double bound : bounds) {
      const auto count = std::count_if(values.begin(), values.end(), [&](double v) { return v <= bound; });
      sample(name + "_bucket", prefix + "le=\"" + number(bound) + "\"", static_cast<double>(count));
    }
    sample(name + "_bucket", prefix + "le=\"+Inf\"", static_cast<double>(values.size()));
    double sum = 0;
    for (double v : values) sum += v;
    sample(name + "_sum", labels, sum);
    sample(name + "_count", labels, static_cast<double>(values.size()));
  }
  std::string text() && { return std::move(text_); }

 private:
  const std::string node_label_;
  std::string text_;
};

// The intake's skipped images by reason and sending AE, the AE titles capped at
// kMaxSkippedAeSeries (the rest as "_other"): a PACS that sends under many AE titles cannot
// grow the series without bound. Reason codes are the intake rules' fixed set.
void skipped_images(Exposition& e, const storage::NodeStatisticsSnapshot& s) {
  e.family("evax_intake_skipped_images_total", "counter",
           "Images the intake rules skipped (all time, from the database), by reason code and calling AE title (at most 20 AE titles, the rest as _other).");
  std::map<std::string, std::int64_t> per_ae;
  for (const auto& [key, count] : s.skipped_images) per_ae[key.second] += count;
  std::vector<std::pair<std::int64_t, std::string>> ranked;
  for (const auto& [ae, count] : per_ae) ranked.push_back({-count, ae});
  std::sort(ranked.begin(), ranked.end());
  std::map<std::string, bool> own_series;
  for (std::size_t i = 0; i < ranked.size() && i < kMaxSkippedAeSeries; ++i) own_series[ranked[i].second] = true;
  std::map<std::pair<std::string, std::string>, std::int64_t> series;
  for (const auto& [key, count] : s.skipped_images) series[{key.first, own_series.count(key.second) ? key.second : "_other"}] += count;
  for (const auto& [key, count] : series)
    e.sample("evax_intake_skipped_images_total", "reason=\"" + label(key.first) + "\",calling_ae=\"" + label(key.second) + "\"",
             static_cast<double>(count));
}

// Each finding's probabilities over the recent window (buckets 0.05 wide) and its drift.
void finding_monitoring(Exposition& e, const DriftSnapshot& drift) {
  e.family("evax_finding_probability", "histogram",
           "Each finding's probability over the analysed images of the last monitoring.window_days (buckets 0.05 wide).");
  std::vector<double> bounds;
  for (int i = 1; i <= 20; ++i) bounds.push_back(i / 20.0);
  for (const auto& [finding, values] : drift.current)
    e.histogram("evax_finding_probability", "finding=\"" + label(finding) + "\"", values, bounds);
  e.family("evax_finding_drift_psi", "gauge",
           "Population stability index of each finding's probabilities, the last monitoring.window_days against the baseline (bins at the baseline's deciles, fractions smoothed by 0.5 a bin).");
  e.family("evax_finding_drift_ks", "gauge", "Two-sample Kolmogorov-Smirnov statistic, the last monitoring.window_days against the baseline.");
  e.family("evax_finding_drifting", "gauge", "1 while a finding's PSI is at or above monitoring.psi_threshold (a warning in /readyz).");
  for (const FindingDrift& f : drift.findings) {
    if (!f.psi) continue;
    const std::string finding = "finding=\"" + label(f.label) + "\"";
    e.sample("evax_finding_drift_psi", finding, *f.psi);
    e.sample("evax_finding_drift_ks", finding, *f.ks);
    e.sample("evax_finding_drifting", finding, f.drifting ? 1 : 0);
  }
}

}  // namespace

std::string prometheus_text(const storage::NodeStatisticsSnapshot& s, const LiveState& live,
                            const std::vector<ModelDescription>& models, const DiskState& disk,
                            const std::vector<std::string>& destinations, const NodeState& node, const DriftSnapshot& drift) {
  Exposition e(node.id);
  e.family("evax_node_info", "gauge", "This node (value 1): its address and version; every series carries its node label.");
  e.sample("evax_node_info", "address=\"" + label(node.address) + "\",version=\"" + label(node.version) + "\"", 1);
  e.family("evax_cluster_nodes", "gauge", "Nodes on this node's database, alive (heard from within cluster.lease_s) or silent.");
  e.sample("evax_cluster_nodes", "state=\"alive\"", node.alive_nodes);
  e.sample("evax_cluster_nodes", "state=\"silent\"", node.silent_nodes);
  e.family("evax_instances_received_total", "counter", "DICOM instances received and indexed (all time, from the database).");
  e.sample("evax_instances_received_total", "", static_cast<double>(s.instances));
  e.family("evax_instance_bytes_received_total", "counter", "Bytes of DICOM instances received and indexed (all time).");
  e.sample("evax_instance_bytes_received_total", "", static_cast<double>(s.instance_bytes));
  e.family("evax_instances_quarantined_total", "counter", "Instances kept apart because their UID belongs to another study.");
  e.sample("evax_instances_quarantined_total", "", static_cast<double>(s.quarantined));
  e.family("evax_studies_total", "counter", "Studies the node has received.");
  e.sample("evax_studies_total", "", static_cast<double>(s.studies));
  e.family("evax_process_instances_received_total", "counter", "C-STOREs answered Success since this process started.");
  e.sample("evax_process_instances_received_total", "", static_cast<double>(live.instances_received));
  e.family("evax_process_bytes_received_total", "counter", "Dataset bytes received since this process started.");
  e.sample("evax_process_bytes_received_total", "", static_cast<double>(live.bytes_received));
  e.family("evax_associations_total", "counter", "DICOM associations since this process started, by outcome.");
  e.sample("evax_associations_total", "outcome=\"accepted\"", static_cast<double>(live.associations_accepted));
  e.sample("evax_associations_total", "outcome=\"refused\"", static_cast<double>(live.associations_refused));
  e.family("evax_associations_active", "gauge", "DICOM associations in progress.");
  e.sample("evax_associations_active", "", live.associations_active);

  e.family("evax_jobs", "gauge", "Analysis jobs by state.");
  for (auto state : {storage::JobState::queued, storage::JobState::running, storage::JobState::done, storage::JobState::skipped,
                     storage::JobState::failed}) {
    const std::string name(storage::job_state_name(state));
    const auto it = s.jobs_by_state.find(name);
    e.sample("evax_jobs", "state=\"" + name + "\"", it == s.jobs_by_state.end() ? 0.0 : static_cast<double>(it->second));
  }
  e.family("evax_queue_depth", "gauge", "Jobs waiting for a worker (queued, including those waiting out a retry delay).");
  e.sample("evax_queue_depth", "", s.jobs_by_state.count("queued") ? static_cast<double>(s.jobs_by_state.at("queued")) : 0.0);
  e.family("evax_queued_jobs", "gauge", "Queued jobs by priority (claimed stat first, then high, then routine).");
  for (auto priority : {storage::Priority::stat, storage::Priority::high, storage::Priority::routine}) {
    const std::string name(storage::priority_name(priority));
    const auto it = s.queued_by_priority.find(name);
    e.sample("evax_queued_jobs", "priority=\"" + name + "\"", it == s.queued_by_priority.end() ? 0.0 : static_cast<double>(it->second));
  }

  e.family("evax_stage_duration_seconds", "histogram", "Per-stage durations of the most recent jobs (quiet_period, queue, analysis, reporting, delivery, total).");
  const std::vector<double> stage_bounds{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600};
  for (const auto& [stage, values] : s.stage_seconds)
    e.histogram("evax_stage_duration_seconds", "stage=\"" + label(stage) + "\"", values, stage_bounds);

  e.family("evax_inference_batches_total", "counter", "Model batches run since this process started.");
  e.sample("evax_inference_batches_total", "", static_cast<double>(live.inference_batches));
  e.family("evax_inference_images_total", "counter", "Images run through the model since this process started.");
  e.sample("evax_inference_images_total", "", static_cast<double>(live.inference_images));
  e.family("evax_inference_batch_size", "histogram", "Images per model batch.");
  std::uint64_t batches = 0, images = 0;
  for (int bound : {1, 2, 4, 8, 16, 32, 64, 128}) {
    std::uint64_t count = 0;
    for (const auto& [size, n] : live.batches_by_size)
      if (size <= bound) count += n;
    e.sample("evax_inference_batch_size_bucket", "le=\"" + std::to_string(bound) + "\"", static_cast<double>(count));
  }
  for (const auto& [size, n] : live.batches_by_size) batches += n, images += n * static_cast<std::uint64_t>(size);
  e.sample("evax_inference_batch_size_bucket", "le=\"+Inf\"", static_cast<double>(batches));
  e.sample("evax_inference_batch_size_sum", "", static_cast<double>(images));
  e.sample("evax_inference_batch_size_count", "", static_cast<double>(batches));
  e.family("evax_inference_batch_seconds", "histogram", "Wall time per model batch (classification, Grad-CAM, segmentation).");
  for (const auto& [bound, count] : live.batch_seconds_buckets)
    e.sample("evax_inference_batch_seconds_bucket", "le=\"" + number(bound) + "\"", static_cast<double>(count));
  e.sample("evax_inference_batch_seconds_bucket", "le=\"+Inf\"", static_cast<double>(live.inference_batches));
  e.sample("evax_inference_batch_seconds_sum", "", live.batch_seconds_sum);
  e.sample("evax_inference_batch_seconds_count", "", static_cast<double>(live.inference_batches));

  e.family("evax_outputs_total", "counter", "Result objects made, by kind (sr, sc, seg).");
  for (const char* kind : {"sr", "sc", "seg"})
    e.sample("evax_outputs_total", std::string("kind=\"") + kind + "\"",
             s.outputs_by_kind.count(kind) ? static_cast<double>(s.outputs_by_kind.at(kind)) : 0.0);
  e.family("evax_deliveries", "gauge", "Result deliveries by destination and state.");
  e.family("evax_delivery_attempts_total", "counter", "Delivery attempts by destination and outcome.");
  e.family("evax_delivery_failures_total", "counter", "Failed delivery attempts (retryable, permanent, interrupted) by destination.");
  std::vector<std::string> names = destinations;
  for (const auto& [key, count] : s.deliveries)
    if (std::find(names.begin(), names.end(), key.first) == names.end()) names.push_back(key.first);
  for (const auto& name : names) {
    const std::string dest = "destination=\"" + label(name) + "\"";
    for (const char* state : {"pending", "sending", "delivered", "dead"}) {
      const auto it = s.deliveries.find({name, state});
      e.sample("evax_deliveries", dest + ",state=\"" + state + "\"", it == s.deliveries.end() ? 0.0 : static_cast<double>(it->second));
    }
    double failures = 0;
    for (const char* outcome : {"delivered", "retryable", "permanent", "interrupted"}) {
      const auto it = s.attempts.find({name, outcome});
      const double count = it == s.attempts.end() ? 0.0 : static_cast<double>(it->second);
      e.sample("evax_delivery_attempts_total", dest + ",outcome=\"" + outcome + "\"", count);
      if (std::string(outcome) != "delivered") failures += count;
    }
    e.sample("evax_delivery_failures_total", dest, failures);
  }

  e.family("evax_disk_free_bytes", "gauge", "Bytes available on the data directory's file system.");
  e.sample("evax_disk_free_bytes", "", static_cast<double>(disk.free_bytes));
  e.family("evax_disk_watermark_bytes", "gauge", "Below this free space, stores are refused (storage.min_free_mb).");
  e.sample("evax_disk_watermark_bytes", "", static_cast<double>(disk.watermark_bytes));
  skipped_images(e, s);
  finding_monitoring(e, drift);
  e.family("evax_model_info", "gauge", "The loaded models (value 1), with what they are and where they run.");
  for (const auto& m : models)
    e.sample("evax_model_info",
             "role=\"" + label(m.role) + "\",name=\"" + label(m.name) + "\",task=\"" + label(m.task) + "\",device=\"" + label(m.device) +
                 "\",precision=\"" + label(m.precision) + "\",demo=\"" + (m.demo ? "true" : "false") + "\",sha256=\"" + label(m.sha256) + "\"",
             1);
  return std::move(e).text();
}

}  // namespace evax::admin
