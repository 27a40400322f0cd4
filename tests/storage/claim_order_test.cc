// Priority in the job queue, on every backend: a study takes the highest priority of its
// instances, its job takes the study's, and workers claim by priority (stat, high, routine),
// first queued first within one; the read model lists the queue in that same order and counts
// it by priority.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "evax/storage/storage_backend.h"
#include "storage_backends.h"

namespace evax::storage {
namespace {

namespace fs = std::filesystem;

class ClaimOrder : public ::testing::TestWithParam<BackendUnderTest> {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/evax-claim-order-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    files_ = std::make_unique<FileStore>((dir_ / "data").string());
    backend_ = GetParam().make(*files_, 0);
    store_ = backend_->open_instance_index();
    jobs_ = backend_->open_job_queue();
    read_ = backend_->open_read_model();
  }
  void TearDown() override {
    read_.reset();
    jobs_.reset();
    store_.reset();
    backend_.reset();
    files_.reset();
    fs::remove_all(dir_);
  }

  // Stores one instance of `study` with `priority`; returns its study id.
  std::int64_t receive(const std::string& sop, const std::string& study, Priority priority) {
    const std::string temp = files_->new_temp_path();
    std::ofstream(temp) << "DICM-ish bytes";
    StoreRequest r;
    r.attributes.sop_class_uid = "1.2.840.10008.5.1.4.1.1.1.1";
    r.attributes.sop_instance_uid = sop;
    r.attributes.study_instance_uid = study;
    r.attributes.series_instance_uid = study + ".1";
    r.attributes.modality = "DX";
    r.attributes.priority = priority;
    r.from = {"PACS", "127.0.0.1"};
    r.temp_path = temp;
    const auto result = store_->store(r);
    EXPECT_EQ(result.outcome, StoreOutcome::stored);
    return result.study_id;
  }

  // Queues the study's instances received so far; returns the job id.
  std::int64_t enqueue(std::int64_t study_id) {
    for (const auto& pending : jobs_->studies_awaiting_analysis({study_id})) return jobs_->enqueue(pending);
    ADD_FAILURE() << "study " << study_id << " has nothing to queue";
    return 0;
  }

  fs::path dir_;
  std::unique_ptr<FileStore> files_;
  std::unique_ptr<StorageBackend> backend_;
  std::unique_ptr<InstanceIndex> store_;
  std::unique_ptr<JobQueue> jobs_;
  std::unique_ptr<ReadModel> read_;
};

TEST_P(ClaimOrder, StatThenHighThenRoutineAndFirstQueuedFirstWithinEach) {
  const auto r1 = enqueue(receive("1.9.1.1", "1.9.1", Priority::routine));
  const auto h1 = enqueue(receive("1.9.2.1", "1.9.2", Priority::high));
  const auto r2 = enqueue(receive("1.9.3.1", "1.9.3", Priority::routine));
  const auto s1 = enqueue(receive("1.9.4.1", "1.9.4", Priority::stat));
  const auto h2 = enqueue(receive("1.9.5.1", "1.9.5", Priority::high));
  const auto s2 = enqueue(receive("1.9.6.1", "1.9.6", Priority::stat));
  const std::vector<std::int64_t> expected{s1, s2, h1, h2, r1, r2};

  std::vector<std::int64_t> listed;
  for (const auto& job : read_->queued_jobs(100)) listed.push_back(job.id);
  EXPECT_EQ(listed, expected) << "the queue view lists the claim order";
  const auto counts = read_->statistics().queued_by_priority;
  EXPECT_EQ(counts.at("stat"), 2);
  EXPECT_EQ(counts.at("high"), 2);
  EXPECT_EQ(counts.at("routine"), 2);

  std::vector<std::int64_t> claimed;
  while (auto job = jobs_->claim_next({})) {
    claimed.push_back(job->id);
    EXPECT_EQ(job->priority, job->id == s1 || job->id == s2 ? Priority::stat
                             : job->id == h1 || job->id == h2 ? Priority::high
                                                              : Priority::routine);
  }
  EXPECT_EQ(claimed, expected);
  EXPECT_TRUE(read_->queued_jobs(100).empty());
  EXPECT_TRUE(read_->statistics().queued_by_priority.empty());
}

TEST_P(ClaimOrder, AHeldBackStatJobLetsTheNextOneThroughAndKeepsItsPlace) {
  const auto routine = enqueue(receive("1.8.1.1", "1.8.1", Priority::routine));
  const auto stat = enqueue(receive("1.8.2.1", "1.8.2", Priority::stat));
  EXPECT_EQ(jobs_->claim_next({stat})->id, routine);  // the stat job waits out a retry delay
  EXPECT_EQ(read_->queued_jobs(10).at(0).id, stat);
  EXPECT_EQ(jobs_->claim_next({})->id, stat);
}

TEST_P(ClaimOrder, AStudyTakesItsHighestInstancesPriorityAndAQueuedJobIsRaised) {
  // A routine first image, then a STAT one while the job is still queued: the job is raised.
  const auto study = receive("1.7.1.1", "1.7.1", Priority::routine);
  const auto other = enqueue(receive("1.7.2.1", "1.7.2", Priority::routine));
  const auto job = enqueue(study);
  EXPECT_EQ(read_->job(job)->priority, Priority::routine);
  receive("1.7.1.2", "1.7.1", Priority::stat);
  EXPECT_EQ(enqueue(study), job) << "the queued job is extended, not a new one";
  EXPECT_EQ(read_->job(job)->priority, Priority::stat);
  // A later routine image does not lower the study: its next analysis is stat too.
  EXPECT_EQ(jobs_->claim_next({})->id, job);
  jobs_->finish(job, JobState::done, "", {});
  receive("1.7.1.3", "1.7.1", Priority::routine);
  const auto again = enqueue(study);
  EXPECT_NE(again, job);
  EXPECT_EQ(read_->job(again)->priority, Priority::stat);
  EXPECT_EQ(jobs_->claim_next({})->id, again);
  EXPECT_EQ(jobs_->claim_next({})->id, other);
}

TEST_P(ClaimOrder, ARoutineStudyGivesRoutineJobs) {
  const auto job = enqueue(receive("1.6.1.1", "1.6.1", Priority::routine));
  EXPECT_EQ(read_->job(job)->priority, Priority::routine);
  EXPECT_EQ(read_->list_jobs({}).jobs.at(0).priority, Priority::routine);
  EXPECT_EQ(read_->statistics().queued_by_priority.at("routine"), 1);
  EXPECT_EQ(read_->statistics().queued_by_priority.count("stat"), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, ClaimOrder, ::testing::ValuesIn(backends_under_test()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace evax::storage
