// The admin API over real HTTP against a real node holding real jobs: every endpoint, filters
// and paging, 401/403 and the other error bodies, redaction, retry, cancel and re-send changing
// state as they should, /metrics checked against what the test caused, the audit log; TLS;
// and reliability.md #14 (no token, wrong token, many slow clients: DICOM ingest unaffected).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "destination.h"
#include "http_client.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kAdminToken = "admin-token-7f3e9c";
constexpr const char* kReadToken = "read-token-5a1b2d";

std::string sha256_of(const std::string& text) {
  return run_command("printf %s '" + text + "' | sha256sum").output.substr(0, 64);
}

json admin_http_config() {
  return {{"port", free_tcp_port()},
          {"listen_address", "127.0.0.1"},
          {"max_connections", 4},
          {"max_queued", 8},
          {"timeout_s", 3},
          {"tokens", json::array({{{"sha256", sha256_of(kAdminToken)}, {"role", "admin"}, {"name", "ops"}},
                                  {{"sha256", sha256_of(kReadToken)}, {"role", "read"}, {"name", "viewer"}}})}};
}

constexpr const char* kNodeId = "api-node-1";

// Prometheus text: "name{labels}" -> value, each sample's leading node="<kNodeId>" label
// checked and left out of the key.
std::map<std::string, double> parse_metrics(const std::string& text) {
  const std::string node_label = std::string("node=\"") + kNodeId + "\"";
  std::map<std::string, double> samples;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    std::string key = line.substr(0, space);
    const auto brace = key.find('{');
    if (brace == std::string::npos || key.compare(brace + 1, node_label.size(), node_label) != 0) {
      ADD_FAILURE() << "a sample without the node label first: " << line;
      continue;
    }
    key.erase(brace + 1, node_label.size());
    if (key[brace + 1] == ',') key.erase(brace + 1, 1);
    if (key[brace + 1] == '}') key.erase(brace, 2);
    samples[key] = std::stod(line.substr(space + 1));
  }
  return samples;
}

// One node for the API tests: a storescp destination and one that is never up (every result
// to it is dead-lettered after one attempt); studies that end done, skipped and failed.
class AdminApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    node_ = new NodeHarness;
    pacs_ = new Destination(node_->dir());
    pacs_->start_storescp();
    Destination offline(node_->dir(), "OFFLINE");  // its port stays closed
    node_->config()["destinations"] = json::array({pacs_->config_entry("pacs"), offline.config_entry("offline")});
    node_->config()["delivery"] = {{"max_attempts", 1}, {"retry_initial_s", 1}, {"retry_max_s", 1}, {"connect_timeout_s", 2}};
    node_->config()["http"] = admin_http_config();
    node_->config()["cluster"] = {{"node_id", kNodeId}, {"address", "api-host.example"}};
    node_->start();
    done_study_ = send(frontal(new_uid(SITE_STUDY_UID_ROOT)), "done");
    skipped_study_ = send(frontal(new_uid(SITE_STUDY_UID_ROOT), "LL"), "skipped");
    SyntheticImage broken = frontal(new_uid(SITE_STUDY_UID_ROOT));
    broken.photometric = "RGB";  // one sample per pixel: stored fine, never decodable
    failed_study_ = send(broken, "failed");
    node_->wait_for([](const json& s) { return all_jobs_final(s, 3) && all_deliveries_settled(s); }, 120s);
  }
  static void TearDownTestSuite() {
    delete pacs_;
    delete node_;
  }

  static std::string send(const SyntheticImage& image, const std::string& prefix) {
    const auto files = write_images(node_->dir(), prefix, {image});
    const CommandResult sent = node_->storescu(files);
    EXPECT_EQ(store_successes(sent.output), 1) << sent.output;
    return image.study_uid;
  }
  static bool all_deliveries_settled(const json& status) {
    for (const auto& job : status["jobs"])
      for (const auto& output : job["outputs"])
        for (const auto& d : output["deliveries"])
          if (d["state"] == "pending" || d["state"] == "sending") return false;
    return true;
  }
  static int port() { return node_->config()["http"]["port"].get<int>(); }
  static HttpAnswer get(const std::string& path, const std::string& token = kReadToken) {
    return http_call(port(), {"GET", path, token});
  }
  static HttpAnswer post(const std::string& path, const std::string& token = kAdminToken) {
    return http_call(port(), {"POST", path, token});
  }
  static json body(const HttpAnswer& answer) {
    try {
      return json::parse(answer.body);
    } catch (const std::exception&) {
      ADD_FAILURE() << "not JSON (" << answer.status << "): " << answer.body << answer.error;
      return json::object();
    }
  }
  // The job id of a study (its newest job).
  static std::int64_t job_of(const std::string& study) {
    const json jobs = body(get("/api/v1/studies/" + study))["jobs"];
    return jobs.empty() ? 0 : jobs.back()["id"].get<std::int64_t>();
  }
  static std::vector<json> audit_lines() {
    std::vector<json> lines;
    std::ifstream in(node_->data_dir() / "audit.log");
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    return lines;
  }

  static inline NodeHarness* node_ = nullptr;
  static inline Destination* pacs_ = nullptr;
  static inline std::string done_study_, skipped_study_, failed_study_;
};

