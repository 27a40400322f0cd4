// Watching the model in production, on a real node: a baseline file made from `evax-node
// infer`'s scores of one synthetic "detector" (kBaselineImages images); a resample of that
// detector (kWindowImages other images) shows no drift on any finding, and kDetectorBImages more
// from another detector response (brighter, lower contrast: the demo model's probabilities move)
// make /readyz's drift check warn and name the findings, with the PSI and KS in /metrics. The
// intake's skipped images counted per reason and sending AE. Radiologist feedback: stored,
// audited, listed, in the job view; refused for role read (403), bad bodies (400), unknown jobs
// (404).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "http_client.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kAdminToken = "admin-token-m0n1";
constexpr const char* kReadToken = "read-token-m0n2";
constexpr const char* kReviewToken = "review-token-m0n3";
// Sample sizes and threshold, from PSI's null distribution (admin/src/drift.h, README): a
// resample of 150 baseline against 60 window images scores about 9 * (1/150 + 1/60) = 0.21 on
// average (0.19 with the smoothing), 0.67 at its 99.9th percentile (simulated); a window 60%
// made of a detector whose probabilities leave the baseline's range scores 1.3 or more (1.55 on
// average). So the threshold is 1.0 here; the default 0.2 needs about 300 images a side
// (tests/admin/drift_test.cc), too slow for this test (the node took 21 s for 100 images here).
constexpr int kBaselineImages = 150;
constexpr int kWindowImages = 60;
constexpr int kDetectorBImages = 90;
constexpr double kPsiThreshold = 1.0;

std::string sha256_of(const std::string& text) { return run_command("printf %s '" + text + "' | sha256sum").output.substr(0, 64); }

// A chest-sized synthetic image of noise; `detector` 'A' or 'B' (B: the same noise through a
// brighter, flatter response, as a different detector or protocol would give).
SyntheticImage detector_image(const std::string& study_uid, char detector, unsigned seed) {
  SyntheticImage image = frontal(study_uid);
  image.width = 128;
  image.height = 128;
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(1600, 480);
  for (int i = 0; i < image.width * image.height; ++i) {
    double v = noise(rng);
    if (detector == 'B') v = v * 0.5 + 2400;
    image.values.push_back(static_cast<std::uint16_t>(std::clamp(v, 0.0, 4095.0)));
  }
  image.window = {{2048.0, 4096.0}};
  return image;
}

// Prometheus text: "name{labels}" -> value, the node label left out.
std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> samples;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    std::string key = line.substr(0, space);
    const auto node = key.find("node=\"");
    if (node != std::string::npos) key.erase(node, key.find('"', node + 6) + 1 - node);
    const auto brace = key.find('{');
    if (brace != std::string::npos && key[brace + 1] == ',') key.erase(brace + 1, 1);
    if (brace != std::string::npos && key[brace + 1] == '}') key.erase(brace, 2);
    samples[key] = std::stod(line.substr(space + 1));
  }
  return samples;
}

