// evaluate() against scikit-learn and confidenceinterval (tests/tools/evaluation_reference.py in
// the tools venv), to 1e-6, on synthetic sets with ties, different prevalences and undefined
// AUROCs; and the input it refuses.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "evax/evaluation/evaluation.h"
#include "process.h"
#include "synthetic_scores.h"

namespace evax::evaluation {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using evax::testing::CommandResult;
using evax::testing::run_command;
constexpr double kTolerance = 1e-6;

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

// The reference's numbers for `input`: the script must have run and answered for every finding.
json reference(const EvaluationInput& input, const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("evax-evaluation-" + std::to_string(::getpid()) + "-" + name);
  fs::create_directories(dir);
  json given = {{"findings", json::array()},
                {"target_sensitivity", optional_json(input.target_sensitivity)},
                {"target_specificity", optional_json(input.target_specificity)},
                {"calibration_bins", input.calibration_bins}};
  for (const LabelledScores& f : input.findings) {
    given["findings"].push_back({{"label", f.label}, {"scores", f.scores}, {"truth", f.truth}, {"operating_point", optional_json(f.operating_point)}});
  }
  std::ofstream(dir / "input.json") << given.dump();
  const CommandResult run = run_command(std::string(EVAX_TOOLS_PYTHON) + " " + EVAX_SOURCE_DIR + "/tests/tools/evaluation_reference.py " +
                                            (dir / "input.json").string() + " " + (dir / "reference.json").string(),
                                        std::chrono::seconds(120));
  EXPECT_EQ(run.status, 0) << run.output;
  std::ifstream in(dir / "reference.json");
  json answer = in ? json::parse(in, nullptr, false) : json();
  fs::remove_all(dir);
  if (!answer.is_object() || !answer.contains("versions") || answer["findings"].size() != input.findings.size()) {
    ADD_FAILURE() << "the reference script gave no answer for every finding:\n" << run.output;
    return json();
  }
  return answer;
}

void expect_near(const std::optional<double>& ours, const json& theirs, const std::string& what) {
  ASSERT_EQ(ours.has_value(), !theirs.is_null()) << what << ": ours " << (ours ? std::to_string(*ours) : "absent") << ", reference " << theirs;
  if (ours) {
    EXPECT_NEAR(*ours, theirs.get<double>(), kTolerance) << what;
  }
}

void expect_metrics(const std::optional<ThresholdMetrics>& ours, const json& theirs, const std::string& what) {
  ASSERT_EQ(ours.has_value(), !theirs.is_null()) << what;
  if (!ours) return;
  EXPECT_EQ(ours->threshold, theirs["threshold"].get<double>()) << what;  // a score or the configured value, exactly
  EXPECT_EQ(ours->counts.true_positives, theirs["tp"].get<std::size_t>()) << what;
  EXPECT_EQ(ours->counts.false_positives, theirs["fp"].get<std::size_t>()) << what;
  EXPECT_EQ(ours->counts.true_negatives, theirs["tn"].get<std::size_t>()) << what;
  EXPECT_EQ(ours->counts.false_negatives, theirs["fn"].get<std::size_t>()) << what;
  expect_near(ours->sensitivity, theirs["sensitivity"], what + " sensitivity");
  expect_near(ours->specificity, theirs["specificity"], what + " specificity");
  expect_near(ours->ppv, theirs["ppv"], what + " PPV");
  expect_near(ours->npv, theirs["npv"], what + " NPV");
}

// Every number of `report` against the reference's; returns how many findings were compared.
std::size_t compare(const EvaluationReport& report, const json& expected) {
  std::size_t compared = 0;
  for (std::size_t i = 0; i < report.findings.size(); ++i) {
    const FindingReport& f = report.findings[i];
    const json& e = expected["findings"][i];
    SCOPED_TRACE(f.label);
    EXPECT_EQ(f.label, e["label"].get<std::string>());
    EXPECT_EQ(f.cases, e["cases"].get<std::size_t>());
    EXPECT_EQ(f.positives, e["positives"].get<std::size_t>());
    EXPECT_EQ(f.negatives, e["negatives"].get<std::size_t>());
    expect_near(f.auroc, e["auroc"], "AUROC");
    expect_near(f.ci_lower, e["ci95"].is_null() ? json() : e["ci95"][0], "CI lower");
    expect_near(f.ci_upper, e["ci95"].is_null() ? json() : e["ci95"][1], "CI upper");
    expect_metrics(f.at_operating_point, e["operating_point"], "at the operating point");
    expect_metrics(f.for_target_sensitivity ? f.for_target_sensitivity->at : std::nullopt, e["recommended_sensitivity"], "for the target sensitivity");
    expect_metrics(f.for_target_specificity ? f.for_target_specificity->at : std::nullopt, e["recommended_specificity"], "for the target specificity");
    expect_near(f.ece, e["ece"], "ECE");

    EXPECT_EQ(f.roc.empty(), e["roc"].is_null());
    if (!f.roc.empty() && !e["roc"].is_null()) {
      const json& roc = e["roc"];
      EXPECT_EQ(f.roc.size(), roc["fpr"].size());
      if (f.roc.size() != roc["fpr"].size()) continue;
      EXPECT_TRUE(std::isinf(f.roc[0].threshold) && roc["thresholds"][0].is_null());
      for (std::size_t k = 0; k < f.roc.size(); ++k) {
        if (k > 0) {
          EXPECT_EQ(f.roc[k].threshold, roc["thresholds"][k].get<double>()) << "ROC point " << k;
        }
        EXPECT_NEAR(f.roc[k].false_positive_rate, roc["fpr"][k].get<double>(), kTolerance) << "ROC point " << k;
        EXPECT_NEAR(f.roc[k].true_positive_rate, roc["tpr"][k].get<double>(), kTolerance) << "ROC point " << k;
      }
    }
    if (!e["reliability"].is_null()) {
      const json& r = e["reliability"];
      EXPECT_EQ(f.reliability.size(), r["counts"].size());
      if (f.reliability.size() != r["counts"].size()) continue;
      std::size_t filled = 0;
      for (std::size_t b = 0; b < f.reliability.size(); ++b) {
        EXPECT_EQ(f.reliability[b].count, r["counts"][b].get<std::size_t>()) << "bin " << b;
        if (f.reliability[b].count == 0) continue;
        EXPECT_NEAR(*f.reliability[b].mean_score, r["mean_score"][filled].get<double>(), kTolerance) << "bin " << b;
        EXPECT_NEAR(*f.reliability[b].observed_rate, r["observed_rate"][filled].get<double>(), kTolerance) << "bin " << b;
        ++filled;
      }
      EXPECT_EQ(filled, r["mean_score"].size());
    }
    ++compared;
  }
  return compared;
}

TEST(EvaluationStatistics, EqualScikitLearnAndDeLongReference) {
  const EvaluationInput input = testing::synthetic_set();
  const EvaluationReport report = evaluate(input);
  const json expected = reference(input, "targets");
  ASSERT_TRUE(expected.is_object());
  EXPECT_EQ(compare(report, expected), input.findings.size());
  EXPECT_NEAR(report.mean_auroc, expected["mean_auroc"].get<double>(), kTolerance);
  std::cout << "reference: " << expected["versions"].dump() << "\n";

  // The set hits what it was made for.
  const auto& f = report.findings;
  EXPECT_EQ(f[2].positives, 0u);
  EXPECT_FALSE(f[2].auroc);
  EXPECT_NE(f[2].auroc_note.find("no positive"), std::string::npos);
  EXPECT_FALSE(f[3].auroc);
  EXPECT_TRUE(f[4].auroc);
  EXPECT_FALSE(f[4].ci_lower);  // one positive: no variance
  EXPECT_EQ(*f[6].auroc, 1.0);
  EXPECT_EQ(*f[6].ci_lower, 1.0);
  EXPECT_LT(*f[8].auroc, 0.5);
  EXPECT_EQ(f[9].cases, 0u);
  EXPECT_FALSE(f[9].ece);
  EXPECT_EQ(report.mean_auroc_findings, 7u);
  EXPECT_EQ(report.left_out_of_mean, (std::vector<std::string>{"Hernia", "Pneumothorax", "Fibrosis"}));
  EXPECT_NE(std::count(input.findings[0].scores.begin(), input.findings[0].scores.end(), 0.5), 0);  // ties at the threshold
}

// Targets at the extremes (sensitivity 1, specificity 1: unreachable where a negative has the top
// score) and other calibration bins.
TEST(EvaluationStatistics, EqualTheReferenceAtExtremeTargetsAndOtherBins) {
  EvaluationInput input = testing::synthetic_set();
  input.target_sensitivity = 1.0;
  input.target_specificity = 1.0;
  input.calibration_bins = 7;
  const EvaluationReport report = evaluate(input);
  const json expected = reference(input, "extremes");
  ASSERT_TRUE(expected.is_object());
  EXPECT_EQ(compare(report, expected), input.findings.size());
  std::size_t unreachable = 0;
  for (const FindingReport& f : report.findings) {
    if (f.auroc && !f.for_target_specificity->at) {
      ++unreachable;
      EXPECT_FALSE(f.for_target_specificity->unavailable_reason.empty());
    }
  }
  EXPECT_GT(unreachable, 0u);  // the case is exercised
}

TEST(EvaluationStatistics, RefusesBadInputNamingTheFinding) {
  const auto refusal = [](EvaluationInput input) -> std::string {
    try {
      evaluate(input);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "accepted";
  };
  const LabelledScores good{.label = "Effusion", .scores = {0.2, 0.8}, .truth = {0, 1}};
  EvaluationInput base{.findings = {good}};
  EXPECT_NO_THROW(evaluate(base));

  EXPECT_EQ(refusal(EvaluationInput{}), "no findings to evaluate");
  EvaluationInput lengths = base;
  lengths.findings[0].truth.push_back(1);
  EXPECT_EQ(refusal(lengths), "finding \"Effusion\" has 2 scores but 3 labels");
  EvaluationInput out_of_range = base;
  out_of_range.findings[0].scores[1] = 1.5;
  EXPECT_EQ(refusal(out_of_range), "finding \"Effusion\": score 1 is not a probability in [0, 1]");
  EvaluationInput not_a_number = base;
  not_a_number.findings[0].scores[0] = std::nan("");
  EXPECT_EQ(refusal(not_a_number), "finding \"Effusion\": score 0 is not a probability in [0, 1]");
  EvaluationInput truth = base;
  truth.findings[0].truth[0] = -1;
  EXPECT_EQ(refusal(truth), "finding \"Effusion\": label 0 is -1, not 0 or 1");
  EvaluationInput twice = base;
  twice.findings.push_back(good);
  EXPECT_EQ(refusal(twice), "finding \"Effusion\" is given twice");
  EvaluationInput unnamed = base;
  unnamed.findings[0].label.clear();
  EXPECT_EQ(refusal(unnamed), "a finding has an empty label");
  EvaluationInput point = base;
  point.findings[0].operating_point = 1.2;
  EXPECT_EQ(refusal(point), "finding \"Effusion\": the operating point must lie in [0, 1]");
  EvaluationInput target = base;
  target.target_sensitivity = 0.0;
  EXPECT_EQ(refusal(target), "target sensitivity must lie in (0, 1]");
  EvaluationInput bins = base;
  bins.calibration_bins = 0;
  EXPECT_EQ(refusal(bins), "calibration_bins must lie in 1..100");
}

}  // namespace
}  // namespace evax::evaluation
