#include "monitoring.h"

#include <cstdio>

#include "api.h"
#include "evax/logging/logger.h"

namespace evax::admin {
namespace {

std::string fixed3(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", value);
  return text;
}

std::string shortest(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

}  // namespace

json drift_check(const DriftSnapshot& drift) {
  std::string drifting;
  int scored = 0;
  for (const FindingDrift& f : drift.findings) {
    if (f.psi) ++scored;
    if (f.drifting) drifting += (drifting.empty() ? "" : ", ") + f.label + " (PSI " + fixed3(*f.psi) + ", KS " + fixed3(*f.ks) + ")";
  }
  const std::string window =
      "the last " + std::to_string(drift.window_days) + " days against the baseline, PSI threshold " + shortest(drift.psi_threshold);
  json check{{"name", "drift"}, {"ok", true}, {"warning", !drifting.empty()}};
  if (!drifting.empty())
    check["detail"] = "warning: drifting findings over " + window + ": " + drifting;
  else if (scored == 0)
    check["detail"] = "no drift score yet: too few analysed images over " + window + " (monitoring.min_images)";
  else
    check["detail"] = "no drift: " + std::to_string(scored) + " findings scored over " + window;
  json names = json::array();
  for (const FindingDrift& f : drift.findings)
    if (f.drifting) names.push_back(f.label);
  check["drifting"] = std::move(names);
  return check;
}

std::string days_before_iso(std::chrono::system_clock::time_point now, int days) {
  return logging::iso_utc(now - std::chrono::hours(24) * days);
}

std::string baseline_file_problem(const config::MonitoringSettings& monitoring) {
  if (monitoring.baseline_file.empty()) return "";
  const auto samples = read_baseline_file(monitoring.baseline_file);
  return samples ? "" : samples.error();
}

DriftSnapshot AdminApi::drift() {
  const config::MonitoringSettings& m = context_.config.monitoring;
  DriftSnapshot snapshot;
  snapshot.window_days = m.window_days;
  snapshot.psi_threshold = m.psi_threshold;
  // "9999" is after every stored time: images stamped a little ahead of this clock still count.
  snapshot.current = read_->finding_probabilities(days_before_iso(std::chrono::system_clock::now(), m.window_days), "9999");
  if (!m.has_baseline()) return snapshot;
  snapshot.has_baseline = true;
  const FindingSamples baseline = m.baseline_file.empty() ? read_->finding_probabilities(m.baseline_from, m.baseline_to) : baseline_file_;
  snapshot.findings = drift_by_finding(baseline, snapshot.current, m.psi_threshold, m.min_images);
  return snapshot;
}

}  // namespace evax::admin
