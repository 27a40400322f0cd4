// `evax-node evaluate` as a user runs it: the real binary on synthetic PNGs with the demo model.
// The must-show of issue 17: an evaluation of 500 images killed with SIGKILL part way resumes
// without recomputing what was done, and ends with the report of an uninterrupted run.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "evax/config/node_config.h"
#include "evax/storage/feedback_store.h"
#include "evax/storage/instance_index.h"
#include "evax/storage/job_queue.h"
#include "evax/storage/storage_backend.h"
#include "node_settings.h"
#include "process.h"
#include "synthetic_dicom.h"

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
using evax::testing::BackgroundProcess;
using evax::testing::run_command;

class Evaluate : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("evax_evaluate_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "images");
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // `count` distinct small grey PNGs, and labels.csv with a deterministic mix of 0 and 1.
  void make_set(int count) {
    std::ofstream labels(dir_ / "labels.csv");
    labels << "file,Atelectasis,Cardiomegaly,Effusion\n";
    for (int i = 0; i < count; ++i) {
      cv::Mat image(48, 40, CV_8UC1);
      for (int y = 0; y < image.rows; ++y)
        for (int x = 0; x < image.cols; ++x)
          image.at<std::uint8_t>(y, x) = static_cast<std::uint8_t>((x * (3 + i % 7) + y * (5 + i % 11) + i * 37 + (x * y) % (i + 2)) & 0xFF);
      const std::string name = "img" + std::to_string(i) + ".png";
      ASSERT_TRUE(cv::imwrite((dir_ / "images" / name).string(), image));
      const unsigned bits = static_cast<unsigned>(i) * 2654435761u;
      labels << name << "," << ((bits >> 7) & 1) << "," << ((bits >> 13) & 1) << "," << ((bits >> 21) & 1) << "\n";
    }
  }

  // The command's arguments; the input size is kept small (64: a 4 x 4 patch grid) so that 500
  // images take seconds.
  std::vector<std::string> arguments(const std::string& out, const std::string& extra = "") const {
    std::vector<std::string> argv{EVAX_NODE_BINARY, "evaluate", "--checkpoint", "demo:tiny", "--device", "cpu", "--input-size", "64",
                                  "--batch", "10", "--labels", (dir_ / "labels.csv").string(), "--format", "csv",
                                  "--images", (dir_ / "images").string(), "--out", (dir_ / out).string(),
                                  "--target-sensitivity", "0.9"};
    std::istringstream words(extra);
    for (std::string word; words >> word;) argv.push_back(word);
    return argv;
  }
  static std::string shell(const std::vector<std::string>& argv) {
    std::string command;
    for (const auto& a : argv) command += "'" + a + "' ";
    return command;
  }

  // Complete records in a score cache folder (its one file; the header line not counted).
  static int cached_records(const fs::path& folder) {
    int records = 0;
    if (!fs::is_directory(folder)) return 0;
    for (const auto& entry : fs::directory_iterator(folder)) {
      const std::string text = read(entry.path());
      records += std::max(0, static_cast<int>(std::count(text.begin(), text.end(), '\n')) - 1);
    }
    return records;
  }

  fs::path dir_;
};

