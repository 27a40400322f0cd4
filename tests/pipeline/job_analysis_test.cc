// JobAnalysis driven without threads, database or model: fakes behind the production
// interfaces (JobQueue, ImageDecoder, ImageModel, OutputBuilder) and a real FileStore in a
// temporary directory.
#include "evax/pipeline/job_analysis.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <stdexcept>

namespace evax::pipeline {
namespace {

namespace fs = std::filesystem;
using storage::JobState;

storage::Instance chest_instance(std::int64_t id, const std::string& path, const std::string& view = "PA") {
  storage::Instance i;
  i.id = id;
  i.file_path = path;
  i.attributes.sop_class_uid = std::string(dicom_node::kDxForPresentation);
  i.attributes.sop_instance_uid = "1.2.3." + std::to_string(id);
  i.attributes.modality = "DX";
  i.attributes.body_part_examined = "CHEST";
  i.attributes.view_position = view;
  return i;
}

class FakeJobQueue final : public storage::JobQueue {
 public:
  std::vector<storage::Instance> instances;
  bool commit_fails = false;  // finish_with_outputs: the database is unreachable
  int inferred = 0;
  std::optional<JobState> finished_state;
  std::string finished_reason;
  std::vector<storage::JobImage> committed_images;
  std::vector<storage::Output> committed_outputs;

  std::vector<storage::PendingStudy> studies_awaiting_analysis() override { return {}; }
  std::vector<storage::PendingStudy> studies_awaiting_analysis(const std::vector<std::int64_t>&) override { return {}; }
  std::vector<storage::PendingStudy> studies_quiet_for(std::chrono::milliseconds) override { return {}; }
  LateEnqueue enqueue(const storage::PendingStudy&, const SkipReason&) override { return {}; }
  std::optional<storage::Job> claim_next(const std::set<std::int64_t>&) override { return std::nullopt; }
  int requeue_running(const std::set<std::int64_t>&) override { return 0; }
  int take_over_from_silent_nodes(int) override { return 0; }
  std::vector<storage::Instance> instances_for(const storage::Job&) override { return instances; }
  void mark_inferred(std::int64_t) override { ++inferred; }
  void finish(std::int64_t, JobState state, const std::string& reason, const std::vector<storage::JobImage>& images) override {
    finished_state = state;
    finished_reason = reason;
    committed_images = images;
  }
  void finish_with_outputs(std::int64_t, const std::vector<storage::JobImage>& images, const std::vector<storage::Output>& outputs,
                           const std::vector<storage::DeliveryRoute>&) override {
    if (commit_fails) throw std::runtime_error("database unreachable");
    finished_state = JobState::done;
    committed_images = images;
    committed_outputs = outputs;
  }
  std::optional<storage::Output> previous_report(const storage::Job&) override { return std::nullopt; }
  void retry_later(std::int64_t, const std::string&, const std::string&) override {}
  storage::ActionResult retry(std::int64_t) override { return storage::ActionResult::not_found; }
  storage::ActionResult cancel(std::int64_t, const std::string&) override { return storage::ActionResult::not_found; }
};

class FakeDecoder final : public ImageDecoder {
 public:
  std::expected<dicom_node::DecodedPixels, std::string> decode(const std::string& path) const override {
    if (path.find("corrupt") != std::string::npos) return std::unexpected("no pixel data");
    dicom_node::DecodedPixels d;
    d.width = 4;
    d.height = 4;
    d.pixels.assign(16, 128);
    return d;
  }
};

class FakeModel final : public ImageModel {
 public:
  std::optional<std::string> failure;
  std::vector<inference::ClassifyRequest> requests;
  std::future<inference::BatchingClassifier::Outcome> submit(inference::ClassifyRequest request) override {
    requests.push_back(request);
    std::promise<inference::BatchingClassifier::Outcome> answer;
    if (failure) {
      answer.set_value(std::unexpected(*failure));
    } else {
      inference::ImageResult result;
      result.findings = {{"Effusion", 0.75, inference::CamMap{1, {0.5F}, {1.0F}}}, {"Mass", 0.25, std::nullopt}};
      result.features = {0.5F, 1.5F};
      result.geometry = {4, 4, 4, 4, 0, 0, 4};
      answer.set_value(std::move(result));
    }
    return answer.get_future();
  }
};

// Makes one small object per call, or fails; remembers the typed study it was given.
class FakeBuilder final : public OutputBuilder {
 public:
  FakeBuilder(std::string kind, bool fails) : kind_(std::move(kind)), fails_(fails) {}
  mutable std::vector<results::StudyResult> seen;
  mutable std::vector<std::size_t> built_before;
  std::string_view kind() const override { return kind_; }
  std::expected<std::vector<BuiltObject>, std::string> build(const OutputInput& input) const override {
    seen.push_back(input.study);
    built_before.push_back(input.built_before.size());
    if (fails_) return std::unexpected(kind_ + " cannot be built");
    reporting::DicomObject object{kind_, {"1.2.3", "1.2.3.100", "1.2.840.10008.5.1.4.1.1.88.33", "1.2.3.101." + kind_}, {1, 2, 3}};
    std::vector<BuiltObject> out;
    out.push_back({std::move(object), std::nullopt});
    return out;
  }

