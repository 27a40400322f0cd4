// The storage module on a real file system and a real SQLite file.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "evax/storage/instance_store.h"
#include "evax/storage/job_store.h"
#include "evax/storage/outbox_store.h"

namespace evax::storage {
namespace {

namespace fs = std::filesystem;

class Storage : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/evax-storage-test-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    files_ = std::make_unique<FileStore>((dir_ / "data").string());
    store_ = std::make_unique<InstanceStore>(*files_, 0);
    jobs_ = std::make_unique<JobStore>(*files_);
  }
  void TearDown() override {
    jobs_.reset();
    store_.reset();
    files_.reset();
    fs::remove_all(dir_);
  }

  StoreRequest request(const std::string& sop, const std::string& study, const std::string& content = "DICM-ish bytes") {
    const std::string temp = files_->new_temp_path();
    std::ofstream(temp) << content;
    StoreRequest r;
    r.attributes.sop_class_uid = "1.2.840.10008.5.1.4.1.1.1.1";
    r.attributes.sop_instance_uid = sop;
    r.attributes.study_instance_uid = study;
    r.attributes.series_instance_uid = "1.2.3";
    r.attributes.modality = "DX";
    r.from = {"PACS", "127.0.0.1"};
    r.temp_path = temp;
    return r;
  }

  std::string text(const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(files_->database_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* statement = nullptr;
    sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr);
    std::string value;
    if (sqlite3_step(statement) == SQLITE_ROW && sqlite3_column_text(statement, 0))
      value = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return value;
  }
  std::int64_t scalar(const std::string& sql) { return std::stoll(text(sql)); }

  fs::path dir_;
  std::unique_ptr<FileStore> files_;
  std::unique_ptr<InstanceStore> store_;
  std::unique_ptr<JobStore> jobs_;
};

TEST_F(Storage, AStoredInstanceIsRenamedIntoPlaceUnderAHashedNameAndIndexed) {
  const auto result = store_->store(request("1.2.3.4.5", "1.2.3.9"));
  ASSERT_EQ(result.outcome, StoreOutcome::stored) << result.detail;
  EXPECT_TRUE(fs::is_empty(dir_ / "data" / "tmp"));
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / "data" / "instances")) {
    if (!entry.is_regular_file()) continue;
    ++files;
    const std::string name = entry.path().filename().string();
    EXPECT_EQ(name.find("1.2.3"), std::string::npos) << "a UID in a file name: " << name;
    EXPECT_EQ(name.size(), 32u + 1u + 12u + 4u);  // <hash>-<random>.dcm
  }
  EXPECT_EQ(files, 1);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM instances"), 1);
  EXPECT_EQ(scalar("SELECT instance_count FROM studies"), 1);
}

TEST_F(Storage, ASecondCopyIsAcknowledgedButStoredOnce) {
  ASSERT_EQ(store_->store(request("1.2.3.4.5", "1.2.3.9")).outcome, StoreOutcome::stored);
  const auto again = store_->store(request("1.2.3.4.5", "1.2.3.9"));
  EXPECT_EQ(again.outcome, StoreOutcome::duplicate);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM instances"), 1);
  EXPECT_EQ(scalar("SELECT instance_count FROM studies"), 1);
  EXPECT_TRUE(fs::is_empty(dir_ / "data" / "tmp"));
}

TEST_F(Storage, AKnownUidClaimedByAnotherStudyIsQuarantined) {
  ASSERT_EQ(store_->store(request("1.2.3.4.5", "1.2.3.9")).outcome, StoreOutcome::stored);
  const auto other = store_->store(request("1.2.3.4.5", "1.2.3.10"));
  EXPECT_EQ(other.outcome, StoreOutcome::quarantined);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM quarantine"), 1);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM studies"), 1);
  EXPECT_FALSE(fs::is_empty(dir_ / "data" / "quarantine"));
}

TEST_F(Storage, AWatermarkAboveTheFreeSpaceMeansOutOfSpace) {
  InstanceStore strict(*files_, std::int64_t{1} << 60);
  EXPECT_TRUE(strict.below_watermark(0));
  EXPECT_FALSE(store_->below_watermark(0));
}

