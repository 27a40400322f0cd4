// The report's three outputs: the JSON carries the same numbers as the report, the operating-points
// fragment is what the config parser accepts (and sets), and the HTML renders in headless Chromium
// with its plots as SVG, self-contained.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "evax/config/node_config.h"
#include "evax/evaluation/evaluation.h"
#include "process.h"
#include "synthetic_scores.h"

namespace evax::evaluation {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
const std::string kChromium = "/usr/bin/chromium";

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

TEST(EvaluationReport, JsonCarriesTheReportsNumbers) {
  EvaluationInput input = testing::synthetic_set();
  input.demo_weights = true;
  const EvaluationReport report = evaluate(input);
  const json j = json::parse(report_json(report));
  EXPECT_EQ(j["model"]["name"], "EVA-X-S");
  EXPECT_EQ(j["model"]["checkpoint_sha256"], std::string(64, 'a'));
  EXPECT_EQ(j["model"]["demo_weights"], true);
  EXPECT_EQ(j["dataset"]["images"], 3000);
  EXPECT_EQ(j["mean_auroc"].get<double>(), report.mean_auroc);
  EXPECT_EQ(j["left_out_of_mean"], json({"Hernia", "Pneumothorax", "Fibrosis"}));
  ASSERT_EQ(j["findings"].size(), report.findings.size());
  for (std::size_t i = 0; i < report.findings.size(); ++i) {
    const FindingReport& f = report.findings[i];
    const json& e = j["findings"][i];
    SCOPED_TRACE(f.label);
    EXPECT_EQ(e["label"], f.label);
    EXPECT_EQ(e["positives"], f.positives);
    EXPECT_EQ(e["auroc"].is_null(), !f.auroc);
    if (f.auroc) {
      EXPECT_EQ(e["auroc"].get<double>(), *f.auroc);
    }
    if (f.ci_lower) {
      EXPECT_EQ(e["auroc_ci95"][0].get<double>(), *f.ci_lower);
    }
    EXPECT_EQ(e["auroc_ci95"].is_null(), !f.ci_lower);
    EXPECT_EQ(e["roc"]["fpr"].size(), f.roc.size());
    if (!f.roc.empty()) {
      EXPECT_TRUE(e["roc"]["thresholds"][0].is_null());  // +infinity
    }
    if (f.at_operating_point) {
      EXPECT_EQ(e["at_operating_point"]["true_positives"], f.at_operating_point->counts.true_positives);
      EXPECT_EQ(e["at_operating_point"]["false_negatives"], f.at_operating_point->counts.false_negatives);
    } else {
      EXPECT_TRUE(e["at_operating_point"].is_null());
    }
    EXPECT_EQ(e["reliability"].size(), f.reliability.size());
  }
  EXPECT_EQ(j["findings"][2]["auroc_note"], "no positive cases: AUROC undefined");
  EXPECT_EQ(j["findings"][2]["for_target_sensitivity"]["unavailable"], "needs both positive and negative cases");
}

TEST(EvaluationReport, OperatingPointsFragmentIsAcceptedByTheConfigParser) {
  const EvaluationReport report = evaluate(testing::synthetic_set());
  const std::string fragment = operating_points_fragment(report);
  const config::ConfigResult parsed = config::parse_config(fragment);
  ASSERT_TRUE(parsed) << config::describe(parsed.error().front()) << "\n" << fragment;
  std::map<std::string, double> expected;
  for (const FindingReport& f : report.findings) {
    if (f.for_target_sensitivity->at) expected[f.label] = f.for_target_sensitivity->at->threshold;
  }
  EXPECT_EQ(expected.size(), 7u);  // the findings with both classes
  EXPECT_EQ(parsed->reporting.operating_points, expected);  // exactly: the thresholds survive the text

  // Only a specificity target: its thresholds. No target: an empty map, still valid.
  EvaluationInput specificity = testing::synthetic_set();
  specificity.target_sensitivity.reset();
  const EvaluationReport by_specificity = evaluate(specificity);
  const auto from_specificity = config::parse_config(operating_points_fragment(by_specificity));
  ASSERT_TRUE(from_specificity);
  EXPECT_EQ(from_specificity->reporting.operating_points.at("Effusion"), by_specificity.findings[0].for_target_specificity->at->threshold);
  EvaluationInput none = testing::synthetic_set();
  none.target_sensitivity.reset();
  none.target_specificity.reset();
  EXPECT_EQ(json::parse(operating_points_fragment(evaluate(none))), json::parse(R"({"reporting": {"operating_points": {}}})"));
}

TEST(EvaluationReport, HtmlRendersItsPlotsInChromiumSelfContained) {
  if (!fs::exists(kChromium)) GTEST_SKIP() << kChromium << " is not installed (Debian package chromium)";
  EvaluationInput input = testing::synthetic_set();
  input.demo_weights = true;
  input.findings[1].label = "Nodule <b>&";  // labels come from files: escaped, not markup
  const EvaluationReport report = evaluate(input);
  const std::string html = report_html(report);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);

  const fs::path dir = fs::temp_directory_path() / ("evax-evaluation-html-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "report.html") << html;
  const evax::testing::CommandResult dom = evax::testing::run_command(
      kChromium + " --headless=new --no-sandbox --disable-gpu --no-first-run --no-default-browser-check"
                  " --disable-background-networking --disable-component-update --disable-sync --disable-extensions"
                  " --user-data-dir=" + (dir / "profile").string() + " --no-proxy-server --dump-dom file://" +
                  (dir / "report.html").string() + " 2>" + (dir / "chromium.log").string(),
      std::chrono::seconds(90));
  fs::remove_all(dir);
  ASSERT_EQ(dom.status, 0) << dom.output;
  const std::string& page = dom.output;
  ASSERT_NE(page.find("</html>"), std::string::npos) << page;
  // One ROC curve per finding with both classes, one reliability diagram per finding with cases.
  EXPECT_EQ(occurrences(page, "<svg class=\"roc-curve\""), 7u);
  EXPECT_EQ(occurrences(page, "<polyline class=\"roc\""), 7u);
  EXPECT_EQ(occurrences(page, "<svg class=\"reliability-diagram\""), 9u);
  EXPECT_GT(occurrences(page, "<circle class=\"bin\""), 9u * 3);
  EXPECT_EQ(occurrences(page, "<g class=\"operating-point\""), 7u);
  EXPECT_EQ(occurrences(page, "<g class=\"recommended-point\""), 2u * 7u);  // both targets reached where both classes are
  EXPECT_EQ(occurrences(page, "<table class=\"confusion\""), 8u);                  // every operating point on a finding with cases
  EXPECT_NE(page.find("id=\"demo-warning\""), std::string::npos);
  EXPECT_NE(page.find(std::string(64, 'a')), std::string::npos);  // the checkpoint hash
  EXPECT_NE(page.find("Nodule &lt;b&gt;&amp;"), std::string::npos);
  EXPECT_EQ(page.find("Nodule <b>"), std::string::npos);
}

}  // namespace
}  // namespace evax::evaluation