class Monitoring : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    node_ = new NodeHarness;
    // The baseline: detector A's images scored by `evax-node infer`, as an evaluation set's
    // scores would be, written as the baseline CSV.
    std::vector<std::string> baseline_files;
    for (int i = 0; i < kBaselineImages; ++i) {
      baseline_files.push_back((node_->dir() / ("baseline" + std::to_string(i) + ".dcm")).string());
      write_synthetic_dicom(baseline_files.back(), detector_image(new_uid(SITE_STUDY_UID_ROOT), 'A', 1000 + i));
    }
    std::string command = std::string(EVAX_NODE_BINARY) + " infer --checkpoint demo:tiny";
    for (const auto& f : baseline_files) command += " " + f;
    const auto infer = run_command(command + " 2>/dev/null");
    ASSERT_EQ(infer.status, 0) << infer.output;
    const json scores = json::parse(infer.output);
    std::ofstream csv(node_->dir() / "baseline.csv");
    csv.precision(17);  // the probabilities as the node stores them, not rounded to 6 digits
    csv << "file";
    for (const auto& f : scores["results"][0]["findings"]) csv << "," << f["label"].get<std::string>();
    csv << "\n";
    for (const auto& r : scores["results"]) {
      csv << r["file"].get<std::string>();
      for (const auto& f : r["findings"]) csv << "," << f["probability"].get<double>();
      csv << "\n";
      labels_.clear();
      for (const auto& f : r["findings"]) labels_.push_back(f["label"]);
    }
    csv.close();

    node_->config()["http"] = {
        {"port", free_tcp_port()},
        {"listen_address", "127.0.0.1"},
        {"tokens", json::array({{{"sha256", sha256_of(kAdminToken)}, {"role", "admin"}, {"name", "ops"}},
                                {{"sha256", sha256_of(kReadToken)}, {"role", "read"}, {"name", "viewer"}},
                                {{"sha256", sha256_of(kReviewToken)}, {"role", "review"}, {"name", "dr-review"}}})}};
    node_->config()["monitoring"] = {
        {"baseline_file", (node_->dir() / "baseline.csv").string()}, {"min_images", kWindowImages}, {"psi_threshold", kPsiThreshold}};
    node_->config()["reporting"] = {{"outputs", {"sr"}}, {"operating_points", {{"Atelectasis", 0.6}}}};
    node_->config()["model"]["cam_top_k"] = 0;
    node_->start();

    // A resample of detector A from MOD_A, with two lateral views among them; a hand from MOD_B.
    study_a_ = new_uid(SITE_STUDY_UID_ROOT);
    std::vector<SyntheticImage> images;
    for (int i = 0; i < kWindowImages; ++i) images.push_back(detector_image(study_a_, 'A', 2000 + i));
    for (int i = 0; i < 2; ++i) images.push_back(detector_image(study_a_, 'A', 2100 + i)), images.back().view_position = "LL";
    sop_a_ = write_synthetic_dicom((node_->dir() / "first.dcm").string(), images.front());
    images.front().sop_uid = sop_a_;
    send(images, "a", "-aet MOD_A");
    SyntheticImage hand = frontal(new_uid(SITE_STUDY_UID_ROOT));
    hand.body_part = "HAND";
    send({hand}, "hand", "-aet MOD_B");
    node_->wait_for([](const json& s) { return all_jobs_final(s, 2); }, 120s);
  }
  static void TearDownTestSuite() { delete node_; }

  static void send(const std::vector<SyntheticImage>& images, const std::string& prefix, const std::string& extra) {
    const CommandResult sent = node_->storescu(write_images(node_->dir(), prefix, images), extra);
    EXPECT_EQ(store_successes(sent.output), static_cast<int>(images.size())) << sent.output;
  }
  static int port() { return node_->config()["http"]["port"].get<int>(); }
  static HttpAnswer get(const std::string& path, const std::string& token = kReadToken) { return http_call(port(), {"GET", path, token}); }
  static HttpAnswer post(const std::string& path, const std::string& body, const std::string& token = kReviewToken) {
    return http_call(port(), {"POST", path, token, body, "application/json"});
  }
  static json body(const HttpAnswer& answer) {
    try {
      return json::parse(answer.body);
    } catch (const std::exception&) {
      ADD_FAILURE() << "not JSON (" << answer.status << "): " << answer.body << answer.error;
      return json::object();
    }
  }
  static json drift_check() {
    const json ready = body(get("/readyz"));
    for (const auto& check : ready["checks"])
      if (check["name"] == "drift") return check;
    ADD_FAILURE() << "no drift check in " << ready.dump();
    return json::object();
  }
  static std::int64_t job_of(const std::string& study) {
    const json jobs = body(get("/api/v1/studies/" + study))["jobs"];
    return jobs.empty() ? 0 : jobs.back()["id"].get<std::int64_t>();
  }

  static inline NodeHarness* node_ = nullptr;
  static inline std::vector<std::string> labels_;
  static inline std::string study_a_, sop_a_;
};

TEST_F(Monitoring, SkippedImagesAreCountedPerReasonAndSendingAe) {
  const auto metrics = parse_metrics(get("/metrics").body);
  EXPECT_EQ(metrics.at("evax_intake_skipped_images_total{reason=\"lateral-view\",calling_ae=\"MOD_A\"}"), 2);
  EXPECT_EQ(metrics.at("evax_intake_skipped_images_total{reason=\"not-chest\",calling_ae=\"MOD_B\"}"), 1);
  EXPECT_FALSE(metrics.count("evax_intake_skipped_images_total{reason=\"not-chest\",calling_ae=\"MOD_A\"}"));
}

