// Drift scores (admin/src/drift.h) against an independent reference: PSI by its formula with
// numpy and scipy.stats.ks_2samp's statistic (tests/tools/drift_reference.py in the test venv),
// to 1e-9; the score crossing its threshold when the distribution moves and not on a resample;
// and the baseline file's errors.
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
  cases.push_back({sample(rng, 200, 0.1, 0.05), sample(rng, 200, 0.9, 0.05)}); // disjoint: empty bins floored
  cases.push_back({{0.0, 0.1, 0.1, 0.5, 1.0, 1.0}, {0.1, 0.2, 0.5, 0.5, 0.99}}); // ties, edges, 0 and 1
  std::vector<double> ties(50, 0.5);
  cases.push_back({ties, sample(rng, 50, 0.5, 0.01)});
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
  }
  // The cases are not all alike: a resample scores low, a moved distribution high.
  EXPECT_LT(reference["cases"][0]["psi"].get<double>(), 0.1);
  EXPECT_GT(reference["cases"][1]["psi"].get<double>(), 0.2);
  fs::remove_all(dir);
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
