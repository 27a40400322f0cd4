#include "roc_statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace evax::evaluation {
namespace {

// Midranks (1-based, tied values share the mean of their ranks) of `values`.
std::vector<double> midranks(const std::vector<double>& values) {
  std::vector<std::size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && values[order[j]] == values[order[i]]) ++j;
    const double rank = 0.5 * static_cast<double>(i + j - 1) + 1.0;
    for (std::size_t k = i; k < j; ++k) ranks[order[k]] = rank;
    i = j;
  }
  return ranks;
}

// The sample variance (n - 1 in the denominator), as numpy.cov.
double sample_variance(const std::vector<double>& values) {
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  double sum = 0.0;
  for (double v : values) sum += (v - mean) * (v - mean);
  return sum / static_cast<double>(values.size() - 1);
}

}  // namespace

// Sun & Xu 2014: the structural components of DeLong et al. 1988 from three rankings (all scores,
// the positives', the negatives'), O(N log N) instead of the pairwise O(m n).
AurocEstimate delong_auroc(const std::vector<double>& scores, const std::vector<int>& truth) {
  std::vector<double> positives, negatives;
  for (std::size_t i = 0; i < scores.size(); ++i) (truth[i] == 1 ? positives : negatives).push_back(scores[i]);
  std::vector<double> all = positives;
  all.insert(all.end(), negatives.begin(), negatives.end());
  const std::size_t m = positives.size(), n = negatives.size();
  const std::vector<double> rank_all = midranks(all), rank_positive = midranks(positives), rank_negative = midranks(negatives);

  // v10[i]: the share of negatives that positive i outranks (ties one half); v01[j]: the share of
  // positives that outrank negative j.
  std::vector<double> v10(m), v01(n);
  for (std::size_t i = 0; i < m; ++i) v10[i] = (rank_all[i] - rank_positive[i]) / static_cast<double>(n);
  for (std::size_t j = 0; j < n; ++j) v01[j] = 1.0 - (rank_all[m + j] - rank_negative[j]) / static_cast<double>(m);

  AurocEstimate estimate;
  estimate.auroc = std::accumulate(v10.begin(), v10.end(), 0.0) / static_cast<double>(m);
  if (m >= 2 && n >= 2) {
    estimate.variance = sample_variance(v10) / static_cast<double>(m) + sample_variance(v01) / static_cast<double>(n);
  }
  return estimate;
}

std::vector<RocPoint> roc_points(const std::vector<double>& scores, const std::vector<int>& truth) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  const auto positives = static_cast<double>(std::count(truth.begin(), truth.end(), 1));
  const auto negatives = static_cast<double>(truth.size()) - positives;

  std::vector<RocPoint> points{{std::numeric_limits<double>::infinity(), 0.0, 0.0}};
  std::size_t true_positives = 0, false_positives = 0;
  for (std::size_t i = 0; i < order.size();) {
    const double threshold = scores[order[i]];
    for (; i < order.size() && scores[order[i]] == threshold; ++i) (truth[order[i]] == 1 ? true_positives : false_positives)++;
    points.push_back({threshold, static_cast<double>(false_positives) / negatives, static_cast<double>(true_positives) / positives});
  }
  return points;
}

ThresholdMetrics metrics_at(const std::vector<double>& scores, const std::vector<int>& truth, double threshold) {
  ThresholdMetrics m{.threshold = threshold};
  ConfusionCounts& c = m.counts;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const bool called = scores[i] >= threshold;  // as reporting's Finding::present()
    if (truth[i] == 1) (called ? c.true_positives : c.false_negatives)++;
    else (called ? c.false_positives : c.true_negatives)++;
  }
  const auto ratio = [](std::size_t part, std::size_t other) -> std::optional<double> {
    if (part + other == 0) return std::nullopt;
    return static_cast<double>(part) / static_cast<double>(part + other);
  };
  m.sensitivity = ratio(c.true_positives, c.false_negatives);
  m.specificity = ratio(c.true_negatives, c.false_positives);
  m.ppv = ratio(c.true_positives, c.false_positives);
  m.npv = ratio(c.true_negatives, c.false_negatives);
  return m;
}

// Sensitivity only grows as the threshold falls, so the first point reaching the target is the
// highest threshold that does. The first point (+infinity) calls nothing positive: never a choice.
std::optional<double> threshold_for_sensitivity(const std::vector<RocPoint>& roc, double target) {
  for (std::size_t i = 1; i < roc.size(); ++i) {
    if (roc[i].true_positive_rate >= target) return roc[i].threshold;
  }
  return std::nullopt;
}

// Specificity (1 - FPR, computed as scikit-learn users do) only falls as the threshold falls: the
// last point still reaching the target is the lowest threshold that does, the most sensitive one.
std::optional<double> threshold_for_specificity(const std::vector<RocPoint>& roc, double target) {
  std::optional<double> lowest;
  for (std::size_t i = 1; i < roc.size() && 1.0 - roc[i].false_positive_rate >= target; ++i) lowest = roc[i].threshold;
  return lowest;
}

Calibration calibration(const std::vector<double>& scores, const std::vector<int>& truth, int bins) {
  // numpy.linspace(0, 1, bins + 1): k * (1 / bins), the last edge exactly 1. A score goes to the
  // bin whose upper edge is the first edge >= the score (numpy.searchsorted, side 'left').
  const double step = 1.0 / static_cast<double>(bins);
  std::vector<double> edges(static_cast<std::size_t>(bins) + 1);
  for (int k = 0; k <= bins; ++k) edges[static_cast<std::size_t>(k)] = static_cast<double>(k) * step;
  edges.back() = 1.0;

  Calibration result;
  result.bins.resize(static_cast<std::size_t>(bins));
  std::vector<double> score_sums(result.bins.size(), 0.0), positive_counts(result.bins.size(), 0.0);
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const auto inner_first = edges.begin() + 1, inner_last = edges.end() - 1;
    const auto bin = static_cast<std::size_t>(std::lower_bound(inner_first, inner_last, scores[i]) - inner_first);
    result.bins[bin].count++;
    score_sums[bin] += scores[i];
    positive_counts[bin] += truth[i];
  }
  for (std::size_t b = 0; b < result.bins.size(); ++b) {
    ReliabilityBin& bin = result.bins[b];
    bin.lower = edges[b];
    bin.upper = edges[b + 1];
    if (bin.count == 0) continue;
    const auto count = static_cast<double>(bin.count);
    bin.mean_score = score_sums[b] / count;
    bin.observed_rate = positive_counts[b] / count;
    result.ece += count / static_cast<double>(scores.size()) * std::abs(*bin.observed_rate - *bin.mean_score);
  }
  return result;
}

}  // namespace evax::evaluation
