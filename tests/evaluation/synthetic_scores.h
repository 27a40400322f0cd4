// Synthetic evaluation sets for the evaluation tests: findings with known shapes (ties, different
// prevalences, no positives, one positive, scores on the calibration bins' edges, perfect
// separation, an inverted model, no cases), generated from a fixed seed so every run is the same.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "evax/evaluation/evaluation.h"

namespace evax::evaluation::testing {

// The same sequence on every platform: mt19937_64 is fully specified, the transforms are ours.
class SyntheticSource {
 public:
  explicit SyntheticSource(std::uint64_t seed) : generator_(seed) {}
  double uniform() { return static_cast<double>(generator_() >> 11) * 0x1.0p-53; }
  double normal() { return std::sqrt(-2.0 * std::log(1.0 - uniform())) * std::cos(6.283185307179586 * uniform()); }
  int truth(double prevalence) { return uniform() < prevalence ? 1 : 0; }

  // A model's probability: the logistic of a class-dependent mean plus noise.
  double score(int truth, double separation) {
    return 1.0 / (1.0 + std::exp(-(separation * (truth - 0.5) + normal())));
  }

 private:
  std::mt19937_64 generator_;
};

inline LabelledScores finding(const std::string& label, std::size_t cases, double prevalence, double separation,
                              std::optional<double> operating_point, SyntheticSource& source, double rounding = 0.0) {
  LabelledScores f{.label = label, .operating_point = operating_point};
  for (std::size_t i = 0; i < cases; ++i) {
    const int truth = source.truth(prevalence);
    double score = source.score(truth, separation);
    if (rounding > 0.0) score = std::round(score / rounding) * rounding;  // ties
    f.truth.push_back(truth);
    f.scores.push_back(std::clamp(score, 0.0, 1.0));
  }
  return f;
}

// Several findings that between them hit every edge the statistics have.
inline EvaluationInput synthetic_set() {
  SyntheticSource source(20260417);
  EvaluationInput input{.model_name = "EVA-X-S", .checkpoint = "eva-x-s-cxr14.pt", .checkpoint_sha256 = std::string(64, 'a'),
                        .dataset_name = "synthetic", .images = 3000, .target_sensitivity = 0.9, .target_specificity = 0.95};
  input.findings.push_back(finding("Effusion", 400, 0.3, 2.0, 0.5, source, 0.01));         // many ties, some at the threshold
  input.findings.push_back(finding("Nodule", 300, 0.05, 1.5, 0.3, source));                // low prevalence
  input.findings.push_back(finding("Hernia", 120, 0.0, 1.0, 0.5, source));                 // no positives
  input.findings.push_back(finding("Pneumothorax", 80, 1.0, 1.0, std::nullopt, source));   // no negatives
  LabelledScores one = finding("Mass", 60, 0.0, 1.0, 0.4, source);                         // exactly one positive
  one.truth[17] = 1;
  input.findings.push_back(one);
  // Scores exactly on the calibration bins' edges (k / 10, while the edges are k * 0.1), 0 and 1.
  LabelledScores edges{.label = "Edema", .operating_point = 0.3};
  for (int i = 0; i < 220; ++i) {
    edges.scores.push_back(static_cast<double>(i % 11) / 10.0);
    edges.truth.push_back(source.uniform() < 0.1 + 0.08 * (i % 11) ? 1 : 0);
  }
  input.findings.push_back(edges);
  input.findings.push_back(finding("Cardiomegaly", 90, 0.4, 40.0, 0.5, source));           // perfectly separated
  LabelledScores large = finding("Consolidation", 3000, 0.5, 1.0, 0.55, source);
  for (double& s : large.scores) s = static_cast<float>(s);  // float32 probabilities, as the model gives
  input.findings.push_back(large);
  input.findings.push_back(finding("Emphysema", 150, 0.2, -3.0, 0.5, source));            // worse than chance
  input.findings.push_back(LabelledScores{.label = "Fibrosis", .operating_point = 0.5});   // no labelled cases
  return input;
}

}  // namespace evax::evaluation::testing
