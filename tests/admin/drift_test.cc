// Drift scores (admin/src/drift.h) against an independent reference: PSI by its formula over
// numpy.quantile's baseline deciles and scipy.stats.ks_2samp's statistic
// (tests/tools/drift_reference.py in the test venv), to 1e-9; ties in the baseline; a resample
// scoring near PSI's null expectation wherever the values cluster (the README's figures); the
// score crossing its threshold when the distribution moves and not on a resample; and the
// baseline file's errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

#include "drift.h"
#include "process.h"

namespace evax::admin {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path temp_dir() {
  const fs::path dir = fs::temp_directory_path() / ("evax-drift-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

// `n` probabilities from a beta-like shape: the mean of `k` uniforms, scaled and shifted.
std::vector<double> sample(std::mt19937_64& rng, int n, double centre, double spread) {
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<double> out;
  for (int i = 0; i < n; ++i) out.push_back(std::clamp(centre + spread * (uniform(rng) + uniform(rng)) / 2, 0.0, 1.0));
  return out;
}

TEST(Drift, PsiAndKsEqualNumpyAndScipy) {
  std::mt19937_64 rng(17);
  std::vector<std::pair<std::vector<double>, std::vector<double>>> cases;
  cases.push_back({sample(rng, 500, 0.3, 0.2), sample(rng, 400, 0.3, 0.2)});  // a resample
  cases.push_back({sample(rng, 500, 0.3, 0.2), sample(rng, 300, 0.6, 0.2)});  // moved
  cases.push_back({sample(rng, 200, 0.1, 0.05), sample(rng, 200, 0.9, 0.05)}); // disjoint: empty bins smoothed
  cases.push_back({{0.0, 0.1, 0.1, 0.5, 1.0, 1.0}, {0.1, 0.2, 0.5, 0.5, 0.99}}); // ties, values on cuts, 0 and 1
  std::vector<double> ties(50, 0.5);
  cases.push_back({ties, sample(rng, 50, 0.5, 0.01)});                          // constant: one bin
  std::vector<double> mostly_zero(70, 0.0);
  for (double v : sample(rng, 30, 0.5, 0.4)) mostly_zero.push_back(v);
  cases.push_back({mostly_zero, sample(rng, 80, 0.3, 0.3)});                      // seven deciles tied
  cases.push_back({sample(rng, 300, 0.2, 0.002), sample(rng, 300, 0.2, 0.002)}); // clustered on a 0.1 edge
  cases.push_back({sample(rng, 7, 0.5, 0.3), sample(rng, 5, 0.5, 0.3)});        // fewer values than bins
  json input{{"cases", json::array()}};
  for (const auto& [b, c] : cases) input["cases"].push_back({{"baseline", b}, {"current", c}});
  const fs::path dir = temp_dir();
  std::ofstream(dir / "in.json") << input.dump();
  fs::remove(dir / "out.json");
  const auto run = testing::run_command(std::string(EVAX_TOOLS_PYTHON) + " " + EVAX_SOURCE_DIR + "/tests/tools/drift_reference.py " +
                                        (dir / "in.json").string() + " " + (dir / "out.json").string());
  ASSERT_EQ(run.status, 0) << run.output;
  std::ifstream out(dir / "out.json");
  ASSERT_TRUE(out) << "the reference script wrote nothing";
  const json reference = json::parse(out);
  ASSERT_EQ(reference["cases"].size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const double psi = population_stability_index(cases[i].first, cases[i].second);
    const double ks = ks_statistic(cases[i].first, cases[i].second);
    EXPECT_NEAR(psi, reference["cases"][i]["psi"].get<double>(), 1e-9) << "case " << i;
    EXPECT_NEAR(ks, reference["cases"][i]["ks"].get<double>(), 1e-9) << "case " << i;
    EXPECT_EQ(psi_cut_points(cases[i].first), reference["cases"][i]["cuts"].get<std::vector<double>>()) << "case " << i;
  }
  // The cases are not all alike: a resample scores low, a moved distribution high.
  EXPECT_LT(reference["cases"][0]["psi"].get<double>(), 0.1);
  EXPECT_GT(reference["cases"][1]["psi"].get<double>(), 0.2);
  EXPECT_EQ(reference["cases"][4]["psi"].get<double>(), 0.0);  // one bin
  EXPECT_EQ(reference["cases"][4]["cuts"].size(), 0u);
  EXPECT_EQ(reference["cases"][5]["cuts"].size(), 3u);          // 0 and two of the other 30's deciles
  EXPECT_LT(reference["cases"][6]["psi"].get<double>(), 0.2);
  fs::remove_all(dir);
}

TEST(Drift, TiesMergeCutPointsAndEveryBinHoldsBaselineValues) {
  EXPECT_EQ(psi_cut_points({0, 0, 0, 0, 0, 0, 0, 1, 2, 3}), (std::vector<double>{0, 1, 2}));
  EXPECT_EQ(psi_cut_points({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), (std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(psi_cut_points({5, 4, 3, 2, 1}), (std::vector<double>{1, 2, 3, 4}));  // a cut at the maximum is dropped
  EXPECT_TRUE(psi_cut_points(std::vector<double>(20, 0.3)).empty());
  EXPECT_TRUE(psi_cut_points({}).empty());
  const std::vector<double> ten{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(population_stability_index(ten, ten), 0.0);
  EXPECT_EQ(population_stability_index(std::vector<double>(20, 0.3), {0.6, 0.9}), 0.0);  // one bin: KS measures instead
  EXPECT_EQ(ks_statistic(std::vector<double>(20, 0.3), {0.6, 0.9}), 1.0);
  // Values on a cut stay in the bin it closes: `ten` makes the bins (-inf, 1], (1, 2], ..., (9, inf),
  // one value each; {1, 1, 2, ..., 9} puts two in the first, none in the last, one in each other.
  const double moved = population_stability_index(ten, {1, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  const double b = 1.5 / 15, c_low = 2.5 / 15, c_top = 0.5 / 15;  // smoothed fractions
  EXPECT_NEAR(moved, (c_low - b) * std::log(c_low / b) + (c_top - b) * std::log(c_top / b), 1e-12);
}

// The README's null expectation: a resample of n against m images scores about
// (kPsiBins - 1) * (1/n + 1/m) on average, rarely three times that, wherever the values cluster
// (the fixed 0.1-wide bins this replaced made a cluster on 0.2 or 0.3 a coin toss); a shift of
// one spread scores far above the 0.2 threshold.
TEST(Drift, AResampleScoresNearTheNullExpectationWhereverTheValuesCluster) {
  std::mt19937_64 rng(29);
  const int n = 300, m = 300, trials = 200;
  const double expected = (kPsiBins - 1) * (1.0 / n + 1.0 / m);  // 0.06
  for (const double centre : {0.2, 0.3, 0.5, 0.9}) {
    double sum = 0;
    int above_threshold = 0, above_three_times = 0;
    for (int t = 0; t < trials; ++t) {
      const double psi = population_stability_index(sample(rng, n, centre, 0.004), sample(rng, m, centre, 0.004));
      sum += psi;
      above_threshold += psi >= 0.2;
      above_three_times += psi >= 3 * expected;
    }
    EXPECT_NEAR(sum / trials, expected, 0.3 * expected) << centre;
    EXPECT_LE(above_threshold, trials / 100) << centre;
    EXPECT_LE(above_three_times, trials / 100) << centre;
    EXPECT_GT(population_stability_index(sample(rng, n, centre, 0.004), sample(rng, m, centre + 0.002, 0.004)), 0.2) << centre;
  }
}

TEST(Drift, CrossesItsThresholdWhenTheDistributionMovesNotOnAResample) {
  std::mt19937_64 rng(3);
  FindingSamples baseline{{"Effusion", sample(rng, 400, 0.3, 0.3)}, {"Mass", sample(rng, 400, 0.2, 0.2)}};
  FindingSamples resample{{"Effusion", sample(rng, 200, 0.3, 0.3)}, {"Mass", sample(rng, 200, 0.2, 0.2)}};
  FindingSamples moved{{"Effusion", sample(rng, 200, 0.55, 0.3)}, {"Mass", sample(rng, 200, 0.2, 0.2)}};
  for (const auto& f : drift_by_finding(baseline, resample, 0.2, 30)) {
    ASSERT_TRUE(f.psi) << f.label;
    EXPECT_LT(*f.psi, 0.2) << f.label;
    EXPECT_FALSE(f.drifting) << f.label;
  }
  const auto scores = drift_by_finding(baseline, moved, 0.2, 30);
  ASSERT_EQ(scores.size(), 2u);
  EXPECT_EQ(scores[0].label, "Effusion");
  EXPECT_GT(*scores[0].psi, 0.2);
  EXPECT_GT(*scores[0].ks, 0.3);
  EXPECT_TRUE(scores[0].drifting);
  EXPECT_FALSE(scores[1].drifting);
  EXPECT_EQ(scores[0].baseline_images, 400u);
  EXPECT_EQ(scores[0].current_images, 200u);
}

TEST(Drift, TooFewImagesGiveNoScore) {
  FindingSamples baseline{{"Effusion", std::vector<double>(100, 0.2)}};
  FindingSamples current{{"Effusion", std::vector<double>(9, 0.9)}, {"Mass", std::vector<double>(50, 0.9)}};
  const auto scores = drift_by_finding(baseline, current, 0.2, 10);
  ASSERT_EQ(scores.size(), 2u);
  EXPECT_FALSE(scores[0].psi);  // 9 < 10 images
  EXPECT_FALSE(scores[0].drifting);
  EXPECT_FALSE(scores[1].psi);  // no baseline for Mass
  EXPECT_EQ(scores[1].current_images, 50u);
  EXPECT_THROW(population_stability_index({}, {0.5}), std::invalid_argument);
  EXPECT_THROW(ks_statistic({0.5}, {}), std::invalid_argument);
}

TEST(Drift, BaselineFileIsReadAndBadOnesAreRefusedWithTheirPlace) {
  const fs::path dir = temp_dir();
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  const auto good = read_baseline_file(write("good.csv", "image,Effusion,Mass\r\na.png,0.25,0.5\nb.png,,1\nc.png,0.75,0\n\n"));
  ASSERT_TRUE(good) << good.error();
  EXPECT_EQ(good->at("Effusion"), (std::vector<double>{0.25, 0.75}));
  EXPECT_EQ(good->at("Mass"), (std::vector<double>{0.5, 1.0, 0.0}));

  const std::pair<std::string, std::string> bad[] = {
      {"image,Effusion\na.png,1.5\n", "line 2, column 'Effusion': must be a probability from 0 to 1, not '1.5'"},
      {"image,Effusion\na.png,abc\n", "line 2, column 'Effusion'"},
      {"image,Effusion\na.png,0.5,0.1\n", "line 2: 3 columns, the header has 2"},
      {"image\na.png\n", "line 1: needs an image column and at least one finding column"},
      {"image,Effusion\n", "no rows after the header"},
      {"", "empty"},
      {"image,,Mass\na,0.1,0.2\n", "line 1, column 2: empty finding name"},
      {"image,Effusion\n\"a,b\",0.1\n", "line 2: quoted fields are not supported"},
  };
  for (const auto& [text, message] : bad) {
    const auto read = read_baseline_file(write("bad.csv", text));
    ASSERT_FALSE(read) << text;
    EXPECT_NE(read.error().find(message), std::string::npos) << read.error();
  }
  EXPECT_NE(read_baseline_file((dir / "missing.csv").string()).error().find("cannot open"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace evax::admin