TEST_F(AdminApi, HealthReadinessAndThePageNeedNoToken) {
  const HttpAnswer health = http_call(port(), {"GET", "/healthz"});
  EXPECT_EQ(health.status, 200) << health.error;
  EXPECT_EQ(body(health)["status"], "alive");
  EXPECT_EQ(body(http_call(port(), {"GET", "/readyz"})), json({{"ready", true}}));  // details need a token
  const json ready = body(http_call(port(), {"GET", "/readyz", kReadToken}));
  EXPECT_EQ(ready["ready"], true) << ready.dump(2);
  std::set<std::string> checks;
  for (const auto& c : ready["checks"]) {
    checks.insert(c["name"]);
    EXPECT_EQ(c["ok"], true) << c.dump();
  }
  EXPECT_EQ(checks, (std::set<std::string>{"database", "model", "disk", "listener"}));
  const HttpAnswer page = http_call(port(), {"GET", "/"});
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.header("content-type").rfind("text/html", 0), 0u);
  EXPECT_NE(page.header("content-security-policy").find("default-src 'self'"), std::string::npos);
  EXPECT_EQ(http_call(port(), {"GET", "/app.js"}).status, 200);
}

TEST_F(AdminApi, MissingWrongAndUnderprivilegedTokensAreRefusedWithoutLeaking) {
  const HttpAnswer none = http_call(port(), {"GET", "/api/v1/jobs"});
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(body(none)["error"]["code"], "unauthorized");
  EXPECT_NE(none.header("www-authenticate").find("Bearer"), std::string::npos);
  EXPECT_EQ(none.body.find(done_study_), std::string::npos);  // nothing leaks
  const HttpAnswer wrong = get("/api/v1/jobs", "not-a-token");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(body(wrong)["error"]["message"], "the bearer token is not valid");
  EXPECT_EQ(get("/metrics", "").status, 401);
  const HttpAnswer forbidden = post("/api/v1/jobs/1/retry", kReadToken);
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_EQ(body(forbidden)["error"]["code"], "forbidden");
  // The other error bodies: unknown path, wrong method, bad parameters, an oversized body.
  EXPECT_EQ(body(get("/api/v1/nothing"))["error"]["code"], "not_found");
  const HttpAnswer method = http_call(port(), {"DELETE", "/api/v1/jobs/1", kAdminToken});
  EXPECT_EQ(method.status, 405);
  EXPECT_EQ(body(method)["error"]["code"], "method_not_allowed");
  EXPECT_EQ(get("/api/v1/jobs/abc").status, 400);
  for (const char* bad : {"state=finished", "limit=0", "limit=500", "offset=-1", "since=yesterday", "colour=blue"}) {
    const HttpAnswer answer = get(std::string("/api/v1/jobs?") + bad);
    EXPECT_EQ(answer.status, 400) << bad;
    EXPECT_EQ(body(answer)["error"]["code"], "bad_request") << bad;
  }
  const HttpAnswer big = http_call(port(), {"POST", "/api/v1/jobs/1/retry", kAdminToken, std::string(200000, 'x')});
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(body(big)["error"]["code"], "payload_too_large");
  EXPECT_EQ(get("/api/v1/jobs/999999").status, 404);
}