 private:
  std::string kind_;
  bool fails_;
};

class JobAnalysisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("evax-job-analysis-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    files_.emplace(dir_.string());
    job_.id = 7;
    job_.attempts = 1;
    job_.study_instance_uid = "1.2.3";
  }
  void TearDown() override { fs::remove_all(dir_); }

  JobOutcome analyse(bool features_task = false) {
    JobAnalysisSettings settings;
    settings.provenance = {"EVA-X-T", features_task ? "features" : "cxr14", true, "beef"};
    settings.features_task = features_task;
    settings.destinations = {{"pacs"}};
    settings.bookkeeping = {1, std::chrono::milliseconds(0)};
    JobAnalysis analysis(*files_, decoder_, model_, builders_, settings, log_);
    return analysis.analyse(jobs_, job_);
  }
  std::size_t files_in_outputs() const {
    std::size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "outputs")) n += e.is_regular_file() ? 1 : 0;
    return n;
  }
  FakeBuilder& add_builder(const std::string& kind, bool fails = false) {
    builders_.push_back(std::make_unique<FakeBuilder>(kind, fails));
    return static_cast<FakeBuilder&>(*builders_.back());
  }

  fs::path dir_;
  std::optional<storage::FileStore> files_;
  FakeJobQueue jobs_;
  FakeDecoder decoder_;
  FakeModel model_;
  std::vector<std::unique_ptr<OutputBuilder>> builders_;
  std::vector<std::string> log_lines_;
  logging::Logger log_{logging::Level::debug, logging::Logger::Format::text, [this](const std::string& l) { log_lines_.push_back(l); }};
  storage::Job job_;
};

TEST_F(JobAnalysisTest, AllImagesSkippedEndsSkippedWithEachReasonAndNoModelCall) {
  jobs_.instances = {chest_instance(1, "/a.dcm", "LL"), chest_instance(2, "/b.dcm", "")};
  auto& builder = add_builder("sr");
  const JobOutcome outcome = analyse();
  EXPECT_EQ(outcome.kind, JobOutcome::Kind::skipped);
  EXPECT_EQ(jobs_.finished_state, JobState::skipped);
  EXPECT_TRUE(jobs_.finished_reason.starts_with("no-analysable-image"));
  ASSERT_EQ(jobs_.committed_images.size(), 2u);
  EXPECT_EQ(jobs_.committed_images[0].result.reason_code, "lateral-view");
  EXPECT_EQ(jobs_.committed_images[1].result.reason_code, "view-unknown");
  EXPECT_TRUE(model_.requests.empty());
  EXPECT_TRUE(builder.seen.empty());
}

TEST_F(JobAnalysisTest, NoDecodableImageEndsFailedWithTheDecodeError) {
  jobs_.instances = {chest_instance(1, "/corrupt.dcm"), chest_instance(2, "")};
  const JobOutcome outcome = analyse();
  EXPECT_EQ(outcome.kind, JobOutcome::Kind::failed);
  EXPECT_EQ(jobs_.finished_state, JobState::failed);
  ASSERT_EQ(jobs_.committed_images.size(), 2u);
  EXPECT_EQ(jobs_.committed_images[0].result.reason_code, "decode-failed");
  EXPECT_EQ(jobs_.committed_images[0].result.detail, "no pixel data");
  EXPECT_EQ(jobs_.committed_images[1].result.reason_code, "file-purged");
  EXPECT_TRUE(model_.requests.empty());
}

TEST_F(JobAnalysisTest, InferenceFailureIsARetryThatCommitsNothing) {
  jobs_.instances = {chest_instance(1, "/a.dcm")};
  model_.failure = "CUDA out of memory";
  add_builder("sr");
  const JobOutcome outcome = analyse();
  EXPECT_EQ(outcome.kind, JobOutcome::Kind::retry);
  EXPECT_EQ(outcome.reason, "inference failed: CUDA out of memory");
  EXPECT_FALSE(jobs_.finished_state);
  EXPECT_EQ(jobs_.inferred, 0);
  EXPECT_EQ(files_in_outputs(), 0u);
}

