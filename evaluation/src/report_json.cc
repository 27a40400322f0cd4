// report_json() and operating_points_fragment(): the report's numbers for programs and the config.
#include <cmath>

#include <nlohmann/json.hpp>

#include "evax/evaluation/evaluation.h"

namespace evax::evaluation {
namespace {

using json = nlohmann::json;

json optional_number(const std::optional<double>& value) { return value ? json(*value) : json(nullptr); }

json threshold_json(const ThresholdMetrics& m) {
  return {{"threshold", m.threshold},
          {"true_positives", m.counts.true_positives},
          {"false_positives", m.counts.false_positives},
          {"true_negatives", m.counts.true_negatives},
          {"false_negatives", m.counts.false_negatives},
          {"sensitivity", optional_number(m.sensitivity)},
          {"specificity", optional_number(m.specificity)},
          {"ppv", optional_number(m.ppv)},
          {"npv", optional_number(m.npv)}};
}

json recommendation_json(const std::optional<Recommendation>& r) {
  if (!r) return nullptr;
  json out = {{"target", r->target}};
  if (r->at) {
    out["at"] = threshold_json(*r->at);
  } else {
    out["at"] = nullptr;
    out["unavailable"] = r->unavailable_reason;
  }
  return out;
}

json finding_json(const FindingReport& f) {
  json roc = {{"thresholds", json::array()}, {"fpr", json::array()}, {"tpr", json::array()}};
  for (const RocPoint& p : f.roc) {
    roc["thresholds"].push_back(std::isinf(p.threshold) ? json(nullptr) : json(p.threshold));
    roc["fpr"].push_back(p.false_positive_rate);
    roc["tpr"].push_back(p.true_positive_rate);
  }
  json bins = json::array();
  for (const ReliabilityBin& b : f.reliability) {
    bins.push_back({{"lower", b.lower},
                    {"upper", b.upper},
                    {"count", b.count},
                    {"mean_score", optional_number(b.mean_score)},
                    {"observed_rate", optional_number(b.observed_rate)}});
  }
  json ci = f.ci_lower && f.ci_upper ? json::array({*f.ci_lower, *f.ci_upper}) : json(nullptr);
  return {{"label", f.label},
          {"cases", f.cases},
          {"positives", f.positives},
          {"negatives", f.negatives},
          {"prevalence", f.prevalence},
          {"auroc", optional_number(f.auroc)},
          {"auroc_variance", optional_number(f.auroc_variance)},
          {"auroc_ci95", ci},
          {"auroc_note", f.auroc_note},
          {"at_operating_point", f.at_operating_point ? threshold_json(*f.at_operating_point) : json(nullptr)},
          {"for_target_sensitivity", recommendation_json(f.for_target_sensitivity)},
          {"for_target_specificity", recommendation_json(f.for_target_specificity)},
          {"ece", optional_number(f.ece)},
          {"reliability", bins},
          {"roc", roc}};
}

}  // namespace

std::string report_json(const EvaluationReport& report) {
  json findings = json::array();
  for (const FindingReport& f : report.findings) findings.push_back(finding_json(f));
  const json out = {
      {"model",
       {{"name", report.model_name},
        {"checkpoint", report.checkpoint},
        {"checkpoint_sha256", report.checkpoint_sha256},
        {"demo_weights", report.demo_weights}}},
      {"dataset", {{"name", report.dataset_name}, {"images", report.images}}},
      {"methods",
       {{"auroc", "Mann-Whitney U with ties counted one half (scikit-learn roc_auc_score)"},
        {"auroc_ci95", "DeLong (1988), fast algorithm of Sun & Xu (2014), plain Wald interval clipped to [0, 1]"},
        {"positive_when", "score >= threshold"},
        {"calibration", "equal-width bins over [0, 1]; ECE = sum of (bin count / N) * |observed rate - mean score|"},
        {"target_sensitivity", optional_number(report.target_sensitivity)},
        {"target_specificity", optional_number(report.target_specificity)},
        {"calibration_bins", report.calibration_bins}}},
      {"mean_auroc", std::isnan(report.mean_auroc) ? json(nullptr) : json(report.mean_auroc)},
      {"mean_auroc_findings", report.mean_auroc_findings},
      {"left_out_of_mean", report.left_out_of_mean},
      {"findings", findings}};
  return out.dump() + "\n";  // compact: the ROC points of a large set would triple it indented
}

std::string operating_points_fragment(const EvaluationReport& report) {
  json points = json::object();
  for (const FindingReport& f : report.findings) {
    const std::optional<Recommendation>& r = f.for_target_sensitivity ? f.for_target_sensitivity : f.for_target_specificity;
    if (r && r->at) points[f.label] = r->at->threshold;
  }
  return json{{"reporting", {{"operating_points", points}}}}.dump(2) + "\n";
}

}  // namespace evax::evaluation
