// The storage behaviour every backend must have, on a real file system and a real database:
// each test runs once per backend (StorageBehaviour/<backend>) through the public interfaces
// only. SQLite-only facts (the schema's version and its migrations) are in sqlite_schema_test.cc.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "evax/storage/storage_backend.h"
#include "storage_backends.h"

namespace evax::storage {
namespace {

namespace fs = std::filesystem;

class StorageBehaviour : public ::testing::TestWithParam<BackendUnderTest> {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/evax-storage-test-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    files_ = std::make_unique<FileStore>((dir_ / "data").string());
    backend_ = GetParam().make(*files_, 0);
    store_ = backend_->open_instance_index();
    jobs_ = backend_->open_job_queue();
    outbox_ = backend_->open_outbox();
    read_ = backend_->open_read_model();
  }
  void TearDown() override {
    read_.reset();
    outbox_.reset();
    jobs_.reset();
    store_.reset();
    backend_.reset();
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

  int files_under(const std::string& area) {
    int count = 0;
    for (const auto& entry : fs::recursive_directory_iterator(dir_ / "data" / area))
      if (entry.is_regular_file()) ++count;
    return count;
  }

  fs::path dir_;
  std::unique_ptr<FileStore> files_;
  std::unique_ptr<StorageBackend> backend_;
  std::unique_ptr<InstanceIndex> store_;
  std::unique_ptr<JobQueue> jobs_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<ReadModel> read_;
};

// A done job with one SR written under outputs/ and queued for `routes`.
struct DoneJob {
  std::int64_t job_id = 0;
  Output output;
};

DoneJob finish_with_one_output(JobQueue& jobs, InstanceIndex& store, const FileStore& files, StoreRequest request,
                               const std::vector<DeliveryRoute>& routes) {
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
  jobs.finish_with_outputs(job_id, {{job_id, {stored.instance_id, request.attributes.sop_instance_uid, "analysed", "", "", results::ImageAnalysis{}}}},
                           {sr}, routes);
  return {job_id, sr};
}

// A done job whose image has an SR, an SC and a Parametric Map; `routes` choose who gets which.
struct ThreeOutputs {
  std::int64_t job_id = 0;
  std::map<std::string, Output> by_kind;
};

ThreeOutputs finish_with_sr_sc_pmap(JobQueue& jobs, InstanceIndex& store, const FileStore& files, StoreRequest request,
                                    const std::vector<DeliveryRoute>& routes) {
  const auto stored = store.store(request);
  const std::int64_t job_id = jobs.enqueue(jobs.studies_awaiting_analysis().at(0));
  jobs.claim_next({});
  ThreeOutputs done{job_id, {}};
  const std::vector<std::pair<std::string, std::string>> kinds{
      {"sr", "1.2.840.10008.5.1.4.1.1.88.34"}, {"sc", "1.2.840.10008.5.1.4.1.1.7"}, {"pmap", "1.2.840.10008.5.1.4.1.1.30"}};
  std::vector<Output> outputs;
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    Output o;
    o.kind = kinds[i].first;
    o.sop_class_uid = kinds[i].second;
    o.sop_instance_uid = request.attributes.sop_instance_uid + "." + std::to_string(100 + i);
    o.series_instance_uid = "1.2.3." + std::to_string(100 + i);
    o.study_instance_uid = request.attributes.study_instance_uid;
    if (o.kind != "sr") o.source_instance_id = stored.instance_id;
    o.file_path = files.write_durably({'D', 'I', 'C', 'M'}, FileArea::outputs, o.sop_instance_uid).value();
    o.size_bytes = 4;
    outputs.push_back(o);
    done.by_kind[o.kind] = o;
  }
  jobs.finish_with_outputs(job_id, {{job_id, {stored.instance_id, request.attributes.sop_instance_uid, "analysed", "", "", results::ImageAnalysis{}}}},
                           outputs, routes);
  return done;
}

TEST_P(StorageBehaviour, AStoredInstanceIsRenamedIntoPlaceUnderAHashedNameAndIndexed) {
  const auto result = store_->store(request("1.2.3.4.5", "1.2.3.9"));
  ASSERT_EQ(result.outcome, StoreOutcome::stored) << result.detail;
  EXPECT_TRUE(fs::is_empty(dir_ / "data" / "tmp"));
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / "data" / "instances")) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    EXPECT_EQ(name.find("1.2.3"), std::string::npos) << "a UID in a file name: " << name;
    EXPECT_EQ(name.size(), 32u + 1u + 12u + 4u);  // <hash>-<random>.dcm
  }
  EXPECT_EQ(files_under("instances"), 1);
  const auto stats = read_->statistics();
  EXPECT_EQ(stats.instances, 1);
  EXPECT_EQ(stats.studies, 1);
  EXPECT_EQ(stats.instance_bytes, 14);
}