TEST_F(Storage, StartUpSweepRemovesTempAndUnindexedFiles) {
  ASSERT_EQ(store_->store(request("1.2.3.4.5", "1.2.3.9")).outcome, StoreOutcome::stored);
  std::ofstream(files_->new_temp_path()) << "half a file";
  fs::create_directories(dir_ / "data" / "instances" / "ab" / "cd");
  std::ofstream(dir_ / "data" / "instances" / "ab" / "cd" / "orphan.dcm") << "renamed but never committed";
  const auto sweep = store_->sweep_at_startup();
  EXPECT_EQ(sweep.temp_files, 1);
  EXPECT_EQ(sweep.orphan_files, 1);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM instances"), 1);
  EXPECT_TRUE(fs::exists(text("SELECT file_path FROM instances")));  // the indexed file stays
}

TEST_F(Storage, TheSchemaIsVersionedAndANewerDatabaseIsRefused) {
  EXPECT_EQ(scalar("PRAGMA user_version"), 3);
  EXPECT_EQ(text("PRAGMA journal_mode"), "wal");
  sqlite3* db = nullptr;
  sqlite3_open(files_->database_path().c_str(), &db);
  sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  EXPECT_THROW(JobStore another(*files_), std::exception);
}

TEST_F(Storage, JobsMoveThroughTheirStatesWithTimestamps) {
  const auto stored = store_->store(request("1.2.3.4.5", "1.2.3.9"));
  auto pending = jobs_->studies_awaiting_analysis();
  ASSERT_EQ(pending.size(), 1u);
  const std::int64_t job_id = jobs_->enqueue(pending[0]);
  EXPECT_TRUE(jobs_->studies_awaiting_analysis().empty());

  // A second instance before the job starts extends the same queued job.
  ASSERT_EQ(store_->store(request("1.2.3.4.6", "1.2.3.9")).outcome, StoreOutcome::stored);
  pending = jobs_->studies_awaiting_analysis();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(jobs_->enqueue(pending[0]), job_id);

  auto job = jobs_->claim_next({});
  ASSERT_TRUE(job);
  EXPECT_EQ(job->id, job_id);
  EXPECT_EQ(job->state, JobState::running);
  EXPECT_EQ(job->attempts, 1);
  EXPECT_FALSE(jobs_->claim_next({}));  // nothing else queued
  EXPECT_EQ(jobs_->instances_for(*job).size(), 2u);

  jobs_->retry_later(job_id, "engine busy", "2026-11-28T00:00:00.000Z");
  EXPECT_FALSE(jobs_->claim_next({job_id}));  // held back
  job = jobs_->claim_next({});
  ASSERT_TRUE(job);
  EXPECT_EQ(job->attempts, 2);

  jobs_->mark_inferred(job_id);
  jobs_->finish(job_id, JobState::done, "", {{job_id, stored.instance_id, "1.2.3.4.5", "analysed", "", "", "{}", "[]"}});
  job = jobs_->job(job_id);
  EXPECT_EQ(job->state, JobState::done);
  EXPECT_FALSE(job->times.started.empty());
  EXPECT_FALSE(job->times.inferred.empty());
  EXPECT_FALSE(job->times.finished.empty());
  EXPECT_EQ(jobs_->images_of(job_id).size(), 1u);

  // A later instance: a new job that supersedes the finished one.
  ASSERT_EQ(store_->store(request("1.2.3.4.7", "1.2.3.9")).outcome, StoreOutcome::stored);
  const std::int64_t second = jobs_->enqueue(jobs_->studies_awaiting_analysis().at(0));
  EXPECT_NE(second, job_id);
  EXPECT_EQ(jobs_->job(second)->supersedes_job_id, job_id);
}

TEST_F(Storage, RunningJobsAreRequeuedAfterACrash) {
  store_->store(request("1.2.3.4.5", "1.2.3.9"));
  const std::int64_t job_id = jobs_->enqueue(jobs_->studies_awaiting_analysis().at(0));
  ASSERT_TRUE(jobs_->claim_next({}));
  EXPECT_EQ(jobs_->requeue_running(), 1);
  EXPECT_EQ(jobs_->job(job_id)->state, JobState::queued);
}

TEST_F(Storage, PurgeDeletesOldFilesOnlyOnceTheirStudyIsDone) {
  const auto stored = store_->store(request("1.2.3.4.5", "1.2.3.9"));
  const std::string future = "9999-12-31T00:00:00.000Z";
  EXPECT_EQ(store_->purge_received_before(future), 0);  // not yet analysed
  const std::int64_t job_id = jobs_->enqueue(jobs_->studies_awaiting_analysis().at(0));
  EXPECT_EQ(store_->purge_received_before(future), 0);  // queued
  jobs_->claim_next({});
  jobs_->finish(job_id, JobState::done, "", {});
  EXPECT_EQ(store_->purge_received_before("2000-01-01T00:00:00.000Z"), 0);  // too young
  EXPECT_EQ(store_->purge_received_before(future), 1);
  EXPECT_EQ(scalar("SELECT COUNT(*) FROM instances WHERE file_path IS NULL AND purged_at IS NOT NULL"), 1);
  (void)stored;
}