TEST_F(AdminApi, JobsAreListedWithFiltersAndPages) {
  const json all = body(get("/api/v1/jobs"));
  ASSERT_EQ(all["total"], 3) << all.dump(2);
  std::vector<std::int64_t> ids;
  for (const auto& j : all["jobs"]) ids.push_back(j["id"]);
  EXPECT_TRUE(std::is_sorted(ids.rbegin(), ids.rend())) << "newest first";
  std::map<std::string, std::string> state_of;
  for (const auto& j : all["jobs"]) state_of[j["study_instance_uid"]] = j["state"];
  EXPECT_EQ(state_of[done_study_], "done");
  EXPECT_EQ(state_of[skipped_study_], "skipped");
  EXPECT_EQ(state_of[failed_study_], "failed");

  for (const char* state : {"done", "skipped", "failed"}) {
    const json only = body(get(std::string("/api/v1/jobs?state=") + state));
    ASSERT_EQ(only["total"], 1) << state;
    EXPECT_EQ(only["jobs"][0]["state"], state);
  }
  const json by_study = body(get("/api/v1/jobs?study=" + done_study_));
  ASSERT_EQ(by_study["total"], 1);
  EXPECT_EQ(by_study["jobs"][0]["images"]["analysed"], 1);
  EXPECT_EQ(by_study["jobs"][0]["outputs"]["total"], 4);  // SR and SC, to two destinations
  EXPECT_EQ(body(get("/api/v1/jobs?since=2000-01-01"))["total"], 3);
  EXPECT_EQ(body(get("/api/v1/jobs?since=2100-01-01"))["total"], 0);
  EXPECT_EQ(body(get("/api/v1/jobs?until=2000-01-01"))["total"], 0);
  std::set<std::int64_t> paged;
  for (int offset = 0; offset < 3; ++offset) {
    const json page = body(get("/api/v1/jobs?limit=1&offset=" + std::to_string(offset)));
    ASSERT_EQ(page["jobs"].size(), 1u);
    EXPECT_EQ(page["total"], 3);
    EXPECT_EQ(page["jobs"][0]["id"], ids[static_cast<std::size_t>(offset)]);
    paged.insert(page["jobs"][0]["id"].get<std::int64_t>());
  }
  EXPECT_EQ(paged.size(), 3u);
  EXPECT_TRUE(body(get("/api/v1/jobs?limit=1&offset=3"))["jobs"].empty());
}

// since/until are RFC 3339 instants (or a date: midnight UTC), compared as instants with the
// stored times (UTC, milliseconds), offsets and fractions included; impossible dates are 400.
TEST_F(AdminApi, SinceAndUntilAreInstants) {
  for (const char* bad : {"since=2020-13-45T99:99:99Z", "since=2026-02-30", "until=2025-02-29", "since=2026-11-28T10:00:00",
                          "until=2026-11-28T24:00:00Z", "since=2026-11-28T10:00Z", "until=2026-11-28T10:00:00+24:00", "since=20261128"}) {
    const HttpAnswer answer = get(std::string("/api/v1/jobs?") + bad);
    EXPECT_EQ(answer.status, 400) << bad;
    const std::string name = std::string(bad).substr(0, 5);
    EXPECT_NE(answer.body.find(name), std::string::npos) << bad << ": " << answer.body;
  }
  EXPECT_EQ(get("/api/v1/jobs?since=2024-02-29").status, 200);  // a leap day
  // The newest job's arrival, stored as 2026-11-28T12:00:00.123Z.
  const json newest = body(get("/api/v1/jobs?limit=1"))["jobs"][0];
  const std::string received = newest["times"]["received"];
  ASSERT_EQ(received.size(), 24u) << received;
  const std::string whole = received.substr(0, 19), millis = received.substr(20, 3);
  auto count = [&](const std::string& query) { return body(get("/api/v1/jobs?" + query))["total"].get<int>(); };
  const int all = count("limit=1");
  auto at_or_after = [&](const std::string& since) { return count("since=" + since + "&until=9999-12-31"); };
  // Exactly the stored instant is included by since and excluded by until; a tenth of a
  // microsecond later is not included by since (text comparison got both wrong).
  EXPECT_GE(at_or_after(received), 1);
  EXPECT_EQ(at_or_after(whole + "." + millis + "0001Z"), at_or_after(received) - 1);
  const int before = count("until=" + received);
  EXPECT_EQ(count("until=" + whole + "." + millis + "0001Z"), before + 1);
  // The same instant written with an offset: 2 hours ahead at +02:00, behind at -05:30.
  const std::string date = received.substr(0, 10);
  const int hour = std::stoi(received.substr(11, 2));
  if (hour < 21) {  // the local time stays on the same date: easy to write by hand
    char shifted[64];
    std::snprintf(shifted, sizeof shifted, "%sT%02d%s.%s+02:00", date.c_str(), hour + 2, received.substr(13, 6).c_str(), millis.c_str());
    EXPECT_EQ(at_or_after(std::string(shifted)), at_or_after(received)) << shifted;
    std::snprintf(shifted, sizeof shifted, "%sT%02d%s.%s%%2B02:00", date.c_str(), hour + 2, received.substr(13, 6).c_str(), millis.c_str());
    EXPECT_EQ(count(std::string("until=") + shifted), before) << shifted;
  }
  EXPECT_EQ(count("since=" + date), count("since=" + date + "T00:00:00Z"));
  EXPECT_EQ(count("since=" + date + "T00:00:00-23:59&until=" + date + "T00:00:00%2B23:59"), 0);  // until before since
  EXPECT_EQ(count("since=2000-01-01T00:00:00.000000001Z"), all);
}