TEST_P(StorageBehaviour, ASecondCopyIsAcknowledgedButStoredOnce) {
  const auto first = store_->store(request("1.2.3.4.5", "1.2.3.9"));
  ASSERT_EQ(first.outcome, StoreOutcome::stored);
  const auto again = store_->store(request("1.2.3.4.5", "1.2.3.9"));
  EXPECT_EQ(again.outcome, StoreOutcome::duplicate);
  EXPECT_EQ(again.instance_id, first.instance_id);
  EXPECT_EQ(read_->statistics().instances, 1);
  EXPECT_EQ(files_under("instances"), 1);
  EXPECT_TRUE(fs::is_empty(dir_ / "data" / "tmp"));
}

TEST_P(StorageBehaviour, AKnownUidClaimedByAnotherStudyIsQuarantined) {
  ASSERT_EQ(store_->store(request("1.2.3.4.5", "1.2.3.9")).outcome, StoreOutcome::stored);
  const auto other = store_->store(request("1.2.3.4.5", "1.2.3.10"));
  EXPECT_EQ(other.outcome, StoreOutcome::quarantined);
  const auto stats = read_->statistics();
  EXPECT_EQ(stats.quarantined, 1);
  EXPECT_EQ(stats.studies, 1);
  EXPECT_EQ(files_under("quarantine"), 1);
}

TEST_P(StorageBehaviour, AWatermarkAboveTheFreeSpaceMeansOutOfSpace) {
  const auto strict = GetParam().make(*files_, std::int64_t{1} << 60);
  EXPECT_TRUE(strict->open_instance_index()->below_watermark(0));
  EXPECT_FALSE(store_->below_watermark(0));
}

TEST_P(StorageBehaviour, StartUpSweepRemovesTempAndUnindexedFiles) {
  ASSERT_EQ(store_->store(request("1.2.3.4.5", "1.2.3.9")).outcome, StoreOutcome::stored);
  std::ofstream(files_->new_temp_path()) << "half a file";
  fs::create_directories(dir_ / "data" / "instances" / "ab" / "cd");
  const fs::path orphan = dir_ / "data" / "instances" / "ab" / "cd" / "orphan.dcm";
  std::ofstream(orphan) << "renamed but never committed";
  // An hour old: a cluster's sweep leaves younger files alone (another node may be committing them).
  fs::last_write_time(orphan, fs::file_time_type::clock::now() - std::chrono::hours(1));
  const auto sweep = store_->sweep_at_startup();
  EXPECT_EQ(sweep.temp_files, 1);
  EXPECT_EQ(sweep.orphan_files, 1);
  EXPECT_EQ(files_under("instances"), 1);  // the indexed file stays
  const std::int64_t job_id = jobs_->enqueue(jobs_->studies_awaiting_analysis().at(0));
  EXPECT_TRUE(fs::exists(jobs_->instances_for(*read_->job(job_id)).at(0).file_path));
}

