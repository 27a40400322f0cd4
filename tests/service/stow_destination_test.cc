// Results going back by STOW-RS (destinations[].kind "dicomweb"): to Orthanc with its DICOMweb
// plugin (the PACS), and to tests/tools/stow_destination_peer.py, a STOW-RS server that answers
// what the test chooses (503, a dropped connection, 400, 409, failure reasons, 401 without the
// right credentials) and records every request it gets.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>

#include "http_client.h"
#include "orthanc_peer.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kChest = std::string(EVAX_SOURCE_DIR) + "/examples/synthetic_chest_pa.dcm";
constexpr const char* kReadToken = "stow-read-token-41c7";
constexpr const char* kSegSopClass = "1.2.840.10008.5.1.4.1.1.66.4";

// The STOW-RS peer, on a loopback port of its own.
class StowPeer {
 public:
  StowPeer(const std::filesystem::path& dir, const std::string& script, const std::vector<std::string>& auth = {})
      : port_(free_tcp_port()), log_(dir / ("stow-" + std::to_string(port_) + ".jsonl")) {
    std::vector<std::string> argv{EVAX_TOOLS_PYTHON, std::string(EVAX_SOURCE_DIR) + "/tests/tools/stow_destination_peer.py",
                                  "--port", std::to_string(port_), "--log", log_.string(), "--script", script};
    argv.insert(argv.end(), auth.begin(), auth.end());
    process_.start(argv, (dir / ("stow-" + std::to_string(port_) + ".out")).string());
    for (int i = 0; i < 200 && process_.running(); ++i) {
      if (http_call(port_, {"GET", "/", "", "", "", "", 1s}).status != 0) return;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "the STOW-RS peer did not start";
  }
  ~StowPeer() {
    process_.signal(SIGKILL);
    process_.wait(10s);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/dicom-web/"; }
  // Every request so far, in order.
  std::vector<json> requests() const {
    std::vector<json> out;
    std::ifstream in(log_);
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
    return out;
  }

 private:
  int port_;
  std::filesystem::path log_;
  BackgroundProcess process_;
};

std::string sha256_of(const std::string& text) { return run_command("printf %s '" + text + "' | sha256sum").output.substr(0, 64); }

// A node with fast retries sending every result kind to one DICOMweb destination.
void configure(NodeHarness& node, json destination) {
  destination["name"] = "pacs";
  destination["kind"] = "dicomweb";
  node.config()["destinations"] = json::array({destination});
  node.config()["delivery"] = {{"retry_initial_s", 1}, {"retry_max_s", 2}, {"max_attempts", 4}, {"connect_timeout_s", 3}};
  node.config()["http"]["tokens"] = json::array({{{"sha256", sha256_of(kReadToken)}, {"role", "read"}, {"name", "test"}}});
}

std::string send_study(NodeHarness& node) {
  const std::string study = new_uid(SITE_STUDY_UID_ROOT);
  const auto files = write_images(node.dir(), "study", {frontal(study)});
  const CommandResult sent = node.storescu(files);
  EXPECT_EQ(store_successes(sent.output), 1) << sent.output;
  return study;
}

bool all_settled(const json& status, std::size_t outputs) {
  std::size_t settled = 0;
  for (const auto& job : status["jobs"])
    for (const auto& output : job["outputs"])
      for (const auto& d : output["deliveries"]) settled += d["state"] == "delivered" || d["state"] == "dead";
  return settled >= outputs;
}

json api_get(NodeHarness& node, const std::string& path) {
  const HttpAnswer answer = http_call(node.config()["http"]["port"].get<int>(), {"GET", path, kReadToken});
  EXPECT_EQ(answer.status, 200) << path << ": " << answer.body;
  return answer.status == 200 ? json::parse(answer.body) : json();
}

TEST(StowDestination, OrthancGetsSrScAndSegInTheSourceStudy) {
  OrthancPeer orthanc({}, true);
  NodeHarness node;
  configure(node, {{"url", orthanc.dicomweb_url()}});
  node.config()["model"]["segmenter"] = {{"checkpoint", "demo"}, {"threshold", 0.93}};
  node.start();
  ASSERT_EQ(store_successes(node.storescu({kChest}).output), 1);
  const std::string study = element(kChest, DCM_StudyInstanceUID);

  const json status = node.wait_for([](const json& s) { return delivered_outputs(s) >= 3; }, 300s);
  ASSERT_EQ(delivered_outputs(status), 3u) << status.dump(2);
  // Orthanc has them, in the study of the image they describe.
  std::multiset<std::string> classes;
  std::set<std::string> instances;
  for (const auto& tags : orthanc.study_instances_tags(study)) {
    if (tags["SOPInstanceUID"] == element(kChest, DCM_SOPInstanceUID)) continue;  // not sent there: only results are
    classes.insert(tags["SOPClassUID"].get<std::string>());
    instances.insert(tags["SOPInstanceUID"].get<std::string>());
    EXPECT_EQ(tags["StudyInstanceUID"], study);
  }
  EXPECT_EQ(classes.count(UID_Comprehensive3DSRStorage), 1u);
  EXPECT_EQ(classes.count(UID_SecondaryCaptureImageStorage), 1u);
  EXPECT_EQ(classes.count(kSegSopClass), 1u);
  EXPECT_EQ(classes.size(), 3u);

  // The API shows one attempt per result, delivered, with the HTTP answer, and the destination's kind.
  const json job = api_get(node, "/api/v1/jobs/" + std::to_string(status["jobs"][0]["id"].get<int>()));
  ASSERT_EQ(job["outputs"].size(), 3u) << job.dump(2);
  for (const auto& output : job["outputs"]) {
    EXPECT_EQ(instances.count(output["sop_instance_uid"].get<std::string>()), 1u) << output.dump(2);
    const auto& d = output["deliveries"][0];
    ASSERT_EQ(d["attempt_log"].size(), 1u) << d.dump(2);
    EXPECT_EQ(d["attempt_log"][0]["outcome"], "delivered");
    EXPECT_NE(d["attempt_log"][0]["detail"].get<std::string>().find("HTTP 200"), std::string::npos) << d.dump(2);
  }
  const json destinations = api_get(node, "/api/v1/destinations");
  EXPECT_EQ(destinations["destinations"][0]["kind"], "dicomweb");
  EXPECT_EQ(destinations["destinations"][0]["url"], orthanc.dicomweb_url());
  EXPECT_EQ(destinations["destinations"][0]["delivered"], 3);
}

TEST(StowDestination, UnavailableAndDroppedAreRetriedWithTheSameUidsThenDelivered) {
  NodeHarness node;
  StowPeer peer(node.dir(), "503,drop");
  configure(node, {{"url", peer.url()}});
  node.config()["reporting"]["outputs"] = {"sr"};  // one object: one clear sequence
  node.start();
  const std::string study = send_study(node);

  const json status = node.wait_for([](const json& s) { return all_settled(s, 1); }, 120s);
  ASSERT_TRUE(all_settled(status, 1)) << status.dump(2);
  const auto& d = status["jobs"][0]["outputs"][0]["deliveries"][0];
  EXPECT_EQ(d["state"], "delivered") << d.dump(2);
  ASSERT_EQ(d["attempt_log"].size(), 3u) << d.dump(2);
  EXPECT_EQ(d["attempt_log"][0]["outcome"], "retryable");
  EXPECT_NE(d["attempt_log"][0]["detail"].get<std::string>().find("HTTP 503"), std::string::npos) << d.dump(2);
  EXPECT_EQ(d["attempt_log"][1]["outcome"], "retryable");
  EXPECT_NE(d["attempt_log"][1]["detail"].get<std::string>().find("no answer"), std::string::npos) << d.dump(2);
  EXPECT_EQ(d["attempt_log"][2]["outcome"], "delivered");
  // Backoff: the attempts are at least retry_initial_s (1 s) apart.
  EXPECT_LT(d["attempt_log"][0]["finished"].get<std::string>(), d["attempt_log"][1]["started"].get<std::string>());

  // Three POSTs of one part each, to the study's URL, with the same SOP Instance UID every time.
  const auto requests = peer.requests();
  ASSERT_EQ(requests.size(), 3u);
  const std::string uid = status["jobs"][0]["outputs"][0]["sop_instance_uid"];
  for (const auto& r : requests) {
    EXPECT_EQ(r["path"], "/dicom-web/studies/" + study) << r.dump();
    EXPECT_NE(r["content_type"].get<std::string>().find("multipart/related; type=\"application/dicom\""), std::string::npos);
    ASSERT_EQ(r["parts"].size(), 1u) << r.dump();
    EXPECT_EQ(r["parts"][0]["sop_instance_uid"], uid);
    EXPECT_EQ(r["parts"][0]["study_instance_uid"], study);
    EXPECT_EQ(r["parts"][0]["content_type"], "application/dicom");
  }
}

struct AnswerCase {
  const char* name;
  const char* script;        // the peer's answers
  const char* final_state;
  int attempts;
  const char* last_outcome;
  const char* detail;        // in the last attempt's detail
  int failure_reason;        // recorded as the attempt's status; -1: none
};

void PrintTo(const AnswerCase& c, std::ostream* out) { *out << c.name; }

class StowAnswers : public ::testing::TestWithParam<AnswerCase> {};

TEST_P(StowAnswers, RetryableAndPermanentAnswersAreToldApart) {
  const AnswerCase& c = GetParam();
  NodeHarness node;
  StowPeer peer(node.dir(), c.script);
  configure(node, {{"url", peer.url()}});
  node.config()["reporting"]["outputs"] = {"sr"};
  node.start();
  send_study(node);

  const json status = node.wait_for([](const json& s) { return all_settled(s, 1); }, 120s);
  ASSERT_TRUE(all_settled(status, 1)) << status.dump(2);
  const auto& d = status["jobs"][0]["outputs"][0]["deliveries"][0];
  EXPECT_EQ(d["state"], c.final_state) << d.dump(2);
  ASSERT_EQ(d["attempt_log"].size(), static_cast<std::size_t>(c.attempts)) << d.dump(2);
  const auto& last = d["attempt_log"].back();
  EXPECT_EQ(last["outcome"], c.last_outcome) << d.dump(2);
  EXPECT_NE(last["detail"].get<std::string>().find(c.detail), std::string::npos) << d.dump(2);
  if (c.failure_reason >= 0) EXPECT_EQ(last["dimse_status"], c.failure_reason) << d.dump(2);
  else EXPECT_TRUE(last["dimse_status"].is_null()) << d.dump(2);
  EXPECT_EQ(peer.requests().size(), static_cast<std::size_t>(c.attempts));
}

INSTANTIATE_TEST_SUITE_P(
    Destination, StowAnswers,
    ::testing::Values(
        AnswerCase{"BadRequestIsDeadLettered", "400", "dead", 1, "permanent", "HTTP 400", -1},
        AnswerCase{"ConflictIsDeadLettered", "409", "dead", 1, "permanent", "HTTP 409", -1},
        AnswerCase{"FailureReasonC122IsDeadLettered", "fail:C122", "dead", 1, "permanent", "0xC122", 0xC122},
        AnswerCase{"OutOfResourcesIsRetried", "fail:A700,ok", "delivered", 2, "delivered", "HTTP 200", -1},
        AnswerCase{"AlwaysUnavailableGivesUpAfterMaxAttempts", "503,503,503,503", "dead", 4, "retryable",
                   "gave up after 4 attempts", -1},
        AnswerCase{"XmlAnswerIsRead", "xml", "delivered", 1, "delivered", "HTTP 200", -1}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(StowDestination, BearerTokenFromAFileAndBasicPasswordFromTheEnvironment) {
  NodeHarness node;
  const std::string token = "s3cret-bearer-9d1f", password = "s3cret-basic-77aa";
  StowPeer bearer(node.dir(), "", {"--bearer", token});
  StowPeer basic(node.dir(), "", {"--basic", "evax:" + password});
  StowPeer wrong(node.dir(), "", {"--bearer", "another-token"});
  std::ofstream(node.dir() / "token") << token << "\n";
  node.config()["destinations"] = json::array(
      {{{"name", "bearer"}, {"kind", "dicomweb"}, {"url", bearer.url()}, {"auth", {{"bearer_token_file", (node.dir() / "token").string()}}}},
       {{"name", "basic"}, {"kind", "dicomweb"}, {"url", basic.url()}, {"auth", {{"username", "evax"}, {"password_env", "EVAX_TEST_STOW_PASSWORD"}}}},
       {{"name", "wrong"}, {"kind", "dicomweb"}, {"url", wrong.url()}, {"auth", {{"bearer_token", token}}}}});
  node.config()["delivery"] = {{"retry_initial_s", 1}, {"retry_max_s", 2}, {"max_attempts", 4}};
  node.config()["http"]["tokens"] = json::array({{{"sha256", sha256_of(kReadToken)}, {"role", "read"}, {"name", "test"}}});
  node.config()["reporting"]["outputs"] = {"sr"};
  // The node reads it at start; `evax-node status` (which the harness runs) reads the config too.
  ::setenv("EVAX_TEST_STOW_PASSWORD", password.c_str(), 1);
  node.start({"EVAX_TEST_STOW_PASSWORD=" + password});
  send_study(node);

  const json status = node.wait_for([](const json& s) { return all_settled(s, 3); }, 120s);
  ASSERT_TRUE(all_settled(status, 3)) << status.dump(2);
  std::map<std::string, json> by_destination;
  for (const auto& d : status["jobs"][0]["outputs"][0]["deliveries"]) by_destination[d["destination"]] = d;
  EXPECT_EQ(by_destination["bearer"]["state"], "delivered") << status.dump(2);
  EXPECT_EQ(by_destination["basic"]["state"], "delivered") << status.dump(2);
  // The wrong credentials: 401, refused for good after one attempt, and the detail says why.
  EXPECT_EQ(by_destination["wrong"]["state"], "dead");
  EXPECT_EQ(by_destination["wrong"]["attempts"], 1);
  EXPECT_NE(by_destination["wrong"]["last_status"].get<std::string>().find("HTTP 401"), std::string::npos);
  ASSERT_EQ(bearer.requests().size(), 1u);
  EXPECT_TRUE(bearer.requests()[0]["authorized"].get<bool>());
  ASSERT_EQ(basic.requests().size(), 1u);
  EXPECT_TRUE(basic.requests()[0]["authorized"].get<bool>());
  ASSERT_EQ(wrong.requests().size(), 1u);
  EXPECT_FALSE(wrong.requests()[0]["authorized"].get<bool>());
  // No secret in the log or the effective config.
  const std::string log = node.log();
  EXPECT_EQ(log.find(token), std::string::npos);
  EXPECT_EQ(log.find(password), std::string::npos);
  const std::string effective = api_get(node, "/api/v1/config").dump();
  EXPECT_EQ(effective.find(token), std::string::npos) << effective;
  EXPECT_EQ(effective.find(password), std::string::npos) << effective;
  EXPECT_NE(effective.find("<redacted>"), std::string::npos) << effective;
}

}  // namespace
}  // namespace evax::testing