TEST_F(AdminApi, OneJobAndAStudyCarryImagesDecisionsFindingsTimesAndDeliveries) {
  const json done = body(get("/api/v1/jobs/" + std::to_string(job_of(done_study_))));
  ASSERT_EQ(done["images"].size(), 1u) << done.dump(2);
  EXPECT_EQ(done["images"][0]["decision"], "analysed");
  EXPECT_EQ(done["images"][0]["findings"].size(), 14u);
  EXPECT_EQ(done["images"][0]["demo"], true);
  for (const char* stage : {"received", "complete", "queued", "started", "inferred", "reported", "finished"})
    EXPECT_TRUE(done["times"][stage].is_string()) << stage;
  std::map<std::string, int> kinds;
  for (const auto& output : done["outputs"]) {
    kinds[output["kind"]] += 1;
    ASSERT_EQ(output["deliveries"].size(), 2u);
    for (const auto& d : output["deliveries"]) {
      EXPECT_EQ(d["state"], d["destination"] == "pacs" ? "delivered" : "dead") << d.dump();
      EXPECT_GE(d["attempt_log"].size(), 1u);
    }
    if (output["kind"] == "sc") {
      const HttpAnswer png = get(output["preview"].get<std::string>());
      EXPECT_EQ(png.status, 200);
      EXPECT_EQ(png.header("content-type"), "image/png");
      EXPECT_EQ(png.body.substr(1, 3), "PNG");
    }
  }
  EXPECT_EQ(kinds, (std::map<std::string, int>{{"sc", 1}, {"sr", 1}}));

  const json skipped = body(get("/api/v1/jobs/" + std::to_string(job_of(skipped_study_))));
  EXPECT_EQ(skipped["images"][0]["reason_code"], "lateral-view");
  const json failed = body(get("/api/v1/jobs/" + std::to_string(job_of(failed_study_))));
  EXPECT_EQ(failed["images"][0]["reason_code"], "decode-failed");
  EXPECT_NE(failed["reason"].get<std::string>().find("no-decodable-image"), std::string::npos);

  const json study = body(get("/api/v1/studies/" + done_study_));
  EXPECT_EQ(study["study_instance_uid"], done_study_);
  ASSERT_EQ(study["jobs"].size(), 1u);
  EXPECT_EQ(study["jobs"][0]["id"], done["id"]);
  EXPECT_EQ(get("/api/v1/studies/1.2.3.4.5").status, 404);
  EXPECT_EQ(get("/api/v1/outputs/999999/preview.png").status, 404);
}

TEST_F(AdminApi, DestinationsConfigAndModels) {
  const json destinations = body(get("/api/v1/destinations"))["destinations"];
  ASSERT_EQ(destinations.size(), 2u);
  for (const auto& d : destinations) {
    if (d["name"] == "pacs") {
      EXPECT_EQ(d["delivered"], 2);
      EXPECT_EQ(d["dead"], 0);
      EXPECT_EQ(d["last_attempt"]["outcome"], "delivered");
      EXPECT_EQ(d["state"], "idle");
    } else {
      EXPECT_EQ(d["name"], "offline");
      EXPECT_EQ(d["ae_title"], "OFFLINE");
      EXPECT_GE(d["dead"].get<int>(), 2);
      EXPECT_EQ(d["last_attempt"]["outcome"], "retryable");
      EXPECT_EQ(d["state"], "failing");
    }
  }
  const HttpAnswer config = get("/api/v1/config");
  ASSERT_EQ(config.status, 200);
  const json effective = body(config);
  EXPECT_EQ(effective["dicom"]["port"], node_->port());
  EXPECT_EQ(effective["workers"]["count"], 1);                  // what is in force, defaults too
  EXPECT_EQ(effective["delivery"]["max_age_h"], 72);
  ASSERT_EQ(effective["http"]["tokens"].size(), 2u);
  EXPECT_EQ(effective["http"]["tokens"][0]["sha256"], "<redacted>");
  EXPECT_EQ(effective["http"]["tokens"][0]["name"], "ops");
  EXPECT_EQ(config.body.find(sha256_of(kAdminToken)), std::string::npos);
  EXPECT_EQ(config.body.find(sha256_of(kReadToken)), std::string::npos);
  const json models = body(get("/api/v1/models"))["models"];
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0]["role"], "classifier");
  EXPECT_EQ(models[0]["name"], "EVA-X-Ti");
  EXPECT_EQ(models[0]["demo"], true);
  EXPECT_EQ(models[0]["device"], "cpu");
  EXPECT_EQ(models[0]["labels"].size(), 14u);
}