TEST_P(StorageBehaviour, JobsMoveThroughTheirStatesWithTimestamps) {
  const auto stored = store_->store(request("1.2.3.4.5", "1.2.3.9"));
  auto pending = jobs_->studies_awaiting_analysis();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(jobs_->studies_awaiting_analysis({pending[0].study_id}).size(), 1u);
  const std::int64_t job_id = jobs_->enqueue(pending[0]);
  EXPECT_TRUE(jobs_->studies_awaiting_analysis().empty());
  EXPECT_TRUE(jobs_->studies_awaiting_analysis({pending[0].study_id}).empty());

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
  results::ImageAnalysis analysis;
  analysis.provenance = {"EVA-X-T", "cxr14", true, ""};
  analysis.findings = {{"Effusion", 0.75, results::CamGrid{1, {1.0F}}}, {"Mass", 0.125, std::nullopt}};
  analysis.lungs = results::LungResult{"image-orientation", "", {{"right", 42, 1.5, "PixelSpacing"}}};
  jobs_->finish(job_id, JobState::done, "", {{job_id, {stored.instance_id, "1.2.3.4.5", "analysed", "", "", analysis}}});
  job = read_->job(job_id);
  EXPECT_EQ(job->state, JobState::done);
  EXPECT_FALSE(job->times.started.empty());
  EXPECT_FALSE(job->times.inferred.empty());
  EXPECT_FALSE(job->times.finished.empty());
  ASSERT_EQ(read_->images_of(job_id).size(), 1u);
  const results::ImageResult image = read_->images_of(job_id)[0].result;
  EXPECT_EQ(image.sop_instance_uid, "1.2.3.4.5");
  // The typed record comes back through the backend's columns as it went in.
  ASSERT_TRUE(image.analysis);
  ASSERT_EQ(image.analysis->findings.size(), 2u);
  EXPECT_EQ(image.analysis->findings[0].label, "Effusion");
  EXPECT_DOUBLE_EQ(image.analysis->findings[1].probability, 0.125);
  ASSERT_TRUE(image.analysis->findings[0].cam);
  EXPECT_EQ(image.analysis->findings[0].cam->normalised, std::vector<float>{1.0F});
  ASSERT_TRUE(image.analysis->lungs);
  EXPECT_EQ(image.analysis->lungs->lungs.at(0).area_mm2, 1.5);

  // A later instance: a new job that supersedes the finished one.
  ASSERT_EQ(store_->store(request("1.2.3.4.7", "1.2.3.9")).outcome, StoreOutcome::stored);
  const std::int64_t second = jobs_->enqueue(jobs_->studies_awaiting_analysis().at(0));
  EXPECT_NE(second, job_id);
  EXPECT_EQ(read_->job(second)->supersedes_job_id, job_id);
  EXPECT_EQ(read_->jobs_of_study("1.2.3.9").size(), 2u);
  EXPECT_EQ(read_->statistics().jobs_by_state, (std::map<std::string, std::int64_t>{{"done", 1}, {"queued", 1}}));
}

TEST_P(StorageBehaviour, AStudyIsQuietByTheDatabasesClockOnceItsLastInstanceIsOldEnough) {
  store_->store(request("1.2.3.4.5", "1.2.3.9"));
  EXPECT_TRUE(jobs_->studies_quiet_for(std::chrono::hours(1)).empty());  // arrived just now
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto quiet = jobs_->studies_quiet_for(std::chrono::milliseconds(200));
  ASSERT_EQ(quiet.size(), 1u);
  EXPECT_EQ(quiet[0].study_instance_uid, "1.2.3.9");
  jobs_->enqueue(quiet[0]);
  EXPECT_TRUE(jobs_->studies_quiet_for(std::chrono::milliseconds(200)).empty());  // covered
}

TEST_P(StorageBehaviour, LateArrivalsTheRulesSkipStartNoJobAndKeepTheirReason) {
  store_->store(request("1.2.3.4.5", "1.2.3.9"));
  const std::int64_t job_id = jobs_->enqueue(jobs_->studies_awaiting_analysis().at(0));
  jobs_->claim_next({});
  jobs_->finish(job_id, JobState::done, "", {});
  store_->store(request("1.2.3.4.6", "1.2.3.9"));
  const auto skip_all = [](const InstanceAttributes&) { return std::string("lateral-view: ViewPosition is 'LL'"); };
  const auto late = jobs_->enqueue(jobs_->studies_awaiting_analysis().at(0), skip_all);
  EXPECT_EQ(late.job_id, 0);
  ASSERT_EQ(late.not_reanalysed.size(), 1u);
  EXPECT_TRUE(jobs_->studies_awaiting_analysis().empty());  // covered, though no job
  const auto recorded = read_->not_reanalysed_of_study("1.2.3.9");
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_EQ(recorded[0].sop_instance_uid, "1.2.3.4.6");
  EXPECT_EQ(recorded[0].reason, "lateral-view: ViewPosition is 'LL'");

  // One analysable arrival among skipped ones starts a superseding job.
  store_->store(request("1.2.3.4.7", "1.2.3.9"));
  store_->store(request("1.2.3.4.8", "1.2.3.9"));
  const auto skip_one = [](const InstanceAttributes& a) { return a.sop_instance_uid == "1.2.3.4.7" ? "lateral" : ""; };
  const auto again = jobs_->enqueue(jobs_->studies_awaiting_analysis().at(0), skip_one);
  EXPECT_NE(again.job_id, 0);
  EXPECT_TRUE(again.not_reanalysed.empty());
  EXPECT_EQ(read_->not_reanalysed_of_study("1.2.3.9").size(), 1u);
}

TEST_P(StorageBehaviour, RunningJobsAreRequeuedAfterACrash) {
  store_->store(request("1.2.3.4.5", "1.2.3.9"));
  const std::int64_t job_id = jobs_->enqueue(jobs_->studies_awaiting_analysis().at(0));
  ASSERT_TRUE(jobs_->claim_next({}));
  EXPECT_EQ(jobs_->requeue_running(), 1);
  EXPECT_EQ(read_->job(job_id)->state, JobState::queued);
}