// A done job with one SR written under outputs/ and queued for `destinations`.
struct DoneJob {
  std::int64_t job_id = 0;
  Output output;
};

DoneJob finish_with_one_output(JobStore& jobs, InstanceStore& store, const FileStore& files, StoreRequest request,
                               const std::vector<std::string>& destinations) {
  const auto stored = store.store(request);
  const std::int64_t job_id = jobs.enqueue(jobs.studies_awaiting_analysis().at(0));
  jobs.claim_next({});
  Output sr;
  sr.kind = "sr";
  sr.sop_class_uid = "1.2.840.10008.5.1.4.1.1.88.33";
  sr.sop_instance_uid = request.attributes.sop_instance_uid + ".100";
  sr.series_instance_uid = "1.2.3.100";
  sr.study_instance_uid = request.attributes.study_instance_uid;
  sr.file_path = files.write_durably({'D', 'I', 'C', 'M'}, FileArea::outputs, sr.sop_instance_uid).value();
  sr.size_bytes = 4;
  jobs.finish_with_outputs(job_id, {{job_id, stored.instance_id, request.attributes.sop_instance_uid, "analysed", "", "", "{}", "[]"}},
                           {sr}, destinations);
  return {job_id, sr};
}

TEST_F(Storage, OutputsAreQueuedForEveryDestinationWithTheJob) {
  const auto done = finish_with_one_output(*jobs_, *store_, *files_, request("1.2.3.4.5", "1.2.3.9"), {"pacs", "archive"});
  const auto job = jobs_->job(done.job_id);
  EXPECT_EQ(job->state, JobState::done);
  EXPECT_FALSE(job->times.reported.empty());
  EXPECT_TRUE(job->times.delivered.empty());
  OutboxStore outbox(*files_);
  ASSERT_EQ(outbox.outputs_of_job(done.job_id).size(), 1u);
  const auto deliveries = outbox.deliveries_of_job(done.job_id);
  ASSERT_EQ(deliveries.size(), 2u);
  for (const auto& d : deliveries) EXPECT_EQ(d.state, DeliveryState::pending);
  EXPECT_EQ(outbox.unfinished_by_destination(), (std::map<std::string, int>{{"archive", 1}, {"pacs", 1}}));
  EXPECT_TRUE(fs::exists(done.output.file_path));
  EXPECT_EQ(fs::path(done.output.file_path).parent_path().parent_path().parent_path(), fs::path(files_->data_dir()) / "outputs");
}

TEST_F(Storage, DeliveriesRecordEveryAttemptAndTheJobIsDeliveredWhenAllAre) {
  const auto done = finish_with_one_output(*jobs_, *store_, *files_, request("1.2.3.4.5", "1.2.3.9"), {"pacs", "archive"});
  OutboxStore outbox(*files_);
  auto batch = outbox.claim_due("pacs", {}, 10);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].state, DeliveryState::sending);
  EXPECT_EQ(batch[0].attempts, 1);
  EXPECT_EQ(batch[0].output.sop_instance_uid, done.output.sop_instance_uid);
  EXPECT_TRUE(outbox.claim_due("pacs", {}, 10).empty());  // claimed once
  outbox.record_retry(batch[0].id, 0xA700, "C-STORE answered 0xA700", "2026-11-28T00:00:10.000Z");
  EXPECT_TRUE(outbox.claim_due("pacs", {batch[0].id}, 10).empty());  // held back
  batch = outbox.claim_due("pacs", {}, 10);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].attempts, 2);
  outbox.record_delivered(batch[0].id, 0, "");
  EXPECT_TRUE(jobs_->job(done.job_id)->times.delivered.empty());  // the archive still waits

  auto archive = outbox.claim_due("archive", {}, 10);
  ASSERT_EQ(archive.size(), 1u);
  outbox.record_delivered(archive[0].id, 0, "");
  EXPECT_FALSE(jobs_->job(done.job_id)->times.delivered.empty());

  const auto attempts = outbox.attempts_of(batch[0].id);
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].outcome, "retryable");
  EXPECT_EQ(attempts[0].dimse_status, 0xA700);
  EXPECT_EQ(attempts[1].outcome, "delivered");
  EXPECT_EQ(attempts[1].dimse_status, 0);
  EXPECT_FALSE(attempts[1].finished_at.empty());
}