TEST_F(Evaluate, AKilledRunOfFiveHundredImagesResumesWithoutRecomputingAndEndsWithTheSameReport) {
  make_set(500);

  // The reference: one uninterrupted run.
  const auto whole = run_command(shell(arguments("whole", "--write-operating-points " + (dir_ / "points.json").string())) + " 2>/dev/null");
  ASSERT_EQ(whole.status, 0) << whole.output;
  const json whole_summary = json::parse(whole.output);
  EXPECT_EQ(whole_summary["computed"], 500);
  EXPECT_EQ(whole_summary["from_cache"], 0);
  EXPECT_EQ(cached_records(dir_ / "whole" / "cache"), 500);

  // The same evaluation, killed with SIGKILL once part of it is cached.
  BackgroundProcess first;
  first.start(arguments("resumed"), (dir_ / "first.log").string());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (cached_records(dir_ / "resumed" / "cache") < 120 && first.running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  first.signal(SIGKILL);
  EXPECT_EQ(first.wait(std::chrono::seconds(10)), -1) << "the first run ended by itself: " << read(dir_ / "first.log");
  const int done_before_kill = cached_records(dir_ / "resumed" / "cache");
  ASSERT_GE(done_before_kill, 120);
  ASSERT_LT(done_before_kill, 500) << "killed too late to show anything";
  EXPECT_FALSE(fs::exists(dir_ / "resumed" / "report.json"));

  // The rerun computes only the rest.
  const auto second = run_command(shell(arguments("resumed")) + " 2>" + (dir_ / "second.log").string());
  ASSERT_EQ(second.status, 0) << read(dir_ / "second.log");
  const json summary = json::parse(second.output);
  EXPECT_EQ(summary["from_cache"], done_before_kill);
  EXPECT_EQ(summary["computed"], 500 - done_before_kill);
  EXPECT_EQ(cached_records(dir_ / "resumed" / "cache"), 500);  // nothing scored twice
  const std::string log = read(dir_ / "second.log");
  EXPECT_NE(log.find(std::to_string(done_before_kill) + " scores kept by earlier runs"), std::string::npos) << log;
  EXPECT_NE(log.find("evaluate: 500/500 images (100%)"), std::string::npos) << log;

  // Same scores, same report as the uninterrupted run.
  EXPECT_EQ(read(dir_ / "resumed" / "scores.csv"), read(dir_ / "whole" / "scores.csv"));
  const std::string report = read(dir_ / "resumed" / "report.json");
  ASSERT_FALSE(report.empty());
  EXPECT_EQ(report, read(dir_ / "whole" / "report.json"));
  EXPECT_EQ(json::parse(report)["findings"].size(), 3u);
  EXPECT_NE(read(dir_ / "resumed" / "report.html").find("<svg"), std::string::npos);

  // The recommended operating points, merged into a config, pass check-config.
  const json points = json::parse(read(dir_ / "points.json"));
  ASSERT_TRUE(points["reporting"]["operating_points"].is_object()) << points.dump();
  EXPECT_FALSE(points["reporting"]["operating_points"].empty()) << points.dump();
  fs::create_directories(dir_ / "data");
  json config{{"storage", {{"data_dir", (dir_ / "data").string()}}}, {"reporting", points["reporting"]}};
  std::ofstream(dir_ / "config.json") << config.dump(2);
  const auto checked = run_command(std::string(EVAX_NODE_BINARY) + " check-config " + (dir_ / "config.json").string());
  EXPECT_EQ(checked.status, 0) << checked.output;
  EXPECT_NE(checked.output.find(": valid;"), std::string::npos) << checked.output;
  // The same check refuses a fragment with a label no head has: it did look at the points.
  config["reporting"]["operating_points"]["NotAFinding"] = 0.5;
  std::ofstream(dir_ / "config.json") << config.dump(2);
  const auto refused = run_command(std::string(EVAX_NODE_BINARY) + " check-config " + (dir_ / "config.json").string());
  EXPECT_EQ(refused.status, 1) << refused.output;
  EXPECT_NE(refused.output.find("reporting.operating_points.NotAFinding"), std::string::npos) << refused.output;
}

TEST_F(Evaluate, SigtermStopsAfterTheBatchInFlightKeepingItsScores) {
  make_set(60);
  BackgroundProcess run;
  run.start(arguments("out", "--batch 2"), (dir_ / "run.log").string());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (cached_records(dir_ / "out" / "cache") < 4 && run.running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  run.signal(SIGTERM);
  EXPECT_EQ(run.wait(std::chrono::seconds(30)), 130) << read(dir_ / "run.log");
  const int kept = cached_records(dir_ / "out" / "cache");
  EXPECT_GE(kept, 4);
  EXPECT_LT(kept, 60);
  EXPECT_EQ(kept % 2, 0) << "a batch was cut in the middle";
  EXPECT_NE(read(dir_ / "run.log").find("run the same command again to continue"), std::string::npos) << read(dir_ / "run.log");
  EXPECT_FALSE(fs::exists(dir_ / "out" / "report.json"));
  const auto rerun = run_command(shell(arguments("out", "--batch 2")) + " 2>/dev/null");
  ASSERT_EQ(rerun.status, 0) << rerun.output;
  EXPECT_EQ(json::parse(rerun.output)["from_cache"], kept);
  EXPECT_EQ(json::parse(rerun.output)["computed"], 60 - kept);
}

TEST_F(Evaluate, ScoresReachTheRightImagesAndLabels) {
  // Labels made from the demo model's own scores: Cardiomegaly positive above the median score
  // must give an AUROC of exactly 1, Effusion positive below it exactly 0.
  make_set(40);
  const auto first = run_command(shell(arguments("first")) + " 2>/dev/null");
  ASSERT_EQ(first.status, 0) << first.output;
  std::istringstream scores(read(dir_ / "first" / "scores.csv"));
  std::string line;
  std::getline(scores, line);
  ASSERT_EQ(line.rfind("file,Atelectasis,Cardiomegaly,Effusion,", 0), 0u) << line;
  std::vector<std::string> names;
  std::vector<double> cardiomegaly, effusion;  // columns 2 and 3 of scores.csv
  while (std::getline(scores, line)) {
    std::vector<std::string> fields;
    std::istringstream row(line);
    for (std::string field; std::getline(row, field, ',');) fields.push_back(field);
    names.push_back(fields[0]);
    cardiomegaly.push_back(std::stod(fields[2]));
    effusion.push_back(std::stod(fields[3]));
  }
  ASSERT_EQ(names.size(), 40u);
  auto median = [](std::vector<double> values) {
    std::sort(values.begin(), values.end());
    EXPECT_LT(values[19], values[20]) << "the demo model gave tied scores; choose other images";
    return (values[19] + values[20]) / 2;
  };
  const double cardiomegaly_median = median(cardiomegaly), effusion_median = median(effusion);
  std::ofstream labels(dir_ / "labels.csv");
  labels << "file,Cardiomegaly,Effusion\n";
  for (std::size_t i = 0; i < names.size(); ++i)
    labels << names[i] << "," << (cardiomegaly[i] > cardiomegaly_median) << "," << (effusion[i] < effusion_median) << "\n";
  labels.close();

  const auto second = run_command(shell(arguments("first")) + " 2>/dev/null");
  ASSERT_EQ(second.status, 0) << second.output;
  EXPECT_EQ(json::parse(second.output)["computed"], 0);  // all from the first run's cache
  const json report = json::parse(read(dir_ / "first" / "report.json"));
  ASSERT_EQ(report["findings"].size(), 2u);
  EXPECT_EQ(report["findings"][0]["label"], "Cardiomegaly");
  EXPECT_EQ(report["findings"][0]["auroc"], 1.0);
  EXPECT_EQ(report["findings"][1]["label"], "Effusion");
  EXPECT_EQ(report["findings"][1]["auroc"], 0.0);
  EXPECT_EQ(report["findings"][0]["positives"], 20);
}

TEST_F(Evaluate, TheNodesStoredImagesAreEvaluatedBySopInstanceUidThroughItsDatabase) {
  // A node's data folder with four stored chest images in two studies, each study a job, made
  // through the storage interfaces as the DICOM receiver and the assembler make them.
  const json node_config{{"storage", {{"data_dir", (dir_ / "data").string()}}},
                         {"model", {{"classifier", {{"checkpoint", "demo:tiny"}}}, {"device", "cpu"}}}};
  std::ofstream(dir_ / "node.json") << node_config.dump(2);
  auto config = evax::config::load_config_file((dir_ / "node.json").string());
  ASSERT_TRUE(config);
  std::vector<std::string> uids;
  {
    const evax::storage::FileStore files = evax::app::node_files(*config);
    const auto backend = evax::storage::make_storage_backend(evax::app::backend_settings(*config), files);
    const auto index = backend->open_instance_index();
    for (int i = 0; i < 4; ++i) {
      evax::testing::SyntheticImage image;
      image.study_uid = i < 2 ? "1.2.826.0.1.3680043.9.7.1" : "1.2.826.0.1.3680043.9.7.2";
      image.width = 40 + i;
      evax::storage::StoreRequest request;
      request.temp_path = files.new_temp_path();
      uids.push_back(evax::testing::write_synthetic_dicom(request.temp_path, image));
      request.attributes.sop_instance_uid = uids.back();
      request.attributes.study_instance_uid = image.study_uid;
      request.attributes.sop_class_uid = image.sop_class_uid;
      request.attributes.modality = "DX";
      ASSERT_EQ(index->store(request).outcome, evax::storage::StoreOutcome::stored);
    }
    const auto queue = backend->open_job_queue();
    for (const auto& study : queue->studies_awaiting_analysis()) queue->enqueue(study);
  }
  std::ofstream(dir_ / "labels.csv") << "sop_instance_uid,Cardiomegaly,Effusion\n"
                                     << uids[0] << ",1,0\n" << uids[1] << ",0,1\n" << uids[2] << ",1,\n" << uids[3] << ",0,1\n";
  const std::string base = std::string(EVAX_NODE_BINARY) + " evaluate --config " + (dir_ / "node.json").string() +
                           " --labels " + (dir_ / "labels.csv").string() + " --format csv --out " + (dir_ / "out").string();
  const auto stored = run_command(base + " --stored --from 2000-01-01 --to 2100-01-01 2>/dev/null");
  ASSERT_EQ(stored.status, 0) << stored.output;
  EXPECT_EQ(json::parse(stored.output)["computed"], 4);
  const json report = json::parse(read(dir_ / "out" / "report.json"));
  ASSERT_EQ(report["findings"].size(), 2u);
  EXPECT_EQ(report["findings"][0]["cases"], 4);
  EXPECT_EQ(report["findings"][1]["cases"], 3);  // the blank label is left out

  // A window that holds none of them names what is missing.
  const auto empty = run_command(base + " --stored --from 2000-01-01 --to 2000-01-02");
  EXPECT_EQ(empty.status, 2);
  EXPECT_NE(empty.output.find("4 of 4 labelled SOP Instance UIDs are not stored"), std::string::npos) << empty.output;
}

TEST_F(Evaluate, RadiologistFeedbackOnStoredImagesIsTheLabelSourceOfFormatFeedback) {
  // Five stored chest images in two studies, each study a job, and radiologists' verdicts recorded
  // through the FeedbackStore as POST /api/v1/jobs/{id}/feedback records them: on four of the
  // images, one verdict overruled by a later review, one on an image the node never stored.
  const json node_config{{"storage", {{"data_dir", (dir_ / "data").string()}}},
                         {"model", {{"classifier", {{"checkpoint", "demo:tiny"}}}, {"device", "cpu"}}}};
  std::ofstream(dir_ / "node.json") << node_config.dump(2);
  auto config = evax::config::load_config_file((dir_ / "node.json").string());
  ASSERT_TRUE(config);
  const std::string study_a = "1.2.826.0.1.3680043.9.8.1", study_b = "1.2.826.0.1.3680043.9.8.2";
  const std::string never_stored = "1.2.826.0.1.3680043.9.8.99";
  std::vector<std::string> uids;
  {
    const evax::storage::FileStore files = evax::app::node_files(*config);
    const auto backend = evax::storage::make_storage_backend(evax::app::backend_settings(*config), files);
    const auto index = backend->open_instance_index();
    for (int i = 0; i < 5; ++i) {
      evax::testing::SyntheticImage image;
      image.study_uid = i < 3 ? study_a : study_b;
      image.width = 40 + i;
      evax::storage::StoreRequest request;
      request.temp_path = files.new_temp_path();
      uids.push_back(evax::testing::write_synthetic_dicom(request.temp_path, image));
      request.attributes.sop_instance_uid = uids.back();
      request.attributes.study_instance_uid = image.study_uid;
      request.attributes.sop_class_uid = image.sop_class_uid;
      request.attributes.modality = "DX";
      ASSERT_EQ(index->store(request).outcome, evax::storage::StoreOutcome::stored);
    }
    const auto queue = backend->open_job_queue();
    std::map<std::string, std::int64_t> job_of_study;
    for (const auto& study : queue->studies_awaiting_analysis()) job_of_study[study.study_instance_uid] = queue->enqueue(study);
    ASSERT_EQ(job_of_study.size(), 2u);
    auto item = [](const std::string& uid, const std::string& label, const std::string& verdict, int value) {
      evax::storage::FeedbackItem i;
      i.sop_instance_uid = uid;
      i.label = label;
      i.verdict = verdict;
      i.value = value;
      if (verdict == "agree" || verdict == "disagree") {  // about the node's call (present, at 0.7 over 0.5)
        i.probability = 0.7;
        i.operating_point = 0.5;
      }
      return i;
    };
    auto review = [&](const std::string& study, const std::string& reviewer, std::vector<evax::storage::FeedbackItem> items) {
      evax::storage::Feedback feedback;
      feedback.job_id = job_of_study.at(study);
      feedback.reviewer = reviewer;
      feedback.items = std::move(items);
      return feedback;
    };
    const auto store = backend->open_feedback_store();
    store->record(review(study_a, "dr-a", {item(uids[0], "Cardiomegaly", "agree", 1), item(uids[0], "Effusion", "disagree", 0),
                                           item(uids[1], "Cardiomegaly", "absent", 0), item(uids[2], "Cardiomegaly", "present", 1)}));
    store->record(review(study_b, "dr-a", {item(uids[3], "Effusion", "present", 1), item(never_stored, "Effusion", "present", 1)}));
    store->record(review(study_a, "dr-b", {item(uids[2], "Cardiomegaly", "absent", 0)}));  // overrules dr-a: the newest wins
  }

  // Labels: Cardiomegaly 1 (uids[0]), 0 (uids[1]), 0 (uids[2], overruled); Effusion 0 (uids[0]),
  // 1 (uids[3]); uids[4] has no verdict and is not evaluated.
  const std::string base = std::string(EVAX_NODE_BINARY) + " evaluate --config " + (dir_ / "node.json").string() +
                           " --format feedback --out " + (dir_ / "out").string();
  const auto run = run_command(base + " --stored --from 2000-01-01 --to 2100-01-01 2>" + (dir_ / "run.log").string());
  ASSERT_EQ(run.status, 0) << run.output << read(dir_ / "run.log");
  const json summary = json::parse(run.output);
  EXPECT_EQ(summary["computed"], 4);
  EXPECT_EQ(summary["images"], 4);
  EXPECT_NE(read(dir_ / "run.log").find("1 images with feedback are left out: not stored"), std::string::npos) << read(dir_ / "run.log");
  const json report = json::parse(read(dir_ / "out" / "report.json"));
  ASSERT_EQ(report["findings"].size(), 2u) << report.dump();
  EXPECT_EQ(report["findings"][0]["label"], "Cardiomegaly");
  EXPECT_EQ(report["findings"][0]["cases"], 3);
  EXPECT_EQ(report["findings"][0]["positives"], 1);
  EXPECT_EQ(report["findings"][0]["negatives"], 2);
  EXPECT_DOUBLE_EQ(report["findings"][0]["prevalence"].get<double>(), 1.0 / 3.0);
  EXPECT_EQ(report["findings"][1]["label"], "Effusion");
  EXPECT_EQ(report["findings"][1]["cases"], 2);
  EXPECT_EQ(report["findings"][1]["positives"], 1);
  EXPECT_DOUBLE_EQ(report["findings"][1]["prevalence"].get<double>(), 0.5);
  EXPECT_EQ(report["dataset"]["images"], 4);
  const std::string scores = read(dir_ / "out" / "scores.csv");
  EXPECT_EQ(scores.rfind("sop_instance_uid,", 0), 0u) << scores;
  for (int i = 0; i < 4; ++i) EXPECT_NE(scores.find(uids[i] + ","), std::string::npos) << uids[i];
  EXPECT_EQ(scores.find(uids[4] + ","), std::string::npos) << "an image without feedback was evaluated";

  // --from/--to are optional (all stored images); a window with none of them says so.
  const auto all = run_command(base + " 2>/dev/null");
  ASSERT_EQ(all.status, 0) << all.output;
  EXPECT_EQ(json::parse(all.output)["from_cache"], 4);
  const auto empty = run_command(base + " --from 2000-01-01 --to 2000-01-02");
  EXPECT_EQ(empty.status, 2);
  EXPECT_NE(empty.output.find("no stored image in studies received from 2000-01-01 to 2000-01-02 has radiologist feedback"),
            std::string::npos)
      << empty.output;
  // The feedback is the labels: a labels file or a folder of images with it is refused.
  const auto with_labels = run_command(base + " --labels " + (dir_ / "node.json").string());
  EXPECT_EQ(with_labels.status, 2);
  EXPECT_NE(with_labels.output.find("--format feedback takes the labels from the node's feedback store"), std::string::npos)
      << with_labels.output;
  const auto without_config =
      run_command(std::string(EVAX_NODE_BINARY) + " evaluate --checkpoint demo:tiny --format feedback --out " + (dir_ / "out").string());
  EXPECT_EQ(without_config.status, 2);
  EXPECT_NE(without_config.output.find("--format feedback reads the node's database: it needs --config"), std::string::npos)
      << without_config.output;
}

TEST_F(Evaluate, BadInputGetsAClearErrorBeforeTheModelRuns) {
  make_set(3);
  auto run = [&](const std::string& labels_text, const std::string& extra) {
    std::ofstream(dir_ / "labels.csv") << labels_text;
    return run_command(shell(arguments("out", extra)));
  };
  auto bad_value = run("file,Effusion\nimg0.png,2\n", "");
  EXPECT_EQ(bad_value.status, 2);
  EXPECT_NE(bad_value.output.find("labels.csv: line 2: Effusion: '2' is not 1, 0 or blank"), std::string::npos) << bad_value.output;
  auto missing = run("file,Effusion\nimg0.png,1\nimg9.png,0\n", "");
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.output.find("for 1 of 2 labelled images: img9.png"), std::string::npos) << missing.output;
  auto no_shared_label = run("file,Fracture\nimg0.png,1\n", "");
  EXPECT_EQ(no_shared_label.status, 2);
  EXPECT_NE(no_shared_label.output.find("no label of the dataset is a finding of the model"), std::string::npos) << no_shared_label.output;
  auto stored_without_config = run("file,Effusion\nimg0.png,1\n", "--stored --from 2026-01-01 --to 2026-02-01");
  EXPECT_EQ(stored_without_config.status, 2);
  EXPECT_NE(stored_without_config.output.find("give the images by --images DIR or by --stored"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "out" / "report.json"));
}

}  // namespace