TEST_P(StorageBehaviour, AJobOrDeliveryNoLongerHeldCannotBeFinished) {
  const auto done = finish_with_one_output(*jobs_, *store_, *files_, request("1.2.3.4.5", "1.2.3.9"), {{"pacs"}});
  // A job requeued after this node restarted (or taken over) is no longer this claim's to finish.
  ASSERT_EQ(store_->store(request("1.2.3.4.6", "1.2.3.9")).outcome, StoreOutcome::stored);
  const std::int64_t second = jobs_->enqueue(jobs_->studies_awaiting_analysis().at(0));
  ASSERT_EQ(jobs_->claim_next({})->id, second);
  ASSERT_EQ(jobs_->requeue_running(), 1);
  EXPECT_THROW(jobs_->mark_inferred(second), LostClaim);
  EXPECT_THROW(jobs_->finish(second, JobState::done, "", {}), LostClaim);
  EXPECT_THROW(jobs_->finish_with_outputs(second, {}, {}, {{"pacs"}}), LostClaim);
  EXPECT_THROW(jobs_->retry_later(second, "busy", "2026-12-02T00:00:00.000Z"), LostClaim);
  EXPECT_EQ(read_->job(second)->state, JobState::queued);
  EXPECT_TRUE(read_->job(second)->times.inferred.empty());
  EXPECT_THROW(jobs_->finish(done.job_id, JobState::failed, "", {}), LostClaim);  // finished already
  EXPECT_EQ(read_->job(done.job_id)->state, JobState::done);

  const auto sending = outbox_->claim_due("pacs", {}, 10);
  ASSERT_EQ(sending.size(), 1u);
  ASSERT_EQ(outbox_->requeue_sending(), 1);
  EXPECT_THROW(outbox_->record_delivered(sending[0].id, 0, ""), LostClaim);
  EXPECT_THROW(outbox_->record_dead(sending[0].id, true, 0xC000, ""), LostClaim);
  EXPECT_EQ(read_->delivery(sending[0].id)->state, DeliveryState::pending);
  EXPECT_TRUE(read_->job(done.job_id)->times.delivered.empty());
}

TEST_P(StorageBehaviour, ConcurrentWorkersClaimEveryJobExactlyOnce) {
  constexpr int kStudies = 24;
  for (int i = 0; i < kStudies; ++i) store_->store(request("1.2.3.4." + std::to_string(i), "1.2.3.9." + std::to_string(i)));
  for (const auto& study : jobs_->studies_awaiting_analysis()) jobs_->enqueue(study);
  std::mutex mutex;
  std::multiset<std::int64_t> claimed;
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w)
    workers.emplace_back([&] {
      const auto queue = backend_->open_job_queue();  // one connection per worker, as in the node
      while (auto job = queue->claim_next({})) {
        queue->finish(job->id, JobState::done, "", {});
        std::lock_guard lock(mutex);
        claimed.insert(job->id);
      }
    });
  for (auto& t : workers) t.join();
  EXPECT_EQ(claimed.size(), static_cast<std::size_t>(kStudies));
  EXPECT_EQ(std::set<std::int64_t>(claimed.begin(), claimed.end()).size(), claimed.size()) << "a job was claimed twice";
  EXPECT_EQ(read_->statistics().jobs_by_state, (std::map<std::string, std::int64_t>{{"done", kStudies}}));
}

TEST_P(StorageBehaviour, AdminActionsRetryOnlyFinishedJobsAndCancelOnlyQueuedOnes) {
  store_->store(request("1.2.3.4.5", "1.2.3.9"));
  const std::int64_t job_id = jobs_->enqueue(jobs_->studies_awaiting_analysis().at(0));
  EXPECT_EQ(jobs_->retry(job_id), ActionResult::wrong_state);
  EXPECT_EQ(jobs_->cancel(job_id, "by admin"), ActionResult::changed);
  EXPECT_EQ(read_->job(job_id)->reason, "cancelled: by admin");
  EXPECT_EQ(jobs_->cancel(job_id, "again"), ActionResult::wrong_state);
  EXPECT_EQ(jobs_->retry(job_id), ActionResult::changed);
  EXPECT_EQ(read_->job(job_id)->state, JobState::queued);
  EXPECT_EQ(read_->job(job_id)->attempts, 0);
  EXPECT_EQ(jobs_->retry(987654), ActionResult::not_found);
}