TEST_F(AdminApi, NodesListThisNodeAliveInTheApiAndTheStatusCommand) {
  EXPECT_EQ(http_call(port(), {"GET", "/api/v1/nodes"}).status, 401);
  const HttpAnswer answer = get("/api/v1/nodes");
  ASSERT_EQ(answer.status, 200) << answer.body;
  const json nodes = body(answer);
  EXPECT_EQ(nodes["lease_s"], 15);  // cluster.lease_s's default
  ASSERT_EQ(nodes["nodes"].size(), 1u) << nodes.dump(2);
  const json& self = nodes["nodes"][0];
  EXPECT_EQ(self["id"], kNodeId);
  EXPECT_EQ(self["address"], "api-host.example");
  EXPECT_FALSE(self["version"].get<std::string>().empty());
  EXPECT_FALSE(self["started_at"].get<std::string>().empty());
  EXPECT_FALSE(self["last_heartbeat"].get<std::string>().empty());
  EXPECT_GE(self["seconds_since_heartbeat"].get<double>(), 0);
  EXPECT_LE(self["seconds_since_heartbeat"].get<double>(), 15);
  EXPECT_EQ(self["alive"], true);
  EXPECT_EQ(self["self"], true);
  EXPECT_EQ(self["running_jobs"], json::array());  // every job is final
  EXPECT_EQ(self["sending_deliveries"], 0);

  // `evax-node status` keeps "jobs" and adds the same "nodes".
  const json status = node_->status();
  EXPECT_FALSE(status["jobs"].empty());
  ASSERT_EQ(status["nodes"].size(), 1u) << status.dump(2);
  EXPECT_EQ(status["nodes"][0]["id"], kNodeId);
  EXPECT_EQ(status["nodes"][0]["alive"], true);
  EXPECT_EQ(status["nodes"][0]["self"], true);
}

