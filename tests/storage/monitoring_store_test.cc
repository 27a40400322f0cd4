// What drift monitoring and radiologist feedback read and write, on every backend: each
// finding's probabilities by arrival window (the newest analysis of an image counting once),
// the intake's skipped images by reason and sending AE, and feedback stored, read back per job
// and as labels (the newest verdict winning).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "evax/logging/logger.h"
#include "evax/storage/storage_backend.h"
#include "storage_backends.h"

namespace evax::storage {
namespace {

namespace fs = std::filesystem;

class MonitoringStore : public ::testing::TestWithParam<BackendUnderTest> {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/evax-monitoring-test-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    files_ = std::make_unique<FileStore>((dir_ / "data").string());
    backend_ = GetParam().make(*files_, 0);
    store_ = backend_->open_instance_index();
    jobs_ = backend_->open_job_queue();
    read_ = backend_->open_read_model();
    feedback_ = backend_->open_feedback_store();
  }
  void TearDown() override {
    feedback_.reset();
    read_.reset();
    jobs_.reset();
    store_.reset();
    backend_.reset();
    files_.reset();
    fs::remove_all(dir_);
  }

  std::int64_t store(const std::string& sop, const std::string& study, const std::string& calling_ae = "PACS") {
    const std::string temp = files_->new_temp_path();
    std::ofstream(temp) << "DICM-ish bytes " << sop;
    StoreRequest r;
    r.attributes.sop_class_uid = "1.2.840.10008.5.1.4.1.1.1.1";
    r.attributes.sop_instance_uid = sop;
    r.attributes.study_instance_uid = study;
    r.attributes.series_instance_uid = "1.2.3";
    r.attributes.modality = "DX";
    r.from = {calling_ae, "127.0.0.1"};
    r.temp_path = temp;
    const auto stored = store_->store(r);
    EXPECT_EQ(stored.outcome, StoreOutcome::stored) << stored.detail;
    return stored.instance_id;
  }

  static results::ImageResult analysed(std::int64_t instance_id, const std::string& sop, double effusion, double mass) {
    results::ImageAnalysis analysis;
    analysis.provenance = {"EVA-X-Ti", "cxr14", true, ""};
    analysis.findings = {{"Effusion", effusion, std::nullopt}, {"Mass", mass, std::nullopt}};
    return {instance_id, sop, "analysed", "", "", analysis};
  }

  // Runs the next job of the queue to done with `images`.
  std::int64_t finish_next_job(const std::vector<results::ImageResult>& images) {
    const std::int64_t job_id = jobs_->enqueue(jobs_->studies_awaiting_analysis().at(0));
    EXPECT_TRUE(jobs_->claim_next({}));
    std::vector<JobImage> rows;
    for (const auto& image : images) rows.push_back({job_id, image});
    jobs_->finish(job_id, JobState::done, "", rows);
    return job_id;
  }

  fs::path dir_;
  std::unique_ptr<FileStore> files_;
  std::unique_ptr<StorageBackend> backend_;
  std::unique_ptr<InstanceIndex> store_;
  std::unique_ptr<JobQueue> jobs_;
  std::unique_ptr<ReadModel> read_;
  std::unique_ptr<FeedbackStore> feedback_;
};

TEST_P(MonitoringStore, FindingProbabilitiesByArrivalWindowAndSkippedImagesByReasonAndAe) {
  const std::string before = logging::utc_now_iso();
  const auto a = store("1.2.9.1", "1.2.9");
  const auto b = store("1.2.9.2", "1.2.9", "MODALITY_B");
  const auto c = store("1.2.9.3", "1.2.9", "MODALITY_B");
  finish_next_job({analysed(a, "1.2.9.1", 0.25, 0.5), {b, "1.2.9.2", "skipped", "lateral-view", "ViewPosition LL", std::nullopt},
                   {c, "1.2.9.3", "skipped", "not-chest", "BodyPartExamined HAND", std::nullopt}});

  auto window = read_->finding_probabilities(before, "9999");
  EXPECT_EQ(window["Effusion"], (std::vector<double>{0.25}));
  EXPECT_EQ(window["Mass"], (std::vector<double>{0.5}));
  // A window that ends before the arrivals, and one that starts after them, hold nothing.
  EXPECT_TRUE(read_->finding_probabilities("2000-01-01", before).empty());
  EXPECT_TRUE(read_->finding_probabilities("9998", "9999").empty());

  const auto stats = read_->statistics();
  const std::map<std::pair<std::string, std::string>, std::int64_t> skipped{{{"lateral-view", "MODALITY_B"}, 1},
                                                                             {{"not-chest", "MODALITY_B"}, 1}};
  EXPECT_EQ(stats.skipped_images, skipped);

  // A second image in the study re-analyses it: the first image now has two analyses, and only
  // the newest one counts.
  const auto d = store("1.2.9.4", "1.2.9");
  finish_next_job({analysed(a, "1.2.9.1", 0.75, 0.5), analysed(d, "1.2.9.4", 0.125, 1.0)});
  window = read_->finding_probabilities(before, "9999");
  std::sort(window["Effusion"].begin(), window["Effusion"].end());
  EXPECT_EQ(window["Effusion"], (std::vector<double>{0.125, 0.75}));
  EXPECT_EQ(window["Mass"].size(), 2u);
}

TEST_P(MonitoringStore, FeedbackIsStoredReadBackPerJobAndGivesLabelsTheNewestWinning) {
  const auto a = store("1.2.8.1", "1.2.8");
  const auto job_id = finish_next_job({analysed(a, "1.2.8.1", 0.25, 0.75)});

  Feedback first;
  first.job_id = job_id;
  first.reviewer = "dr-a";
  first.comment = "looks right";
  first.items = {{"1.2.8.1", "Effusion", "agree", 0.25, 0.5, 0}, {"1.2.8.1", "Mass", "present", std::nullopt, std::nullopt, 1}};
  const Feedback stored = feedback_->record(first);
  EXPECT_GT(stored.id, 0);
  EXPECT_FALSE(stored.created_at.empty());

  Feedback second;
  second.job_id = job_id;
  second.reviewer = "dr-b";
  second.items = {{"1.2.8.1", "Effusion", "disagree", 0.25, 0.5, 1}};
  feedback_->record(second);

  const auto of_job = feedback_->of_job(job_id);
  ASSERT_EQ(of_job.size(), 2u);
  EXPECT_EQ(of_job[0].reviewer, "dr-a");
  EXPECT_EQ(of_job[0].comment, "looks right");
  ASSERT_EQ(of_job[0].items.size(), 2u);
  EXPECT_EQ(of_job[0].items[0].label, "Effusion");
  EXPECT_EQ(of_job[0].items[0].verdict, "agree");
  EXPECT_EQ(of_job[0].items[0].probability, 0.25);
  EXPECT_EQ(of_job[0].items[0].operating_point, 0.5);
  EXPECT_EQ(of_job[0].items[1].verdict, "present");
  EXPECT_FALSE(of_job[0].items[1].probability);
  EXPECT_EQ(of_job[1].reviewer, "dr-b");
  EXPECT_TRUE(feedback_->of_job(job_id + 1).empty());

  const auto labels = feedback_->labels_from_feedback();
  ASSERT_EQ(labels.size(), 1u);
  EXPECT_EQ(labels.at("1.2.8.1").at("Effusion"), 1);  // dr-b's, the newer
  EXPECT_EQ(labels.at("1.2.8.1").at("Mass"), 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, MonitoringStore, ::testing::ValuesIn(backends_under_test()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace evax::storage