TEST_P(StorageBehaviour, JobListsFilterByStateStudyAndTimeAndPage) {
  for (int i = 0; i < 5; ++i) store_->store(request("1.2.3.4." + std::to_string(i), "1.2.3.9." + std::to_string(i)));
  for (const auto& study : jobs_->studies_awaiting_analysis()) jobs_->enqueue(study);
  const auto running = jobs_->claim_next({});
  JobFilter all;
  all.limit = 2;
  const auto page = read_->list_jobs(all);
  EXPECT_EQ(page.total, 5);
  ASSERT_EQ(page.jobs.size(), 2u);
  EXPECT_GT(page.jobs[0].id, page.jobs[1].id);  // newest first
  JobFilter by_state;
  by_state.state = JobState::running;
  EXPECT_EQ(read_->list_jobs(by_state).total, 1);
  EXPECT_EQ(read_->list_jobs(by_state).jobs.at(0).id, running->id);
  JobFilter by_study;
  by_study.study_instance_uid = "1.2.3.9.3";
  EXPECT_EQ(read_->list_jobs(by_study).total, 1);
  JobFilter future;
  future.received_since = "9999";
  EXPECT_EQ(read_->list_jobs(future).total, 0);
  EXPECT_EQ(read_->recent_jobs(3).size(), 3u);
}

TEST_P(StorageBehaviour, PurgeDeletesOldFilesOnlyOnceTheirStudyIsDone) {
  store_->store(request("1.2.3.4.5", "1.2.3.9"));
  const std::string future = "9999-12-31T00:00:00.000Z";
  EXPECT_EQ(store_->purge_instances_before(future), 0);  // not yet analysed
  const std::int64_t job_id = jobs_->enqueue(jobs_->studies_awaiting_analysis().at(0));
  EXPECT_EQ(store_->purge_instances_before(future), 0);  // queued
  jobs_->claim_next({});
  jobs_->finish(job_id, JobState::done, "", {});
  EXPECT_EQ(store_->purge_instances_before("2000-01-01T00:00:00.000Z"), 0);  // too young
  EXPECT_EQ(store_->purge_instances_before(future), 1);
  EXPECT_EQ(files_under("instances"), 0);
  EXPECT_TRUE(jobs_->instances_for(*read_->job(job_id)).at(0).file_path.empty());
  EXPECT_EQ(read_->statistics().instances, 1);  // the row stays
}

TEST_P(StorageBehaviour, OutputsAreQueuedForEveryDestinationWithTheJob) {
  const auto done = finish_with_one_output(*jobs_, *store_, *files_, request("1.2.3.4.5", "1.2.3.9"), {{"pacs"}, {"archive"}});
  const auto job = read_->job(done.job_id);
  EXPECT_EQ(job->state, JobState::done);
  EXPECT_FALSE(job->times.reported.empty());
  EXPECT_TRUE(job->times.delivered.empty());
  ASSERT_EQ(read_->outputs_of_job(done.job_id).size(), 1u);
  const auto deliveries = read_->deliveries_of_job(done.job_id);
  ASSERT_EQ(deliveries.size(), 2u);
  for (const auto& d : deliveries) EXPECT_EQ(d.state, DeliveryState::pending);
  EXPECT_EQ(outbox_->unfinished_by_destination(), (std::map<std::string, int>{{"archive", 1}, {"pacs", 1}}));
  EXPECT_EQ(outbox_->output_paths(), (std::set<std::string>{done.output.file_path}));
  EXPECT_TRUE(fs::exists(done.output.file_path));
  EXPECT_EQ(fs::path(done.output.file_path).parent_path().parent_path().parent_path(), fs::path(files_->data_dir()) / "outputs");
  EXPECT_EQ(read_->statistics().outputs_by_kind, (std::map<std::string, std::int64_t>{{"sr", 1}}));
}

// destinations[].outputs: each destination gets only the kinds it takes (none listed: all).
TEST_P(StorageBehaviour, EachDestinationIsQueuedOnlyTheOutputKindsItTakes) {
  const auto done = finish_with_sr_sc_pmap(*jobs_, *store_, *files_, request("1.2.3.4.5", "1.2.3.9"),
                                           {{"pacs", {}}, {"archive", {"sr"}}, {"viewer", {"sc", "pmap"}}});
  std::map<std::string, std::multiset<std::string>> kinds_by_destination;
  for (const auto& d : read_->deliveries_of_job(done.job_id)) kinds_by_destination[d.destination].insert(d.output.kind);
  EXPECT_EQ(kinds_by_destination["pacs"], (std::multiset<std::string>{"pmap", "sc", "sr"}));
  EXPECT_EQ(kinds_by_destination["archive"], (std::multiset<std::string>{"sr"}));
  EXPECT_EQ(kinds_by_destination["viewer"], (std::multiset<std::string>{"pmap", "sc"}));
}