TEST_F(AdminApi, RetryCancelAndResendChangeStateAsTheyShould) {
  const std::int64_t failed = job_of(failed_study_);
  const std::int64_t done = job_of(done_study_);
  const json before = body(get("/api/v1/jobs/" + std::to_string(failed)));

  // A done job cannot be retried, nor cancelled; unknown ids are 404.
  const HttpAnswer conflict = post("/api/v1/jobs/" + std::to_string(done) + "/retry");
  EXPECT_EQ(conflict.status, 409);
  EXPECT_NE(body(conflict)["error"]["message"].get<std::string>().find("this one is done"), std::string::npos);
  EXPECT_EQ(post("/api/v1/jobs/" + std::to_string(done) + "/cancel").status, 409);
  EXPECT_EQ(post("/api/v1/jobs/999999/retry").status, 404);

  // Keep the only worker busy with a larger study, so a retried job stays queued: then cancel it.
  std::vector<SyntheticImage> busy(4, frontal(new_uid(SITE_STUDY_UID_ROOT)));
  for (auto& image : busy) image.width = 2048, image.height = 2500;
  const auto busy_files = write_images(node_->dir(), "busy", busy);
  ASSERT_EQ(store_successes(node_->storescu(busy_files).output), 4);
  const std::string busy_study = busy[0].study_uid;
  const json running = node_->wait_for([&](const json& s) {
    for (const auto& j : s["jobs"])
      if (j["study_instance_uid"] == busy_study && j["state"] == "running") return true;
    return false;
  }, 60s);
  const HttpAnswer retried = post("/api/v1/jobs/" + std::to_string(failed) + "/retry");
  ASSERT_EQ(retried.status, 200) << retried.body;
  EXPECT_EQ(body(retried)["state"], "queued");
  EXPECT_EQ(body(retried)["attempts"], 0);
  EXPECT_EQ(body(retried)["reason"], "");
  const HttpAnswer cancelled = post("/api/v1/jobs/" + std::to_string(failed) + "/cancel");
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(body(cancelled)["state"], "failed");
  EXPECT_EQ(body(cancelled)["reason"], "cancelled: by ops through the admin API");

  // Retried again, it runs again (a new start time) and fails again for the same reason.
  ASSERT_EQ(post("/api/v1/jobs/" + std::to_string(failed) + "/retry").status, 200);
  const json rerun = node_->wait_for([&](const json& s) {
    for (const auto& j : s["jobs"])
      if (j["id"] == failed) return j["state"] == "failed" && j["reason"].get<std::string>().find("no-decodable") != std::string::npos;
    return false;
  }, 60s);
  const json after = body(get("/api/v1/jobs/" + std::to_string(failed)));
  EXPECT_EQ(after["state"], "failed") << after.dump(2);
  EXPECT_GT(after["times"]["started"].get<std::string>(), before["times"]["started"].get<std::string>());

  // Re-send: a dead-lettered delivery goes back to pending with no attempts; a delivered one cannot.
  std::int64_t dead = 0, delivered = 0;
  const json done_job = body(get("/api/v1/jobs/" + std::to_string(done)));
  for (const auto& output : done_job["outputs"])
    for (const auto& d : output["deliveries"]) {
      if (d["state"] == "dead") dead = d["id"].get<std::int64_t>();
      if (d["state"] == "delivered") delivered = d["id"].get<std::int64_t>();
    }
  ASSERT_GT(dead, 0) << done_job.dump(2);
  EXPECT_EQ(post("/api/v1/deliveries/" + std::to_string(dead) + "/resend", kReadToken).status, 403);
  const HttpAnswer resent = post("/api/v1/deliveries/" + std::to_string(dead) + "/resend");
  ASSERT_EQ(resent.status, 200) << resent.body;
  EXPECT_EQ(body(resent)["delivery"]["state"], "pending");
  EXPECT_EQ(body(resent)["delivery"]["attempts"], 0);
  EXPECT_EQ(post("/api/v1/deliveries/" + std::to_string(delivered) + "/resend").status, 409);
  EXPECT_EQ(post("/api/v1/deliveries/999999/resend").status, 404);
  // The destination is still down: one more attempt, dead again.
  node_->wait_for([&](const json& s) {
    for (const auto& j : s["jobs"])
      for (const auto& o : j["outputs"])
        for (const auto& d : o["deliveries"])
          if (d["id"] == dead) return d["state"] == "dead" && d["attempt_log"].size() >= 2;
    return false;
  }, 60s);
  std::size_t attempts = 0;
  const json after_resend = body(get("/api/v1/jobs/" + std::to_string(done)));
  for (const auto& output : after_resend["outputs"])
    for (const auto& d : output["deliveries"])
      if (d["id"] == dead) {
        attempts = d["attempt_log"].size();
        EXPECT_EQ(d["state"], "dead");
      }
  EXPECT_EQ(attempts, 2u) << after_resend.dump(2);
  node_->wait_for([&](const json& s) { return all_jobs_final(s, 4) && all_deliveries_settled(s); }, 120s);

  // Every action is in the audit log, with its outcome and the token's name.
  std::map<std::string, int> admin_outcomes;
  for (const auto& line : audit_lines())
    if (line["event"] == "admin") admin_outcomes[line["outcome"].get<std::string>() + " " + line.value("action", "")] += 1;
  EXPECT_GE(admin_outcomes["changed retry job"], 2);
  EXPECT_EQ(admin_outcomes["changed cancel job"], 1);
  EXPECT_GE(admin_outcomes["conflict retry job"], 1);
  EXPECT_EQ(admin_outcomes["changed resend delivery"], 1);
  EXPECT_GE(admin_outcomes["forbidden "], 1);
}

