// The per-finding statistics behind evaluate(): rank-based AUROC with its DeLong variance, the ROC
// points, the metrics of one threshold, recommended thresholds and calibration bins. Internal to the
// evaluation module; pure functions over already validated input (scores in [0, 1], truth 0/1,
// equal lengths). The definitions they follow are stated in evax/evaluation/evaluation.h.
#pragma once

#include <optional>
#include <vector>

#include "evax/evaluation/evaluation.h"

namespace evax::evaluation {

struct AurocEstimate {
  double auroc = 0.0;
  std::optional<double> variance;  // DeLong; absent with fewer than two of either class
};

// Needs at least one positive and one negative.
AurocEstimate delong_auroc(const std::vector<double>& scores, const std::vector<int>& truth);

// Needs at least one positive and one negative.
std::vector<RocPoint> roc_points(const std::vector<double>& scores, const std::vector<int>& truth);

// Positive: score >= threshold.
ThresholdMetrics metrics_at(const std::vector<double>& scores, const std::vector<int>& truth, double threshold);

// Over roc_points(): the highest threshold whose sensitivity reaches `target`, and the lowest whose
// specificity does; absent when no score reaches it.
std::optional<double> threshold_for_sensitivity(const std::vector<RocPoint>& roc, double target);
std::optional<double> threshold_for_specificity(const std::vector<RocPoint>& roc, double target);

// `bins` equal-width bins over [0, 1] and the expected calibration error over them.
struct Calibration {
  std::vector<ReliabilityBin> bins;
  double ece = 0.0;
};
Calibration calibration(const std::vector<double>& scores, const std::vector<int>& truth, int bins);

}  // namespace evax::evaluation