// A destination that refused a SOP class at negotiation: the substitution is kept with the delivery.
TEST_P(StorageBehaviour, ASubstitutionIsRecordedAndAMapsCarrierIsQueuedOnce) {
  const auto done = finish_with_sr_sc_pmap(*jobs_, *store_, *files_, request("1.2.3.4.5", "1.2.3.9"),
                                           {{"pacs", {"sr", "pmap"}}, {"archive", {}}});
  for (const auto& d : read_->deliveries_of_job(done.job_id)) EXPECT_EQ(d.substitution, "") << d.output.kind;
  auto batch = outbox_->claim_due("pacs", {}, 10);
  ASSERT_EQ(batch.size(), 2u);
  const Delivery& sr = batch[0].output.kind == "sr" ? batch[0] : batch[1];
  const Delivery& pmap = batch[0].output.kind == "pmap" ? batch[0] : batch[1];
  outbox_->record_delivered_as(sr.id, 0, "", "sent as Comprehensive SR");
  EXPECT_EQ(outbox_->substitute_with(pmap.id, "sc", "the SC carries the heatmap"), 1);
  EXPECT_EQ(read_->delivery(sr.id)->substitution, "sent as Comprehensive SR");
  EXPECT_EQ(read_->delivery(sr.id)->state, DeliveryState::delivered);
  EXPECT_EQ(read_->delivery(pmap.id)->substitution, "the SC carries the heatmap");
  EXPECT_EQ(read_->delivery(pmap.id)->state, DeliveryState::delivered);
  EXPECT_EQ(read_->attempts_of(pmap.id).at(0).outcome, "permanent");
  // The SC, which pacs did not take, is queued for it now; the job waits for it.
  const auto next = outbox_->claim_due("pacs", {}, 10);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].output.sop_instance_uid, done.by_kind.at("sc").sop_instance_uid);
  EXPECT_EQ(next[0].substitution, "");
  // The archive takes everything: its SC is not queued twice, and a map without a carrier
  // changes nothing.
  auto archive = outbox_->claim_due("archive", {}, 10);
  ASSERT_EQ(archive.size(), 3u);
  for (const auto& d : archive)
    if (d.output.kind == "pmap") {
      EXPECT_EQ(outbox_->substitute_with(d.id, "sc", "the SC carries the heatmap"), 1);
      EXPECT_EQ(outbox_->substitute_with(next[0].id, "kos", "nothing carries it"), 0);
    }
  EXPECT_EQ(read_->delivery(next[0].id)->state, DeliveryState::sending);
  EXPECT_EQ(read_->deliveries_of_job(done.job_id).size(), 6u);  // 2 + 3 + pacs's SC
  outbox_->record_delivered(next[0].id, 0, "");
  for (const auto& d : archive)
    if (d.output.kind != "pmap") outbox_->record_delivered(d.id, 0, "");
  EXPECT_FALSE(read_->job(done.job_id)->times.delivered.empty());
}

TEST_P(StorageBehaviour, DeliveriesRecordEveryAttemptAndTheJobIsDeliveredWhenAllAre) {
  const auto done = finish_with_one_output(*jobs_, *store_, *files_, request("1.2.3.4.5", "1.2.3.9"), {{"pacs"}, {"archive"}});
  auto batch = outbox_->claim_due("pacs", {}, 10);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].state, DeliveryState::sending);
  EXPECT_EQ(batch[0].attempts, 1);
  EXPECT_EQ(batch[0].output.sop_instance_uid, done.output.sop_instance_uid);
  EXPECT_TRUE(outbox_->claim_due("pacs", {}, 10).empty());  // claimed once
  outbox_->record_retry(batch[0].id, 0xA700, "C-STORE answered 0xA700", "2026-11-28T00:00:10.000Z");
  EXPECT_TRUE(outbox_->claim_due("pacs", {batch[0].id}, 10).empty());  // held back
  batch = outbox_->claim_due("pacs", {}, 10);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].attempts, 2);
  outbox_->record_delivered(batch[0].id, 0, "");
  EXPECT_TRUE(read_->job(done.job_id)->times.delivered.empty());  // the archive still waits

  auto archive = outbox_->claim_due("archive", {}, 10);
  ASSERT_EQ(archive.size(), 1u);
  outbox_->record_delivered(archive[0].id, 0, "");
  EXPECT_FALSE(read_->job(done.job_id)->times.delivered.empty());

  const auto attempts = read_->attempts_of(batch[0].id);
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].outcome, "retryable");
  EXPECT_EQ(attempts[0].dimse_status, 0xA700);
  EXPECT_EQ(attempts[1].outcome, "delivered");
  EXPECT_EQ(attempts[1].dimse_status, 0);
  EXPECT_FALSE(attempts[1].finished_at.empty());

  const auto summaries = read_->destination_summaries();
  ASSERT_EQ(summaries.size(), 2u);
  EXPECT_EQ(summaries[1].name, "pacs");
  EXPECT_EQ(summaries[1].deliveries.at("delivered"), 1);
  ASSERT_TRUE(summaries[1].last_attempt);
  EXPECT_EQ(summaries[1].last_attempt->outcome, "delivered");
  const auto stats = read_->statistics();
  EXPECT_EQ(stats.attempts.at({"pacs", "retryable"}), 1);
  EXPECT_EQ(stats.attempts.at({"pacs", "delivered"}), 1);
  EXPECT_EQ(stats.deliveries.at({"archive", "delivered"}), 1);
  EXPECT_EQ(stats.stage_seconds.at("total").size(), 1u);
}

