// evaluate(): validates the input, then assembles each finding's report from roc_statistics.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>

#include "evax/evaluation/evaluation.h"
#include "roc_statistics.h"

namespace evax::evaluation {
namespace {

// The two-sided 95% normal quantile, scipy.stats.norm.ppf(0.975).
constexpr double kZ95 = 1.959963984540054;

void check(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}

std::string quoted(const std::string& label) { return "\"" + label + "\""; }

void validate(const EvaluationInput& input) {
  check(!input.findings.empty(), "no findings to evaluate");
  check(input.calibration_bins >= 1 && input.calibration_bins <= 100, "calibration_bins must lie in 1..100");
  const auto check_target = [](const std::optional<double>& target, const char* name) {
    check(!target || (std::isfinite(*target) && *target > 0.0 && *target <= 1.0),
          std::string(name) + " must lie in (0, 1]");
  };
  check_target(input.target_sensitivity, "target sensitivity");
  check_target(input.target_specificity, "target specificity");
  std::set<std::string> labels;
  for (const LabelledScores& f : input.findings) {
    check(!f.label.empty(), "a finding has an empty label");
    check(labels.insert(f.label).second, "finding " + quoted(f.label) + " is given twice");
    check(f.scores.size() == f.truth.size(), "finding " + quoted(f.label) + " has " + std::to_string(f.scores.size()) +
                                                 " scores but " + std::to_string(f.truth.size()) + " labels");
    for (std::size_t i = 0; i < f.scores.size(); ++i) {
      check(std::isfinite(f.scores[i]) && f.scores[i] >= 0.0 && f.scores[i] <= 1.0,
            "finding " + quoted(f.label) + ": score " + std::to_string(i) + " is not a probability in [0, 1]");
      check(f.truth[i] == 0 || f.truth[i] == 1,
            "finding " + quoted(f.label) + ": label " + std::to_string(i) + " is " + std::to_string(f.truth[i]) + ", not 0 or 1");
    }
    check(!f.operating_point || (std::isfinite(*f.operating_point) && *f.operating_point >= 0.0 && *f.operating_point <= 1.0),
          "finding " + quoted(f.label) + ": the operating point must lie in [0, 1]");
  }
}

Recommendation recommend(const LabelledScores& f, const std::vector<RocPoint>& roc, double target, bool for_sensitivity) {
  Recommendation r{.target = target};
  if (roc.empty()) {
    r.unavailable_reason = "needs both positive and negative cases";
    return r;
  }
  const std::optional<double> threshold =
      for_sensitivity ? threshold_for_sensitivity(roc, target) : threshold_for_specificity(roc, target);
  if (threshold) {
    r.at = metrics_at(f.scores, f.truth, *threshold);
  } else {
    r.unavailable_reason = "no threshold at or below the highest score reaches this specificity";
  }
  return r;
}

FindingReport finding_report(const LabelledScores& f, const EvaluationInput& input) {
  FindingReport report{.label = f.label, .cases = f.scores.size()};
  for (int t : f.truth) (t == 1 ? report.positives : report.negatives)++;
  if (report.cases > 0) report.prevalence = static_cast<double>(report.positives) / static_cast<double>(report.cases);

  if (report.positives == 0 || report.negatives == 0) {
    report.auroc_note = report.cases == 0 ? "no labelled cases: AUROC undefined"
                        : report.positives == 0 ? "no positive cases: AUROC undefined"
                                                : "no negative cases: AUROC undefined";
  } else {
    const AurocEstimate estimate = delong_auroc(f.scores, f.truth);
    report.auroc = estimate.auroc;
    report.auroc_variance = estimate.variance;
    if (estimate.variance) {
      const double half_width = kZ95 * std::sqrt(*estimate.variance);
      report.ci_lower = std::max(0.0, estimate.auroc - half_width);
      report.ci_upper = std::min(1.0, estimate.auroc + half_width);
    } else {
      report.auroc_note = "fewer than two positive or negative cases: no confidence interval";
    }
    report.roc = roc_points(f.scores, f.truth);
  }

  if (f.operating_point && report.cases > 0) report.at_operating_point = metrics_at(f.scores, f.truth, *f.operating_point);
  if (input.target_sensitivity) report.for_target_sensitivity = recommend(f, report.roc, *input.target_sensitivity, true);
  if (input.target_specificity) report.for_target_specificity = recommend(f, report.roc, *input.target_specificity, false);

  if (report.cases > 0) {
    Calibration c = calibration(f.scores, f.truth, input.calibration_bins);
    report.ece = c.ece;
    report.reliability = std::move(c.bins);
  }
  return report;
}

}  // namespace

EvaluationReport evaluate(const EvaluationInput& input) {
  validate(input);
  EvaluationReport report{.model_name = input.model_name,
                          .checkpoint = input.checkpoint,
                          .checkpoint_sha256 = input.checkpoint_sha256,
                          .dataset_name = input.dataset_name,
                          .demo_weights = input.demo_weights,
                          .images = input.images,
                          .target_sensitivity = input.target_sensitivity,
                          .target_specificity = input.target_specificity,
                          .calibration_bins = input.calibration_bins};
  double sum = 0.0;
  for (const LabelledScores& f : input.findings) {
    FindingReport finding = finding_report(f, input);
    if (finding.auroc) {
      sum += *finding.auroc;
      report.mean_auroc_findings++;
    } else {
      report.left_out_of_mean.push_back(finding.label);
    }
    report.findings.push_back(std::move(finding));
  }
  report.mean_auroc = report.mean_auroc_findings > 0 ? sum / static_cast<double>(report.mean_auroc_findings)
                                                     : std::numeric_limits<double>::quiet_NaN();
  return report;
}

}  // namespace evax::evaluation
