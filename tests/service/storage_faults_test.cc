// Faults below the node: the disk fills up or sits under the watermark (reliability.md #3),
// and other processes hold SQLite's locks (#16).
#include <gtest/gtest.h>

#include <sys/mount.h>

#include <future>
#include <thread>

#include "service_test_support.h"

namespace evax::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

TEST(StorageFaults, BelowTheWatermarkStoresAreRefusedWithA700AndNothingIsKept) {
  NodeHarness node;
  node.config()["storage"]["min_free_mb"] = std::int64_t{1} << 40;  // a watermark no disk clears
  node.start();
  const auto result = node.storescu(write_images(node.dir(), "full", {frontal(new_uid(SITE_STUDY_UID_ROOT))}));
  EXPECT_EQ(store_successes(result.output), 0);
  EXPECT_NE(result.output.find("Refused: OutOfResources"), std::string::npos) << result.output;
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances"), "0");
  EXPECT_TRUE(fs::is_empty(node.data_dir() / "tmp"));
  EXPECT_NE(node.log().find("below-watermark"), std::string::npos);
}

// A real full disk: the data directory on a small tmpfs the test mounts (needs root; skipped
// where mounting is not allowed).
TEST(StorageFaults, ADiskThatFillsUpAnswersA700KeepsNoPartialFileAndRecoversWhenSpaceReturns) {
  NodeHarness node;
  const fs::path mount_point = node.dir() / "small-disk";
  fs::create_directories(mount_point);
  if (::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=6m") != 0) GTEST_SKIP() << "cannot mount a tmpfs here";
  struct Unmount {
    fs::path path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point};
  node.config()["storage"]["data_dir"] = (mount_point / "data").string();
  node.config()["storage"]["min_free_mb"] = 0;  // let the disk itself run out
  node.config()["study"]["quiet_period_s"] = 600;
  node.start();

  // ~1 MiB instances until the 6 MiB disk is full.
  int stored = 0, refused = 0;
  std::string last_output;
  std::vector<std::string> files;
  for (int i = 0; i < 10; ++i) {
    SyntheticImage big = frontal(new_uid(SITE_STUDY_UID_ROOT));
    big.width = 720;
    big.height = 720;
    files = write_images(node.dir(), "fill" + std::to_string(i) + "_", {big});
    const auto result = node.storescu(files);
    last_output = result.output;
    if (store_successes(result.output) == 1) ++stored;
    else if (result.output.find("Refused: OutOfResources") != std::string::npos || result.output.find("Abort") != std::string::npos) ++refused;
  }
  std::printf("6 MiB disk: %d stored, %d refused\n", stored, refused);
  if (refused == 0) std::printf("%s\n%s\n", last_output.c_str(), node.log().c_str());
  EXPECT_GT(stored, 0);
  EXPECT_GT(refused, 0);
  const fs::path data = mount_point / "data";
  EXPECT_TRUE(fs::is_empty(data / "tmp"));
  EXPECT_EQ(std::stoi(node.sql("SELECT COUNT(*) FROM instances")), stored);
  int files_on_disk = 0;
  for (const auto& entry : fs::recursive_directory_iterator(data / "instances"))
    if (entry.is_regular_file()) ++files_on_disk;
  EXPECT_EQ(files_on_disk, stored);  // every file kept is indexed; no partial ones

  // Space comes back: the next store succeeds without a restart.
  for (const auto& entry : fs::recursive_directory_iterator(data / "instances"))
    if (entry.is_regular_file()) {
      fs::remove(entry.path());
      break;
    }
  SyntheticImage small = frontal(new_uid(SITE_STUDY_UID_ROOT));
  EXPECT_EQ(store_successes(node.storescu(write_images(node.dir(), "after", {small})).output), 1);
  node.stop();
}

TEST(StorageFaults, OtherProcessesHoldingSqliteLocksNeverTurnIntoFailedStores) {
  NodeHarness node;
  node.config()["study"]["quiet_period_s"] = 1;
  node.start();
  const std::string db = (node.data_dir() / "evax-node.sqlite").string();
  std::atomic<bool> done{false};
  // A writer that keeps the write lock for 1.5 s of every 2 s (a long soak, a backup tool), and
  // a reader polling like an admin page, both through the sqlite3 tool, while 40 instances
  // arrive and are analysed.
  auto writer = std::async(std::launch::async, [&] {
    int held = 0;
    while (!done) {
      run_command("sqlite3 " + db + " \"BEGIN IMMEDIATE; SELECT 1; \" \".shell sleep 1.5\" \"COMMIT;\"");
      ++held;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return held;
  });
  auto reader = std::async(std::launch::async, [&] {
    int reads = 0;
    while (!done) {
      run_command("sqlite3 -readonly " + db + " \"SELECT COUNT(*) FROM jobs; SELECT COUNT(*) FROM job_images;\"");
      ++reads;
    }
    return reads;
  });
  int acknowledged = 0;
  for (int batch = 0; batch < 8; ++batch) {
    std::vector<SyntheticImage> images;
    for (int i = 0; i < 5; ++i) images.push_back(frontal(new_uid(SITE_STUDY_UID_ROOT)));
    acknowledged += store_successes(node.storescu(write_images(node.dir(), "busy" + std::to_string(batch) + "_", images)).output);
  }
  const json status = node.wait_for([](const json& s) { return all_jobs_final(s, 40); }, std::chrono::seconds(240));
  done = true;
  const int locks = writer.get(), reads = reader.get();
  std::printf("40 stores and 40 jobs beside %d exclusive write locks of 1.5 s and %d reads\n", locks, reads);
  EXPECT_EQ(acknowledged, 40);
  EXPECT_GT(locks, 0);
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances"), "40");
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM jobs WHERE state = 'done'"), "40");
  EXPECT_EQ(node.log().find("SQLITE_BUSY"), std::string::npos);
  EXPECT_EQ(node.log().find("database is locked"), std::string::npos);
}

}  // namespace
}  // namespace evax::testing