TEST_F(AdminApi, MetricsCountWhatTheTestCaused) {
  // One association refused for a wrong called AE title, on top of the stores; one request
  // without a token.
  node_->echoscu("-aec NOT-THE-NODE");
  EXPECT_EQ(http_call(port(), {"GET", "/api/v1/models"}).status, 401);
  node_->wait_for([](const json& s) { return all_jobs_final(s, 3) && all_deliveries_settled(s); }, 120s);
  const HttpAnswer answer = get("/metrics");
  ASSERT_EQ(answer.status, 200);
  EXPECT_EQ(answer.header("content-type").rfind("text/plain; version=0.0.4", 0), 0u);
  auto m = parse_metrics(answer.body);
  const json jobs = body(get("/api/v1/jobs?limit=200"));
  int instances = 0, done = 0, skipped = 0, failed = 0, analysed = 0, outputs = 0;
  for (const auto& j : jobs["jobs"]) {
    instances += j["images"]["analysed"].get<int>() + j["images"]["skipped"].get<int>() + j["images"]["failed"].get<int>();
    analysed += j["images"]["analysed"].get<int>();
    outputs += j["outputs"]["total"].get<int>() / 2;  // two destinations
    done += j["state"] == "done", skipped += j["state"] == "skipped", failed += j["state"] == "failed";
  }
  EXPECT_EQ(m["evax_instances_received_total"], instances);
  EXPECT_EQ(m["evax_process_instances_received_total"], instances);
  EXPECT_EQ(m["evax_studies_total"], jobs["total"].get<int>());
  EXPECT_EQ(m["evax_jobs{state=\"done\"}"], done);
  EXPECT_EQ(m["evax_jobs{state=\"skipped\"}"], skipped);
  EXPECT_EQ(m["evax_jobs{state=\"failed\"}"], failed);
  EXPECT_EQ(m["evax_queue_depth"], 0);
  EXPECT_GE(m["evax_associations_total{outcome=\"accepted\"}"], 3);
  EXPECT_GE(m["evax_associations_total{outcome=\"refused\"}"], 1);
  EXPECT_EQ(m["evax_inference_images_total"], analysed);
  EXPECT_EQ(m["evax_inference_batch_size_sum"], analysed);
  EXPECT_EQ(m["evax_outputs_total{kind=\"sr\"}"], done);
  EXPECT_EQ(m["evax_outputs_total{kind=\"sr\"}"] + m["evax_outputs_total{kind=\"sc\"}"], outputs);
  EXPECT_EQ(m["evax_delivery_attempts_total{destination=\"pacs\",outcome=\"delivered\"}"], outputs);
  EXPECT_EQ(m["evax_deliveries{destination=\"pacs\",state=\"delivered\"}"], outputs);
  EXPECT_EQ(m["evax_deliveries{destination=\"offline\",state=\"dead\"}"], outputs);
  EXPECT_GE(m["evax_delivery_failures_total{destination=\"offline\"}"], outputs);
  // Analysed jobs have an analysis stage; none was delivered everywhere (offline is dead).
  EXPECT_EQ(m["evax_stage_duration_seconds_count{stage=\"analysis\"}"], done);
  EXPECT_EQ(m["evax_stage_duration_seconds_bucket{stage=\"analysis\",le=\"+Inf\"}"], done);
  EXPECT_EQ(m["evax_stage_duration_seconds_count{stage=\"total\"}"], 0);
  EXPECT_GT(m["evax_disk_free_bytes"], 0);
  EXPECT_EQ(m["evax_disk_watermark_bytes"], 16.0 * 1024 * 1024);
  EXPECT_EQ((m["evax_model_info{role=\"classifier\",name=\"EVA-X-Ti\",task=\"cxr14\",device=\"cpu\",precision=\"fp32\",demo=\"true\",sha256=\"\"}"]), 1);
  const std::string version = body(get("/api/v1/nodes"))["nodes"][0]["version"];
  EXPECT_EQ((m["evax_node_info{address=\"api-host.example\",version=\"" + version + "\"}"]), 1);
  EXPECT_EQ(m["evax_cluster_nodes{state=\"alive\"}"], 1);
  EXPECT_EQ(m["evax_cluster_nodes{state=\"silent\"}"], 0);

  // The audit log has associations (both ways), stores and sends, and no patient identifiers.
  std::set<std::string> seen;
  for (const auto& line : audit_lines()) seen.insert(line["event"].get<std::string>() + " " + line["outcome"].get<std::string>());
  for (const char* expected : {"association accepted", "association refused", "store stored", "send delivered",
                               "send retryable-failure", "auth refused"})
    EXPECT_TRUE(seen.count(expected)) << expected;
  std::ifstream audit(node_->data_dir() / "audit.log");
  const std::string text((std::istreambuf_iterator<char>(audit)), {});
  EXPECT_EQ(text.find("SYNTHETIC"), std::string::npos);
  EXPECT_EQ(text.find("SYN0001"), std::string::npos);
}

