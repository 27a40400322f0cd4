// The node on PostgreSQL while the database goes away (stopped, then crashed): C-STOREs are
// answered 0xA700 (the sender keeps the image and retries), never Success for something not
// committed; /readyz is 503 naming the database; once it is back the retries are stored, the
// jobs run and their results reach the destination, and nothing acknowledged is lost.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "destination.h"
#include "http_client.h"
#include "postgres_server.h"
#include "postgresql/connection.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kReadToken = "read-token-outage-41c2";

int refusals(const std::string& storescu_output) {
  int count = 0;
  for (std::size_t at = 0; (at = storescu_output.find("Refused: OutOfResources", at)) != std::string::npos; ++at) ++count;
  return count;
}

// Sends `files` until each is acknowledged (as a sender retrying 0xA700 would), at most
// `attempts` times a second apart; returns how many rounds were refused.
int send_until_stored(NodeHarness& node, const std::vector<std::string>& files, int attempts) {
  int refused_rounds = 0;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    const auto result = node.storescu(files, "-nh");
    if (store_successes(result.output) == static_cast<int>(files.size())) return refused_rounds;
    EXPECT_EQ(store_successes(result.output) + refusals(result.output), static_cast<int>(files.size())) << result.output;
    ++refused_rounds;
    std::this_thread::sleep_for(1s);
  }
  ADD_FAILURE() << "not stored after " << attempts << " attempts";
  return refused_rounds;
}

bool all_delivered(const json& status, std::size_t jobs) {
  if (!all_jobs_final(status, jobs)) return false;
  for (const auto& job : status["jobs"]) {
    if (job["outputs"].empty()) return false;
    for (const auto& output : job["outputs"])
      for (const auto& d : output["deliveries"])
        if (d["state"] != "delivered") return false;
  }
  return true;
}

TEST(DatabaseOutage, StoresDuringAPostgresqlOutageAreRefusedWithA700AndEverythingResumesAfterIt) {
  PostgresServer database("outage");
  NodeHarness node;
  Destination pacs(node.dir());
  pacs.start_storescp();
  // A password the trust-authenticated server ignores: it must never show in /readyz.
  node.config()["storage"]["database"] = {{"kind", "postgresql"}, {"dsn", database.dsn() + " password=pw-never-shown"}};
  node.config()["destinations"] = json::array({pacs.config_entry()});
  node.config()["delivery"] = {{"retry_initial_s", 1}, {"retry_max_s", 2}, {"connect_timeout_s", 3}, {"dimse_timeout_s", 3}};
  node.config()["http"] = {{"port", free_tcp_port()}, {"listen_address", "127.0.0.1"},
                           {"tokens", json::array({{{"sha256", run_command("printf %s " + std::string(kReadToken) +
                                                                           " | sha256sum").output.substr(0, 64)},
                                                    {"role", "read"}, {"name", "viewer"}}})}};
  node.start();
  const int http_port = node.config()["http"]["port"];
  const auto readyz = [&] { return http_call(http_port, {"GET", "/readyz", kReadToken}); };
  ASSERT_EQ(readyz().status, 200) << readyz().body;

  std::set<std::string> acknowledged;  // SOP Instance UIDs answered Success
  const auto study = [&](const std::string& prefix, int images) {
    std::vector<SyntheticImage> list;
    const std::string uid = new_uid(SITE_STUDY_UID_ROOT);
    for (int i = 0; i < images; ++i) {
      list.push_back(frontal(uid));
      list.back().sop_uid = new_uid();
      acknowledged.insert(list.back().sop_uid);  // once the loop below has them acknowledged
    }
    return write_images(node.dir(), prefix, list);
  };

  const auto before = study("before", 1);
  EXPECT_EQ(store_successes(node.storescu(before).output), 1);

  // Stopped: every store is refused with 0xA700, /readyz is 503 naming the database.
  database.stop();
  const auto during = study("during", 2);
  for (int round = 0; round < 2; ++round) {
    const auto refused = node.storescu(during, "-nh");  // on after a refusal
    EXPECT_EQ(store_successes(refused.output), 0) << refused.output;
    EXPECT_EQ(refusals(refused.output), 2) << refused.output;
  }
  const HttpAnswer not_ready = readyz();
  EXPECT_EQ(not_ready.status, 503);
  const json checks = json::parse(not_ready.body)["checks"];
  ASSERT_FALSE(checks.empty()) << not_ready.body;
  EXPECT_EQ(checks[0]["name"], "database");
  EXPECT_EQ(checks[0]["ok"], false);
  const std::string detail = checks[0]["detail"];
  EXPECT_NE(detail.find("postgresql host=127.0.0.1 port=" + std::to_string(database.port()) + " dbname=outage"),
            std::string::npos) << detail;
  EXPECT_EQ(detail.find("pw-never-shown"), std::string::npos) << detail;
  EXPECT_NE(node.log().find("database-unavailable"), std::string::npos);

  // Back: the sender's retries are stored.
  database.start();
  const int refused_after_start = send_until_stored(node, during, 10);
  std::printf("after a restart: %d refused round(s) before the stores succeeded\n", refused_after_start);
  EXPECT_EQ(readyz().status, 200);

  // A crash (immediate restart): stores resume by themselves, after at most a few refusals.
  database.restart_immediate();
  EXPECT_EQ(readyz().status, 200) << readyz().body;  // its probe reconnects rather than report the old connection
  const auto after_crash = study("crash", 1);
  const int refused_rounds = send_until_stored(node, after_crash, 20);
  std::printf("after an immediate restart: %d refused round(s) before the store succeeded\n", refused_rounds);
  EXPECT_EQ(refused_rounds, 0);  // the store reopens the connection the crash broke

  const json status = node.wait_for([](const json& s) { return all_delivered(s, 3); }, 180s);
  ASSERT_TRUE(all_delivered(status, 3)) << status.dump(2) << node.log();
  EXPECT_EQ(status["jobs"].size(), 3u);
  for (const auto& job : status["jobs"]) EXPECT_EQ(job["state"], "done") << job.dump(2);

  // Nothing acknowledged is lost: every acknowledged instance is indexed.
  storage::postgresql::Connection db(database.dsn());
  const auto indexed = db.execute("SELECT sop_instance_uid FROM instances");
  std::set<std::string> stored;
  for (int row = 0; row < indexed.rows(); ++row) stored.insert(indexed.text(row, 0));
  EXPECT_EQ(stored, acknowledged);
  EXPECT_EQ(readyz().status, 200);
  EXPECT_EQ(node.stop(), 0);
}

}  // namespace
}  // namespace evax::testing
