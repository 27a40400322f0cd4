// Drift of what the model sees, watched through what it says: each finding's probabilities over
// the recent window against a baseline sample, scored by the population stability index and the
// two-sample Kolmogorov-Smirnov statistic. Pure functions over plain numbers; thread-safe.
// Internal to the admin module.
#pragma once

#include <cstddef>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace evax::admin {

// Probabilities per finding label.
using FindingSamples = std::map<std::string, std::vector<double>>;

// PSI's binning: kPsiBins equal-width bins on [0, 1] (edges i / kPsiBins; each bin holds
// [low, high), the last one also 1.0; values outside [0, 1] are clamped into the end bins); each
// bin's fraction is floored at kPsiEpsilon so that an empty bin adds a large but finite term.
inline constexpr int kPsiBins = 10;
inline constexpr double kPsiEpsilon = 1e-4;

// PSI = sum over bins of (current_i - baseline_i) * ln(current_i / baseline_i), the fractions
// floored as above. 0 for identical histograms; 0.1 to 0.2 is usually read as a moderate shift,
// above 0.2 as a major one. Both samples must be non-empty (std::invalid_argument otherwise).
double population_stability_index(const std::vector<double>& baseline, const std::vector<double>& current);

// The two-sample KS statistic D = max over x of |F_baseline(x) - F_current(x)| with the
// empirical distribution functions (scipy.stats.ks_2samp's statistic). Both non-empty.
double ks_statistic(const std::vector<double>& baseline, const std::vector<double>& current);

struct FindingDrift {
  std::string label;
  std::size_t baseline_images = 0;
  std::size_t current_images = 0;
  std::optional<double> psi;  // none while either sample has fewer than min_images
  std::optional<double> ks;
  bool drifting = false;      // psi >= psi_threshold
};

// One entry per finding in either sample, by label.
std::vector<FindingDrift> drift_by_finding(const FindingSamples& baseline, const FindingSamples& current, double psi_threshold,
                                           int min_images);

// Each finding's probabilities over the recent window and their drift from the baseline, as
// /metrics and /readyz show them.
struct DriftSnapshot {
  FindingSamples current;               // the last monitoring.window_days
  std::vector<FindingDrift> findings;   // empty without a baseline
  bool has_baseline = false;
  int window_days = 0;
  double psi_threshold = 0;
};

// A baseline file: CSV, a header row whose first column names the image (any name: file,
// sop_instance_uid) and whose other columns are finding labels; then one row per image with a
// probability from 0 to 1 per finding, or an empty cell where it has none. No quoting. The error
// names the line and column.
std::expected<FindingSamples, std::string> read_baseline_file(const std::string& path);

}  // namespace evax::admin