// A self-signed certificate for localhost, made by openssl in `dir`.
std::pair<std::string, std::string> localhost_certificate(const std::filesystem::path& dir) {
  const std::string key = (dir / "http.key").string(), cert = (dir / "http.crt").string();
  run_command("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout " +
              key + " -out " + cert + " 2>&1");
  return {key, cert};
}

TEST(AdminApiTls, ServesHttpsOnlyAndRedactsTheKey) {
  NodeHarness node;
  const auto [key, cert] = localhost_certificate(node.dir());
  node.config()["http"] = admin_http_config();
  node.config()["http"]["tls"] = {{"certificate", cert}, {"key", key}};
  node.start();
  const int port = node.config()["http"]["port"];
  const HttpAnswer secure = http_call(port, {"GET", "/api/v1/config", kReadToken, "", "", cert});
  ASSERT_EQ(secure.status, 200) << secure.error;
  const json config = json::parse(secure.body);
  EXPECT_EQ(config["http"]["tls"]["key"], "<redacted>");
  EXPECT_EQ(config["http"]["tls"]["certificate"], cert);
  EXPECT_EQ(secure.body.find(key), std::string::npos);
  const HttpAnswer plain = http_call(port, {"GET", "/healthz", "", "", "", "", 5s});
  EXPECT_NE(plain.status, 200);  // plain HTTP to the TLS port gets no answer
  EXPECT_NE(node.log().find("tls=true"), std::string::npos);
}

// reliability.md #14: many slow HTTP clients hold every API thread and the queue, yet DICOM
// stores take as long as without them; afterwards the API answers again, still 401 without a token.
TEST(AdminApiReliability, SlowClientsDoNotDelayDicomIngest) {
  NodeHarness node;
  node.config()["http"] = admin_http_config();
  node.config()["study"]["quiet_period_s"] = 30;  // nothing else runs meanwhile
  node.start();
  const int http_port = node.config()["http"]["port"];
  std::vector<SyntheticImage> images(12, frontal(new_uid(SITE_STUDY_UID_ROOT)));
  for (auto& image : images) image.width = 1024, image.height = 1024;
  const auto first = write_images(node.dir(), "before", images);
  auto timed_store = [&](const std::vector<std::string>& files) {
    const auto start = std::chrono::steady_clock::now();
    const CommandResult sent = node.storescu(files);
    EXPECT_EQ(store_successes(sent.output), static_cast<int>(files.size())) << sent.output;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const double baseline = timed_store(first);

  // 40 clients that open a connection and send a request one byte every 300 ms.
  std::atomic<bool> stop{false};
  std::vector<std::thread> slow;
  for (int i = 0; i < 40; ++i) {
    slow.emplace_back([&] {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(static_cast<std::uint16_t>(http_port));
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
        const std::string request = "GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        for (std::size_t k = 0; !stop && k < 1000; ++k) {
          const char c = k < request.size() ? request[k] : 'a';
          if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) break;
          std::this_thread::sleep_for(300ms);
        }
      }
      ::close(fd);
    });
  }
  std::this_thread::sleep_for(2s);
  std::vector<SyntheticImage> more(12, frontal(new_uid(SITE_STUDY_UID_ROOT)));
  for (auto& image : more) image.width = 1024, image.height = 1024;
  const double loaded = timed_store(write_images(node.dir(), "during", more));
  stop = true;
  for (auto& t : slow) t.join();
  std::printf("12 stores: %.2f s alone, %.2f s beside 40 slow HTTP clients\n", baseline, loaded);
  EXPECT_LT(loaded, baseline * 2 + 1.0);

  // The API is back: no token is still 401, and it says nothing about the studies.
  const auto start = std::chrono::steady_clock::now();
  HttpAnswer answer;
  while (answer.status == 0 && std::chrono::steady_clock::now() - start < 30s) answer = http_call(http_port, {"GET", "/api/v1/jobs"});
  EXPECT_EQ(answer.status, 401) << answer.error;
  EXPECT_EQ(answer.body.find(images[0].study_uid), std::string::npos);
  EXPECT_EQ(http_call(http_port, {"GET", "/healthz"}).status, 200);
}

}  // namespace
}  // namespace evax::testing