TEST_F(JobAnalysisTest, ABuilderFailureRemovesTheObjectsAlreadyWritten) {
  jobs_.instances = {chest_instance(1, "/a.dcm")};
  add_builder("seg");
  add_builder("sr", true);
  const JobOutcome outcome = analyse();
  EXPECT_EQ(outcome.kind, JobOutcome::Kind::retry);
  EXPECT_EQ(outcome.reason, "sr cannot be built");
  EXPECT_FALSE(jobs_.finished_state);
  EXPECT_EQ(files_in_outputs(), 0u);
}

TEST_F(JobAnalysisTest, AnUnreachableDatabaseAtCommitIsARetryAndRemovesTheFiles) {
  jobs_.instances = {chest_instance(1, "/a.dcm")};
  add_builder("sr");
  jobs_.commit_fails = true;
  const JobOutcome outcome = analyse();
  EXPECT_EQ(outcome.kind, JobOutcome::Kind::retry);
  EXPECT_EQ(outcome.reason, "database unreachable");
  EXPECT_EQ(files_in_outputs(), 0u);
}

TEST_F(JobAnalysisTest, TheFeaturesTaskCommitsTheVectorsAndBuildsNothing) {
  jobs_.instances = {chest_instance(1, "/a.dcm")};
  auto& builder = add_builder("sr");
  const JobOutcome outcome = analyse(true);
  EXPECT_EQ(outcome.kind, JobOutcome::Kind::done);
  EXPECT_EQ(outcome.outputs, 0u);
  ASSERT_EQ(model_.requests.size(), 1u);
  EXPECT_EQ(model_.requests[0].cam_top_k, 0);  // no Grad-CAM for feature vectors
  EXPECT_TRUE(builder.seen.empty());
  EXPECT_TRUE(jobs_.committed_outputs.empty());
  ASSERT_EQ(jobs_.committed_images.size(), 1u);
  ASSERT_TRUE(jobs_.committed_images[0].result.analysis);
  EXPECT_EQ(jobs_.committed_images[0].result.analysis->features, (std::vector<float>{0.5F, 1.5F}));
  EXPECT_EQ(files_in_outputs(), 0u);
}

TEST_F(JobAnalysisTest, TheCommittedRecordsCarryTheModelsNumbersAndTheBuildersRunInOrder) {
  jobs_.instances = {chest_instance(1, "/a.dcm"), chest_instance(2, "/b.dcm", "LL")};
  auto& seg = add_builder("seg");
  auto& sr = add_builder("sr");
  const JobOutcome outcome = analyse();
  ASSERT_EQ(outcome.kind, JobOutcome::Kind::done) << outcome.reason;
  EXPECT_EQ(outcome.outputs, 2u);
  EXPECT_EQ(jobs_.inferred, 1);
  ASSERT_EQ(jobs_.committed_images.size(), 2u);
  const results::ImageResult& analysed = jobs_.committed_images[0].result;
  EXPECT_EQ(jobs_.committed_images[0].job_id, 7);
  EXPECT_EQ(analysed.decision, "analysed");
  ASSERT_TRUE(analysed.analysis);
  EXPECT_EQ(analysed.analysis->provenance.model, "EVA-X-T");
  EXPECT_EQ(analysed.analysis->provenance.checkpoint_digest, "beef");
  ASSERT_EQ(analysed.analysis->findings.size(), 2u);
  EXPECT_EQ(analysed.analysis->findings[0].label, "Effusion");
  EXPECT_DOUBLE_EQ(analysed.analysis->findings[0].probability, 0.75);
  ASSERT_TRUE(analysed.analysis->findings[0].cam);
  EXPECT_EQ(analysed.analysis->findings[0].cam->normalised, std::vector<float>{1.0F});
  EXPECT_FALSE(analysed.analysis->findings[1].cam);
  ASSERT_TRUE(analysed.analysis->crop);
  EXPECT_EQ(analysed.analysis->crop->crop_size, 4);
  EXPECT_TRUE(analysed.analysis->features.empty());
  EXPECT_EQ(jobs_.committed_images[1].result.decision, "skipped");
  EXPECT_FALSE(jobs_.committed_images[1].result.analysis);
  // Each builder got the same typed study, and saw the objects of those before it.
  ASSERT_EQ(sr.seen.size(), 1u);
  EXPECT_DOUBLE_EQ(sr.seen[0].images.at(0).analysis->findings.at(0).probability, 0.75);
  EXPECT_EQ(seg.built_before, std::vector<std::size_t>{0});
  EXPECT_EQ(sr.built_before, std::vector<std::size_t>{1});
  ASSERT_EQ(jobs_.committed_outputs.size(), 2u);
  EXPECT_EQ(jobs_.committed_outputs[0].kind, "seg");
  EXPECT_EQ(jobs_.committed_outputs[1].kind, "sr");
  EXPECT_EQ(files_in_outputs(), 2u);
}

}  // namespace
}  // namespace evax::pipeline