TEST_P(StorageBehaviour, SendingDeliveriesAreRequeuedAfterACrashAndDeadOnesCanBeSentAgain) {
  const auto done = finish_with_one_output(*jobs_, *store_, *files_, request("1.2.3.4.5", "1.2.3.9"), {{"pacs"}});
  const auto batch = outbox_->claim_due("pacs", {}, 10);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(outbox_->requeue_sending(), 1);
  EXPECT_EQ(read_->attempts_of(batch[0].id).at(0).outcome, "interrupted");
  const auto again = outbox_->claim_due("pacs", {}, 10);
  ASSERT_EQ(again.size(), 1u);
  outbox_->record_dead(again[0].id, true, 0xC000, "C-STORE answered 0xC000");
  auto deliveries = read_->deliveries_of_job(done.job_id);
  EXPECT_EQ(deliveries.at(0).state, DeliveryState::dead);
  EXPECT_NE(deliveries.at(0).last_status.find("0xC000"), std::string::npos);
  EXPECT_EQ(read_->delivery(again[0].id)->state, DeliveryState::dead);
  EXPECT_TRUE(outbox_->claim_due("pacs", {}, 10).empty());
  EXPECT_TRUE(outbox_->resend(again[0].id));
  EXPECT_FALSE(outbox_->resend(again[0].id));  // only a dead delivery can be re-sent
  deliveries = read_->deliveries_of_job(done.job_id);
  EXPECT_EQ(deliveries.at(0).state, DeliveryState::pending);
  EXPECT_EQ(deliveries.at(0).attempts, 0);
}

TEST_P(StorageBehaviour, PurgeWaitsForDeliveryAndKeepsDeadLetteredResults) {
  const auto done = finish_with_one_output(*jobs_, *store_, *files_, request("1.2.3.4.5", "1.2.3.9"), {{"pacs"}});
  const std::string future = "9999-12-31T00:00:00.000Z";
  EXPECT_EQ(store_->purge_instances_before(future), 0);  // the result is not delivered yet
  EXPECT_EQ(outbox_->purge_outputs_before(future), 0);
  const auto batch = outbox_->claim_due("pacs", {}, 10);
  outbox_->record_dead(batch.at(0).id, false, std::nullopt, "gave up");
  EXPECT_EQ(store_->purge_instances_before(future), 1);  // the received file
  EXPECT_EQ(outbox_->purge_outputs_before(future), 0);   // the dead result stays for a re-send
  EXPECT_TRUE(fs::exists(done.output.file_path));
  ASSERT_TRUE(outbox_->resend(batch.at(0).id));
  const auto again = outbox_->claim_due("pacs", {}, 10);
  outbox_->record_delivered(again.at(0).id, 0, "");
  EXPECT_EQ(outbox_->purge_outputs_before("2000-01-01T00:00:00.000Z"), 0);  // too young
  EXPECT_EQ(outbox_->purge_outputs_before(future), 1);  // now the result file too
  EXPECT_FALSE(fs::exists(done.output.file_path));
  EXPECT_TRUE(read_->outputs_of_job(done.job_id).at(0).file_path.empty());
  EXPECT_TRUE(outbox_->output_paths().empty());
}