TEST_F(Monitoring, AResampleOfTheBaselineDoesNotDriftAnotherDetectorDoes) {
  // Detector A again: every finding scored, none drifting.
  json check = drift_check();
  EXPECT_EQ(check["ok"], true);
  EXPECT_EQ(check["warning"], false) << check.dump();
  EXPECT_TRUE(check["drifting"].empty()) << check.dump();
  auto metrics = parse_metrics(get("/metrics").body);
  ASSERT_FALSE(labels_.empty());
  double psi_sum = 0, psi_max = 0;
  for (const auto& label : labels_) {
    const std::string finding = "{finding=\"" + label + "\"}";
    ASSERT_TRUE(metrics.count("evax_finding_drift_psi" + finding)) << label;
    EXPECT_LT(metrics.at("evax_finding_drift_psi" + finding), kPsiThreshold) << label;
    EXPECT_EQ(metrics.at("evax_finding_drifting" + finding), 0) << label;
    EXPECT_EQ(metrics.at("evax_finding_probability_count" + finding), kWindowImages) << label;
    EXPECT_EQ(metrics.at("evax_finding_probability_bucket{finding=\"" + label + "\",le=\"1\"}"), kWindowImages) << label;
    psi_sum += metrics.at("evax_finding_drift_psi" + finding);
    psi_max = std::max(psi_max, metrics.at("evax_finding_drift_psi" + finding));
  }
  std::printf("resample of detector A, %d baseline against %d window images: PSI mean %.3f, max %.3f over %zu findings\n",
              kBaselineImages, kWindowImages, psi_sum / static_cast<double>(labels_.size()), psi_max, labels_.size());
  // Near the null expectation (0.19), not merely under the threshold.
  EXPECT_LT(psi_sum / static_cast<double>(labels_.size()), 0.4);

  // Detector B: 60% of the window now comes from another response; the demo model's scores move.
  const std::string study_b = new_uid(SITE_STUDY_UID_ROOT);
  std::vector<SyntheticImage> images;
  for (int i = 0; i < kDetectorBImages; ++i) images.push_back(detector_image(study_b, 'B', 3000 + i));
  send(images, "b", "-aet MOD_A");
  node_->wait_for([](const json& s) { return all_jobs_final(s, 3); }, 120s);

  check = drift_check();
  EXPECT_EQ(check["ok"], true);  // a warning, not unready
  EXPECT_EQ(check["warning"], true) << check.dump();
  ASSERT_FALSE(check["drifting"].empty());
  EXPECT_NE(check["detail"].get<std::string>().find(check["drifting"][0].get<std::string>() + " (PSI "), std::string::npos);
  EXPECT_EQ(body(get("/readyz"))["ready"], true);
  metrics = parse_metrics(get("/metrics").body);
  double drifting_min = 1e9;
  for (const auto& label : check["drifting"]) {
    const std::string finding = "{finding=\"" + label.get<std::string>() + "\"}";
    drifting_min = std::min(drifting_min, metrics.at("evax_finding_drift_psi" + finding));
    EXPECT_GE(metrics.at("evax_finding_drift_psi" + finding), kPsiThreshold) << label;
    EXPECT_GT(metrics.at("evax_finding_drift_ks" + finding), 0.2) << label;
    EXPECT_EQ(metrics.at("evax_finding_drifting" + finding), 1) << label;
    EXPECT_EQ(metrics.at("evax_finding_probability_count" + finding), kWindowImages + kDetectorBImages) << label;
  }
  // Atelectasis is one of them (detector B moves it from 0.29 +- 0.025 to 0.91): with 60% of the
  // window above the baseline's largest value, KS is at least 0.6 (F_baseline = 1 there, F_window
  // at most 0.4). A manual run of this design on a node (120 / 100 / 100 images) had 13 of the
  // 14 findings leave the baseline's range and drift, Pleural_Thickening only partly (PSI 0.58).
  EXPECT_NE(std::find(check["drifting"].begin(), check["drifting"].end(), "Atelectasis"), check["drifting"].end()) << check.dump();
  EXPECT_GE(metrics.at("evax_finding_drift_ks{finding=\"Atelectasis\"}"), 0.6 - 1e-9);
  EXPECT_GE(check["drifting"].size(), 10u) << check.dump();
  std::printf("with %d images of detector B: %zu of %zu findings drifting, their PSI from %.3f; Atelectasis PSI %.3f, KS %.3f\n",
              kDetectorBImages, check["drifting"].size(), labels_.size(), drifting_min,
              metrics.at("evax_finding_drift_psi{finding=\"Atelectasis\"}"), metrics.at("evax_finding_drift_ks{finding=\"Atelectasis\"}"));
}

