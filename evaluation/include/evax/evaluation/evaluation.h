// The statistics and the report of `evax-node evaluate`: given the model's probability and the
// ground truth per image and finding, compute what a site needs to decide whether and where to
// turn the model on (AUROC with its DeLong 95% CI, the metrics at the configured operating point,
// operating points recommended for a target sensitivity or specificity, calibration, ROC curves)
// and write them as JSON, as a self-contained HTML page and as a config fragment. Pure functions of
// their input: no I/O, no model, no global state; safe to call from any thread.
//
// The numbers are defined to equal scikit-learn's and confidenceinterval's (see
// tests/tools/evaluation_reference.py, which the unit test compares against to 1e-6):
// - AUROC: the Mann-Whitney statistic with ties counted one half (sklearn roc_auc_score).
// - 95% CI: DeLong et al. 1988 in the fast form of Sun & Xu 2014, the plain (Wald) interval
//   AUROC +- 1.959964 * sqrt(variance) (confidenceinterval's roc_auc_score(method='delong')),
//   clipped to [0, 1]. Undefined (absent) with fewer than two positives or two negatives.
// - A score is positive at threshold t when score >= t, as the node decides a finding present.
// - ROC points: sklearn roc_curve(drop_intermediate=False): one point per distinct score, in
//   descending threshold order, after a first point (0, 0) whose threshold is +infinity.
// - Calibration: sklearn calibration_curve(strategy='uniform') bins, i.e. bin k holds the scores in
//   (k/n, (k+1)/n], the first bin also holds 0; ECE = sum over bins of (count/N) * |observed rate -
//   mean score|.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace evax::evaluation {

// One finding over the evaluation set. Images without a label for the finding are left out by
// the caller, so scores and truth have the same length.
struct LabelledScores {
  std::string label;                      // "Atelectasis"
  std::vector<double> scores;             // the model's probability per image, each in [0, 1]
  std::vector<int> truth;                 // 1 positive, 0 negative
  std::optional<double> operating_point;  // the configured threshold, if any
};

struct EvaluationInput {
  std::vector<LabelledScores> findings;
  std::string model_name, checkpoint, checkpoint_sha256, dataset_name;
  bool demo_weights = false;  // the report then warns that the numbers say nothing clinical
  std::size_t images = 0;     // images evaluated (a finding may have fewer labelled ones)
  std::optional<double> target_sensitivity, target_specificity;  // for recommended operating points, in (0, 1]
  int calibration_bins = 10;                                     // 1..100
};

struct ConfusionCounts {
  std::size_t true_positives = 0, false_positives = 0, true_negatives = 0, false_negatives = 0;
};

// The metrics of one threshold; a ratio is absent when its denominator is zero.
struct ThresholdMetrics {
  double threshold = 0.0;
  ConfusionCounts counts;
  std::optional<double> sensitivity, specificity, ppv, npv;
};

struct RocPoint {
  double threshold = 0.0;  // +infinity for the first point (nothing called positive)
  double false_positive_rate = 0.0, true_positive_rate = 0.0;
};

struct ReliabilityBin {
  double lower = 0.0, upper = 0.0;  // the bin holds scores in (lower, upper]; the first bin also 0
  std::size_t count = 0;
  std::optional<double> mean_score, observed_rate;  // absent when the bin is empty
};

// A recommended operating point: the threshold and its metrics, or absent with the reason.
struct Recommendation {
  double target = 0.0;
  std::optional<ThresholdMetrics> at;
  std::string unavailable_reason;  // set when `at` is absent
};

struct FindingReport {
  std::string label;
  std::size_t cases = 0, positives = 0, negatives = 0;
  double prevalence = 0.0;  // positives / cases (0 when there are no cases)

  std::optional<double> auroc;           // absent without positives or without negatives
  std::optional<double> auroc_variance;  // DeLong; absent with fewer than two of either class
  std::optional<double> ci_lower, ci_upper;
  std::string auroc_note;  // why the AUROC or its CI is absent; empty otherwise

  std::optional<ThresholdMetrics> at_operating_point;  // when LabelledScores::operating_point is set and there are cases
  // The highest threshold whose sensitivity reaches the target; the lowest whose specificity does.
  std::optional<Recommendation> for_target_sensitivity, for_target_specificity;

  std::optional<double> ece;  // absent when there are no cases
  std::vector<ReliabilityBin> reliability;
  std::vector<RocPoint> roc;  // empty when the AUROC is undefined
};

struct EvaluationReport {
  std::string model_name, checkpoint, checkpoint_sha256, dataset_name;
  bool demo_weights = false;
  std::size_t images = 0;
  std::optional<double> target_sensitivity, target_specificity;
  int calibration_bins = 10;

  std::vector<FindingReport> findings;
  // Mean over the findings whose AUROC is defined (NaN when none is); the others are named.
  double mean_auroc = 0.0;
  std::size_t mean_auroc_findings = 0;
  std::vector<std::string> left_out_of_mean;
};

// Throws std::invalid_argument naming the finding on bad input: scores and truth of different
// lengths, a score outside [0, 1] or not finite, a truth other than 0/1, an empty or duplicate
// label, an operating point or target outside its range, calibration_bins outside 1..100.
EvaluationReport evaluate(const EvaluationInput& input);

// The report's numbers as JSON (absent values are null, the first ROC threshold is null).
std::string report_json(const EvaluationReport& report);

// A self-contained HTML page (inline CSS and SVG, no script, nothing fetched) for a clinical lead.
std::string report_html(const EvaluationReport& report);

// {"reporting": {"operating_points": {label: threshold}}}: the thresholds recommended for the
// target sensitivity (or, when only a target specificity was given, for that); findings without a
// recommendation are left out, so the node's default_operating_point applies to them.
std::string operating_points_fragment(const EvaluationReport& report);

}  // namespace evax::evaluation