TEST_F(Storage, SendingDeliveriesAreRequeuedAfterACrashAndDeadOnesCanBeSentAgain) {
  const auto done = finish_with_one_output(*jobs_, *store_, *files_, request("1.2.3.4.5", "1.2.3.9"), {"pacs"});
  OutboxStore outbox(*files_);
  const auto batch = outbox.claim_due("pacs", {}, 10);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(outbox.requeue_sending(), 1);
  EXPECT_EQ(outbox.attempts_of(batch[0].id).at(0).outcome, "interrupted");
  const auto again = outbox.claim_due("pacs", {}, 10);
  ASSERT_EQ(again.size(), 1u);
  outbox.record_dead(again[0].id, true, 0xC000, "C-STORE answered 0xC000");
  auto deliveries = outbox.deliveries_of_job(done.job_id);
  EXPECT_EQ(deliveries.at(0).state, DeliveryState::dead);
  EXPECT_NE(deliveries.at(0).last_status.find("0xC000"), std::string::npos);
  EXPECT_TRUE(outbox.claim_due("pacs", {}, 10).empty());
  EXPECT_TRUE(outbox.resend(again[0].id));
  EXPECT_FALSE(outbox.resend(again[0].id));  // only a dead delivery can be re-sent
  deliveries = outbox.deliveries_of_job(done.job_id);
  EXPECT_EQ(deliveries.at(0).state, DeliveryState::pending);
  EXPECT_EQ(deliveries.at(0).attempts, 0);
}

TEST_F(Storage, PurgeWaitsForDeliveryAndKeepsDeadLetteredResults) {
  const auto done = finish_with_one_output(*jobs_, *store_, *files_, request("1.2.3.4.5", "1.2.3.9"), {"pacs"});
  const std::string future = "9999-12-31T00:00:00.000Z";
  EXPECT_EQ(store_->purge_received_before(future), 0);  // the result is not delivered yet
  OutboxStore outbox(*files_);
  const auto batch = outbox.claim_due("pacs", {}, 10);
  outbox.record_dead(batch.at(0).id, false, std::nullopt, "gave up");
  EXPECT_EQ(store_->purge_received_before(future), 1);  // the received file; the dead result stays for a re-send
  EXPECT_TRUE(fs::exists(done.output.file_path));
  ASSERT_TRUE(outbox.resend(batch.at(0).id));
  const auto again = outbox.claim_due("pacs", {}, 10);
  outbox.record_delivered(again.at(0).id, 0, "");
  EXPECT_EQ(store_->purge_received_before(future), 1);  // now the result file too
  EXPECT_FALSE(fs::exists(done.output.file_path));
  EXPECT_TRUE(outbox.outputs_of_job(done.job_id).at(0).file_path.empty());
}

TEST_F(Storage, StartUpSweepRemovesResultFilesNoJobCommitted) {
  const auto done = finish_with_one_output(*jobs_, *store_, *files_, request("1.2.3.4.5", "1.2.3.9"), {});
  const std::string orphan = files_->write_durably({'x'}, FileArea::outputs, "never committed").value();
  const auto sweep = store_->sweep_at_startup();
  EXPECT_EQ(sweep.orphan_files, 1);
  EXPECT_FALSE(fs::exists(orphan));
  EXPECT_TRUE(fs::exists(done.output.file_path));
}

TEST_F(Storage, PreviousReportIsTheStudysLatestEarlierSr) {
  const auto first = finish_with_one_output(*jobs_, *store_, *files_, request("1.2.3.4.5", "1.2.3.9"), {});
  ASSERT_EQ(store_->store(request("1.2.3.4.6", "1.2.3.9")).outcome, StoreOutcome::stored);
  const std::int64_t second = jobs_->enqueue(jobs_->studies_awaiting_analysis().at(0));
  const auto previous = jobs_->previous_report(*jobs_->job(second));
  ASSERT_TRUE(previous);
  EXPECT_EQ(previous->sop_instance_uid, first.output.sop_instance_uid);
  EXPECT_FALSE(jobs_->previous_report(*jobs_->job(first.job_id)));
}

}  // namespace
}  // namespace evax::storage