TEST_P(StorageBehaviour, StartUpSweepRemovesResultFilesNoJobCommitted) {
  const auto done = finish_with_one_output(*jobs_, *store_, *files_, request("1.2.3.4.5", "1.2.3.9"), {});
  const std::string orphan = files_->write_durably({'x'}, FileArea::outputs, "never committed").value();
  fs::last_write_time(orphan, fs::file_time_type::clock::now() - std::chrono::hours(1));
  const auto sweep = store_->sweep_at_startup();
  EXPECT_EQ(sweep.orphan_files, 1);
  EXPECT_FALSE(fs::exists(orphan));
  EXPECT_TRUE(fs::exists(done.output.file_path));
}

TEST_P(StorageBehaviour, PreviousReportIsTheStudysLatestEarlierSr) {
  const auto first = finish_with_one_output(*jobs_, *store_, *files_, request("1.2.3.4.5", "1.2.3.9"), {});
  ASSERT_EQ(store_->store(request("1.2.3.4.6", "1.2.3.9")).outcome, StoreOutcome::stored);
  const std::int64_t second = jobs_->enqueue(jobs_->studies_awaiting_analysis().at(0));
  const auto previous = jobs_->previous_report(*read_->job(second));
  ASSERT_TRUE(previous);
  EXPECT_EQ(previous->sop_instance_uid, first.output.sop_instance_uid);
  EXPECT_EQ(read_->output(previous->id)->file_path, first.output.file_path);
  EXPECT_FALSE(jobs_->previous_report(*read_->job(first.job_id)));
}

TEST_P(StorageBehaviour, OneStoreServesSeveralThreadsAtOnce) {
  // The admin API shares one read model, job queue and outbox among its serving threads.
  for (int i = 0; i < 6; ++i) store_->store(request("1.2.3.4." + std::to_string(i), "1.2.3.9." + std::to_string(i)));
  for (const auto& study : jobs_->studies_awaiting_analysis()) jobs_->enqueue(study);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int round = 0; round < 40; ++round) {
        try {
          if (read_->statistics().instances != 6 || read_->list_jobs(JobFilter{}).total != 6 || !read_->job(1) ||
              jobs_->cancel(987654, "none") != ActionResult::not_found)
            ++failures;
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_P(StorageBehaviour, TheDatabaseAnswersTheWritabilityProbe) {
  const auto [writable, detail] = read_->database_writable();
  EXPECT_TRUE(writable) << detail;
  EXPECT_FALSE(backend_->description().empty());
}

TEST_P(StorageBehaviour, TheNodesViewShowsEachNodeWithWhatItHolds) {
  const auto registry = backend_->open_node_registry();
  registry->heartbeat({"node-a", "host-a", "0.1.0", "2026-12-02T00:00:00.000Z"});
  store_->store(request("1.2.3.4.5", "1.2.3.9"));
  const std::int64_t job_id = jobs_->enqueue(jobs_->studies_awaiting_analysis().at(0));
  ASSERT_TRUE(jobs_->claim_next({}));
  const auto nodes = read_->nodes(15);
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].id, "node-a");
  EXPECT_EQ(nodes[0].address, "host-a");
  EXPECT_EQ(nodes[0].version, "0.1.0");
  EXPECT_TRUE(nodes[0].alive);
  EXPECT_LT(nodes[0].seconds_since_heartbeat, 5.0);
  EXPECT_EQ(nodes[0].running_jobs, std::vector<std::int64_t>{job_id});
  EXPECT_EQ(jobs_->take_over_from_silent_nodes(15), 0);  // the node is alive: nothing to take over
  EXPECT_EQ(read_->job(job_id)->state, JobState::running);
}

// Not per backend: the file store alone. Nodes sharing a data directory each sweep only their
// own temp folder at start-up; another live node's file in progress stays.
TEST(FileStore, EachNodesStartUpSweepRemovesOnlyItsOwnTempFiles) {
  char pattern[] = "/tmp/evax-filestore-test-XXXXXX";
  const fs::path dir = ::mkdtemp(pattern);
  const FileStore node_a((dir / "data").string(), "node-a");
  const FileStore node_b((dir / "data").string(), "node-b");
  const std::string a_file = node_a.new_temp_path();
  const std::string b_file = node_b.new_temp_path();
  std::ofstream(a_file) << "a's file in progress";
  std::ofstream(b_file) << "b's file, left by a crash";
  EXPECT_NE(fs::path(a_file).parent_path(), fs::path(b_file).parent_path());
  EXPECT_EQ(node_b.sweep_temp(), 1);
  EXPECT_TRUE(fs::exists(a_file));
  EXPECT_FALSE(fs::exists(b_file));
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Backends, StorageBehaviour, ::testing::ValuesIn(backends_under_test()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace evax::storage
