#include "drift.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace evax::admin {
namespace {

// Each bin's smoothed fraction of `values` (drift.h): a value's bin is the number of cut points
// below it, so a value equal to a cut point stays in the bin that cut point closes.
std::vector<double> bin_fractions(const std::vector<double>& values, const std::vector<double>& cuts) {
  std::vector<std::size_t> counts(cuts.size() + 1, 0);
  for (double v : values) ++counts[static_cast<std::size_t>(std::lower_bound(cuts.begin(), cuts.end(), v) - cuts.begin())];
  const double bins = static_cast<double>(counts.size());
  std::vector<double> fractions;
  for (std::size_t count : counts)
    fractions.push_back((static_cast<double>(count) + kPsiSmoothing) / (static_cast<double>(values.size()) + kPsiSmoothing * bins));
  return fractions;
}

void require_samples(const std::vector<double>& baseline, const std::vector<double>& current) {
  if (baseline.empty() || current.empty()) throw std::invalid_argument("drift needs a non-empty baseline and current sample");
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, ',')) cells.push_back(cell);
  if (!line.empty() && line.back() == ',') cells.emplace_back();
  return cells;
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.pop_back();
  while (!text.empty() && text.front() == ' ') text.erase(0, 1);
  return text;
}

}  // namespace

std::vector<double> psi_cut_points(const std::vector<double>& baseline) {
  if (baseline.empty()) return {};
  std::vector<double> sorted = baseline;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  std::vector<double> cuts;
  for (std::size_t i = 1; i < static_cast<std::size_t>(kPsiBins); ++i) {
    // The smallest value with at least i * n / kPsiBins values at or below it: index
    // ceil(i * n / kPsiBins) - 1, in integers so that no rounding moves a cut.
    const double cut = sorted[(i * n + kPsiBins - 1) / kPsiBins - 1];
    if (cut < sorted.back() && (cuts.empty() || cut > cuts.back())) cuts.push_back(cut);
  }
  return cuts;
}

double population_stability_index(const std::vector<double>& baseline, const std::vector<double>& current) {
  require_samples(baseline, current);
  const std::vector<double> cuts = psi_cut_points(baseline);
  const std::vector<double> b = bin_fractions(baseline, cuts), c = bin_fractions(current, cuts);
  double psi = 0;
  for (std::size_t i = 0; i < b.size(); ++i) psi += (c[i] - b[i]) * std::log(c[i] / b[i]);
  return psi;
}

double ks_statistic(const std::vector<double>& baseline, const std::vector<double>& current) {
  require_samples(baseline, current);
  std::vector<double> a = baseline, b = current;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  // The EDFs differ most just after some sample value: step through every value of both.
  double d = 0;
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    const double x = j == b.size() || (i < a.size() && a[i] <= b[j]) ? a[i] : b[j];
    while (i < a.size() && a[i] <= x) ++i;
    while (j < b.size() && b[j] <= x) ++j;
    d = std::max(d, std::abs(static_cast<double>(i) / na - static_cast<double>(j) / nb));
  }
  return d;
}

std::vector<FindingDrift> drift_by_finding(const FindingSamples& baseline, const FindingSamples& current, double psi_threshold,
                                           int min_images) {
  std::map<std::string, FindingDrift> by_label;
  for (const auto& [label, values] : baseline) by_label[label].baseline_images = values.size();
  for (const auto& [label, values] : current) by_label[label].current_images = values.size();
  std::vector<FindingDrift> out;
  for (auto& [label, drift] : by_label) {
    drift.label = label;
    const auto enough = [&](std::size_t n) { return n > 0 && n >= static_cast<std::size_t>(min_images); };
    if (enough(drift.baseline_images) && enough(drift.current_images)) {
      drift.psi = population_stability_index(baseline.at(label), current.at(label));
      drift.ks = ks_statistic(baseline.at(label), current.at(label));
      drift.drifting = *drift.psi >= psi_threshold;
    }
    out.push_back(std::move(drift));
  }
  return out;
}

std::expected<FindingSamples, std::string> read_baseline_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::unexpected("cannot open the baseline file " + path);
  std::string line;
  if (!std::getline(in, line)) return std::unexpected(path + ": empty; the first line must name the columns");
  std::vector<std::string> labels = split(line);
  for (auto& label : labels) label = trimmed(label);
  if (labels.size() < 2) return std::unexpected(path + ", line 1: needs an image column and at least one finding column");
  for (std::size_t column = 1; column < labels.size(); ++column)
    if (labels[column].empty()) return std::unexpected(path + ", line 1, column " + std::to_string(column + 1) + ": empty finding name");
  FindingSamples samples;
  int line_number = 1, rows = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (trimmed(line).empty()) continue;
    if (line.find('"') != std::string::npos) return std::unexpected(path + ", line " + std::to_string(line_number) + ": quoted fields are not supported");
    const std::vector<std::string> cells = split(line);
    if (cells.size() != labels.size())
      return std::unexpected(path + ", line " + std::to_string(line_number) + ": " + std::to_string(cells.size()) + " columns, the header has " +
                             std::to_string(labels.size()));
    for (std::size_t column = 1; column < cells.size(); ++column) {
      const std::string cell = trimmed(cells[column]);
      if (cell.empty()) continue;
      std::size_t used = 0;
      double value = -1;
      try {
        value = std::stod(cell, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != cell.size() || !(value >= 0 && value <= 1))
        return std::unexpected(path + ", line " + std::to_string(line_number) + ", column '" + labels[column] +
                               "': must be a probability from 0 to 1, not '" + cell + "'");
      samples[labels[column]].push_back(value);
    }
    ++rows;
  }
  if (rows == 0) return std::unexpected(path + ": no rows after the header");
  return samples;
}

}  // namespace evax::admin
