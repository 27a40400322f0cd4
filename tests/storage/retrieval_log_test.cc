// The retrieval log's behaviour on every backend (StorageBehaviour's backends): retrievals
// claimed once each and queued again after a crash, a sweep written with its retrievals and
// its progress read from them, and which studies count as analysed by the running model.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "evax/storage/storage_backend.h"
#include "storage_backends.h"

namespace evax::storage {
namespace {

namespace fs = std::filesystem;

class RetrievalLogBehaviour : public ::testing::TestWithParam<BackendUnderTest> {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/evax-retrieval-test-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    files_ = std::make_unique<FileStore>((dir_ / "data").string());
    backend_ = GetParam().make(*files_, 0);
    log_ = backend_->open_retrieval_log();
  }
  void TearDown() override {
    log_.reset();
    backend_.reset();
    files_.reset();
    fs::remove_all(dir_);
  }

  static Retrieval queued(const std::string& study_uid) {
    Retrieval r;
    r.source = "pacs";
    r.method = "c-move";
    r.study_instance_uid = study_uid;
    r.accession_number = "ACC";
    r.requested_by = "ops";
    return r;
  }

  // A study with one instance and a job finished `state` whose image was analysed by `model`.
  void analysed_study(const std::string& study_uid, const results::Provenance& model, JobState state = JobState::done) {
    auto index = backend_->open_instance_index();
    auto jobs = backend_->open_job_queue();
    StoreRequest request;
    request.temp_path = files_->new_temp_path();
    std::ofstream(request.temp_path) << "DICM-ish";
    request.attributes.sop_class_uid = "1.2.840.10008.5.1.4.1.1.1.1";
    request.attributes.sop_instance_uid = study_uid + ".1";
    request.attributes.study_instance_uid = study_uid;
    request.attributes.series_instance_uid = study_uid + ".2";
    request.attributes.modality = "DX";
    request.from = {"PACS", "127.0.0.1"};
    const auto stored = index->store(request);
    const std::int64_t job_id = jobs->enqueue(jobs->studies_awaiting_analysis().at(0));
    if (state == JobState::queued) return;
    jobs->claim_next({});
    results::ImageAnalysis analysis;
    analysis.provenance = model;
    analysis.findings = {{"Effusion", 0.5, std::nullopt}};
    jobs->finish(job_id, state, "", {{job_id, {stored.instance_id, request.attributes.sop_instance_uid, "analysed", "", "", analysis}}});
  }

  fs::path dir_;
  std::unique_ptr<FileStore> files_;
  std::unique_ptr<StorageBackend> backend_;
  std::unique_ptr<RetrievalLog> log_;
};

TEST_P(RetrievalLogBehaviour, RetrievalsAreClaimedOnceOldestFirstAndQueuedAgainAfterACrash) {
  const std::int64_t first = log_->add_retrieval(queued("1.2.3.1"));
  const std::int64_t second = log_->add_retrieval(queued("1.2.3.2"));
  const auto a = log_->claim_next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->id, first);
  EXPECT_EQ(a->state, "running");
  EXPECT_EQ(a->attempts, 1);
  const auto b = log_->claim_next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->id, second);
  EXPECT_FALSE(log_->claim_next());

  log_->finish(first, true, 3, 1, 0, "C-MOVE answered 0xB000");
  const auto done = log_->retrieval(first);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, "done");
  EXPECT_EQ(done->completed, 3);
  EXPECT_EQ(done->failed, 1);
  EXPECT_EQ(done->detail, "C-MOVE answered 0xB000");
  EXPECT_EQ(done->requested_by, "ops");
  EXPECT_FALSE(done->started_at.empty());
  EXPECT_FALSE(done->finished_at.empty());
  EXPECT_FALSE(done->sweep_id);

  // The node stopped during the second: at the next start it is queued again, once.
  EXPECT_EQ(log_->requeue_running(), 1);
  EXPECT_EQ(log_->requeue_running(), 0);
  const auto again = log_->claim_next();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, second);
  EXPECT_EQ(again->attempts, 2);
  log_->finish(second, false, 0, 0, 0, "association rejected by ORTHANC");
  EXPECT_EQ(log_->retrieval(second)->state, "failed");

  const auto recent = log_->recent_retrievals(10);
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0].id, second);  // newest first
  EXPECT_FALSE(log_->retrieval(second + 100));
}

TEST_P(RetrievalLogBehaviour, ASweepIsWrittenWithItsRetrievalsAndItsProgressFollowsThem) {
  NewSweep sweep;
  sweep.sweep.source = "pacs";
  sweep.sweep.modalities = "CR\\DX";
  sweep.sweep.body_part = "CHEST";
  sweep.sweep.date_from = "20261101";
  sweep.sweep.max_studies = 10;
  sweep.sweep.found = 5;
  sweep.sweep.already_analysed = 2;
  sweep.sweep.requested_by = "ops";
  for (const char* uid : {"1.2.4.1", "1.2.4.2", "1.2.4.3"}) sweep.retrievals.push_back(queued(uid));
  const std::int64_t id = log_->add_sweep(sweep);

  auto s = log_->sweep(id);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->queued, 3);
  EXPECT_EQ(s->found, 5);
  EXPECT_EQ(s->already_analysed, 2);
  EXPECT_EQ(s->waiting, 3);
  EXPECT_EQ(s->state, "running");
  EXPECT_EQ(s->modalities, "CR\\DX");
  EXPECT_EQ(s->date_to, "");
  const auto studies = log_->retrievals_of_sweep(id);
  ASSERT_EQ(studies.size(), 3u);
  for (const auto& r : studies) EXPECT_EQ(r.sweep_id, id);

  for (int i = 0; i < 3; ++i) {
    const auto r = log_->claim_next();
    ASSERT_TRUE(r);
    log_->finish(r->id, i != 1, i == 1 ? 0 : 2, i == 1 ? 2 : 0, 0, "");
  }
  s = log_->sweep(id);
  EXPECT_EQ(s->state, "done");
  EXPECT_EQ(s->done, 2);
  EXPECT_EQ(s->failed, 1);
  EXPECT_EQ(s->waiting + s->running, 0);
  EXPECT_EQ(s->instances_retrieved, 4);
  EXPECT_EQ(s->instances_failed, 2);
  EXPECT_EQ(log_->recent_sweeps(5).size(), 1u);
  EXPECT_FALSE(log_->sweep(id + 1));
}

TEST_P(RetrievalLogBehaviour, AStudyCountsAsAnalysedOnlyByADoneJobOfTheSameModelAndCheckpoint) {
  const results::Provenance running{"EVA-X-S", "cxr14", false, "ab12"};
  analysed_study("1.2.5.1", running);                                        // analysed: skip
  analysed_study("1.2.5.2", {"EVA-X-S", "cxr14", false, "cd34"});            // another checkpoint
  analysed_study("1.2.5.3", {"EVA-X-S", "chexpert", false, "ab12"});         // another head
  analysed_study("1.2.5.5", running, JobState::failed);                      // failed
  // Last: claim_next takes the oldest queued job, so a queued one earlier would be claimed instead.
  analysed_study("1.2.5.4", running, JobState::queued);                      // not analysed yet
  EXPECT_EQ(log_->analysed_with({"1.2.5.1", "1.2.5.2", "1.2.5.3", "1.2.5.4", "1.2.5.5", "1.2.5.6"}, running),
            std::vector<std::string>{"1.2.5.1"});
  EXPECT_TRUE(log_->analysed_with({}, running).empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, RetrievalLogBehaviour, ::testing::ValuesIn(backends_under_test()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace evax::storage