TEST_F(Monitoring, FeedbackIsStoredAuditedListedAndRefusedWhenWrong) {
  const std::int64_t job = job_of(study_a_);
  ASSERT_GT(job, 0);
  const std::string path = "/api/v1/jobs/" + std::to_string(job) + "/feedback";

  // One image: agree on Atelectasis (operating point 0.6), Mass present.
  HttpAnswer answer = post(path, json{{"sop_instance_uid", sop_a_}, {"findings", {{"Atelectasis", "agree"}, {"Mass", "present"}}},
                                      {"comment", "reviewed at the workstation"}}.dump());
  ASSERT_EQ(answer.status, 201) << answer.body;
  json stored = body(answer);
  EXPECT_EQ(stored["reviewer"], "dr-review");
  ASSERT_EQ(stored["items"].size(), 2u);
  const json& atelectasis = stored["items"][0];
  EXPECT_EQ(atelectasis["finding"], "Atelectasis");
  EXPECT_EQ(atelectasis["operating_point"], 0.6);
  EXPECT_EQ(atelectasis["label"], atelectasis["probability"].get<double>() >= 0.6 ? 1 : 0);
  EXPECT_EQ(stored["items"][1]["label"], 1);
  EXPECT_EQ(stored["items"][1]["probability"], nullptr);

  // The whole job (every analysed image) with the admin token: a disagree flips each decision.
  answer = post(path, json{{"findings", {{"Atelectasis", "disagree"}}}}.dump(), kAdminToken);
  ASSERT_EQ(answer.status, 201) << answer.body;
  stored = body(answer);
  EXPECT_EQ(stored["items"].size(), static_cast<std::size_t>(kWindowImages));
  for (const auto& item : stored["items"])
    EXPECT_EQ(item["label"], item["probability"].get<double>() >= 0.6 ? 0 : 1);

  // Listed, and in the job view.
  const json listed = body(get(path));
  ASSERT_EQ(listed["feedback"].size(), 2u);
  EXPECT_EQ(listed["feedback"][0]["comment"], "reviewed at the workstation");
  EXPECT_EQ(listed["feedback"][1]["reviewer"], "ops");
  EXPECT_EQ(body(get("/api/v1/jobs/" + std::to_string(job)))["feedback"].size(), 2u);
  EXPECT_EQ(node_->sql("SELECT COUNT(*) FROM feedback_items"), std::to_string(2 + kWindowImages));

  // Refused: role read (403), no job (404), bad bodies (400), each storing nothing.
  EXPECT_EQ(post(path, json{{"findings", {{"Mass", "agree"}}}}.dump(), kReadToken).status, 403);
  EXPECT_EQ(post("/api/v1/jobs/999999/feedback", json{{"findings", {{"Mass", "agree"}}}}.dump()).status, 404);
  EXPECT_EQ(get("/api/v1/jobs/999999/feedback").status, 404);
  const std::pair<std::string, std::string> bad[] = {
      {"not json", "JSON object"},
      {"[]", "JSON object"},
      {"{}", "findings must be an object"},
      {R"({"findings": {}})", "findings must be an object"},
      {R"({"findings": {"Mass": "maybe"}})", "findings.Mass must be agree, disagree, present or absent"},
      {R"({"findings": {"Mass": true}})", "findings.Mass must be"},
      {R"({"findings": {"Unicorn": "agree"}})", "findings.Unicorn: the model reported no such finding"},
      {R"({"findings": {"Mass": "agree"}, "reviewer": "someone else"})", "unknown key 'reviewer'"},
      {R"({"findings": {"Mass": "agree"}, "sop_instance_uid": "1.2.3.4"})", "no analysed image with that SOP Instance UID"},
      {R"({"findings": {"Mass": "agree"}, "comment": 5})", "comment must be a string"},
  };
  for (const auto& [text, message] : bad) {
    const HttpAnswer refused = post(path, text);
    EXPECT_EQ(refused.status, 400) << text;
    EXPECT_NE(body(refused)["error"]["message"].get<std::string>().find(message), std::string::npos) << text << ": " << refused.body;
  }
  EXPECT_EQ(node_->sql("SELECT COUNT(*) FROM feedback"), "2");

  // Audited with the token's name, the refusal too; the comment stays out of the audit log.
  std::ifstream audit(node_->data_dir() / "audit.log");
  int recorded = 0, forbidden = 0;
  for (std::string line; std::getline(audit, line);) {
    EXPECT_EQ(line.find("reviewed at the workstation"), std::string::npos);
    const json entry = json::parse(line);
    if (entry["event"] == "feedback" && entry["outcome"] == "recorded") ++recorded;
    if (entry["event"] == "admin" && entry["outcome"] == "forbidden" && line.find("viewer") != std::string::npos) ++forbidden;
  }
  EXPECT_EQ(recorded, 2);
  EXPECT_EQ(forbidden, 1);
}

}  // namespace
}  // namespace evax::testing
