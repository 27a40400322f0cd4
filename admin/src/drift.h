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

// PSI's binning, from the baseline alone, so that a resample of the baseline scores near 0 wherever
// its probabilities happen to cluster. The cut points are the baseline's deciles: for i = 1 to
// kPsiBins - 1, the smallest baseline value with at least i * n / kPsiBins of the n values at or
// below it (numpy.quantile's "inverted_cdf"). Equal cut points (ties) are merged, and one equal to
// the baseline's largest value dropped, so that every bin holds baseline values: kPsiBins bins for
// a continuous baseline, fewer for a tied one, one (PSI 0; KS still measures) for a constant one.
// A value goes to the first bin whose cut point is >= it (bins (cut[j-1], cut[j]], the last one
// open above): values outside the baseline's range land in the end bins. Each sample's fraction in
// a bin is smoothed as (count + kPsiSmoothing) / (n + kPsiSmoothing * bins), which keeps an empty
// bin's term finite without letting it dominate small samples as a fixed floor (1e-4) did.
inline constexpr int kPsiBins = 10;
inline constexpr double kPsiSmoothing = 0.5;

// PSI = sum over bins of (current_i - baseline_i) * ln(current_i / baseline_i), with the
// fractions above. 0 for identical histograms; 0.1 to 0.2 is usually read as a moderate shift,
// above 0.2 as a major one. Under no change (both samples from one continuous distribution, n
// and m images) it is still about (kPsiBins - 1) * (1/n + 1/m) on average, its 99.9th percentile
// about three times that: 0.06 for 300 against 300 images, 0.18 for 100 against 100, about 0.5
// for 30 against 30 (README, "Watching the model in production"; monitoring.min_images must
// keep it well under the threshold). Both samples must be non-empty (std::invalid_argument
// otherwise).
double population_stability_index(const std::vector<double>& baseline, const std::vector<double>& current);

// The cut points above, ascending and distinct; empty for a constant (or empty) baseline.
std::vector<double> psi_cut_points(const std::vector<double>& baseline);

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
