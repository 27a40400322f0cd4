// Study assembly on a clock the test controls: the quiet period is measured on it alone.
#include "evax/pipeline/study_assembler.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "evax/pipeline/analysis_workers.h"
#include "evax/storage/storage_backend.h"

namespace evax::pipeline {
namespace {

class ManualClock final : public Clock {
 public:
  time_point now() const override { return now_; }
  void advance(std::chrono::milliseconds by) { now_ += by; }

 private:
  time_point now_{std::chrono::seconds(1000)};
};

class Assembly : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/evax-assembler-test-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    files_ = std::make_unique<storage::FileStore>((dir_ / "data").string());
    storage_ = storage::make_storage_backend({}, *files_);
    store_ = storage_->open_instance_index();
  }
  void TearDown() override {
    store_.reset();
    storage_.reset();
    files_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::int64_t receive(const std::string& sop, const std::string& study) {
    storage::StoreRequest r;
    r.attributes.sop_instance_uid = sop;
    r.attributes.study_instance_uid = study;
    r.temp_path = files_->new_temp_path();
    std::ofstream(r.temp_path) << "x";
    return store_->store(r).study_id;
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::FileStore> files_;
  std::unique_ptr<storage::StorageBackend> storage_;
  std::unique_ptr<storage::InstanceIndex> store_;
  ManualClock clock_;
  logging::Logger log_{logging::Level::error, logging::Logger::Format::text, [](const std::string&) {}};
};

TEST_F(Assembly, AStudyBecomesAJobOnlyAfterItsQuietPeriodOnTheMonotonicClock) {
  int woken = 0;
  StudyAssembler assembler(*storage_, std::chrono::seconds(10), {}, clock_, log_, [&] { ++woken; });
  const std::int64_t study = receive("1.2.3.1", "1.2.3");
  assembler.note_arrival(study);
  clock_.advance(std::chrono::seconds(9));
  EXPECT_EQ(assembler.queue_quiet_studies(), 0);
  // A new instance restarts the quiet period.
  assembler.note_arrival(receive("1.2.3.2", "1.2.3"));
  clock_.advance(std::chrono::seconds(9));
  EXPECT_EQ(assembler.queue_quiet_studies(), 0);
  clock_.advance(std::chrono::seconds(1));
  EXPECT_EQ(assembler.queue_quiet_studies(), 1);
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(assembler.queue_quiet_studies(), 0);  // queued once
  const auto jobs = storage_->open_job_queue();
  auto job = jobs->claim_next({});
  ASSERT_TRUE(job);
  EXPECT_EQ(jobs->instances_for(*job).size(), 2u);
}

TEST_F(Assembly, StudiesLeftWaitingByAPreviousRunAreQueuedAfterAQuietPeriodFromStartUp) {
  receive("1.2.3.1", "1.2.3");  // stored by "the previous run": no note_arrival
  StudyAssembler assembler(*storage_, std::chrono::seconds(5), {}, clock_, log_, nullptr);
  assembler.start();
  assembler.stop();  // only the start-up scan was wanted
  EXPECT_EQ(assembler.queue_quiet_studies(), 0);
  clock_.advance(std::chrono::seconds(5));
  EXPECT_EQ(assembler.queue_quiet_studies(), 1);
}

TEST(RetryDelay, DoublesFromTheInitialDelayAndStopsAtTheCap) {
  config::WorkerSettings settings;
  settings.retry_initial_s = 5;
  settings.retry_max_s = 60;
  EXPECT_EQ(AnalysisWorkers::retry_delay(settings, 1).count(), 5);
  EXPECT_EQ(AnalysisWorkers::retry_delay(settings, 2).count(), 10);
  EXPECT_EQ(AnalysisWorkers::retry_delay(settings, 4).count(), 40);
  EXPECT_EQ(AnalysisWorkers::retry_delay(settings, 5).count(), 60);
  EXPECT_EQ(AnalysisWorkers::retry_delay(settings, 50).count(), 60);
}

TEST_F(Assembly, OnASharedDatabaseTheQuietPeriodRunsOnTheDatabasesClockForEveryNodesArrivals) {
  StudyAssembler assembler(*storage_, std::chrono::milliseconds(300), {}, clock_, log_, nullptr,
                           StudyAssembler::QuietClock::database);
  receive("1.2.3.1", "1.2.3");  // received by "another node": no note_arrival here
  EXPECT_EQ(assembler.queue_quiet_studies(), 0);
  clock_.advance(std::chrono::hours(1));  // this node's clock does not count
  EXPECT_EQ(assembler.queue_quiet_studies(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(assembler.queue_quiet_studies(), 1);
  EXPECT_EQ(assembler.queue_quiet_studies(), 0);
  EXPECT_EQ(storage_->open_read_model()->jobs_of_study("1.2.3").size(), 1u);
}

}  // namespace
}  // namespace evax::pipeline
