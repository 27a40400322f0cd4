// Pulling studies from a PACS (issue 16): Orthanc holds the studies, the node finds them by
// C-FIND and retrieves them by C-MOVE (to its own AE title) or C-GET, analyses them as if they
// had been pushed and sends the results back to Orthanc. A sweep over 20 studies queues
// exactly the ones the node has not analysed; DCMTK's findscu finds the same studies as the
// node's C-FIND; pynetdicom serves as a second, independent PACS; bad requests change nothing.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcfilefo.h>

#include <csignal>
#include <set>
#include <thread>

#include "http_client.h"
#include "orthanc_peer.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kAdminToken = "retrieval-admin-token-31c";
constexpr const char* kReadToken = "retrieval-read-token-8d2";

std::string sha256_of(const std::string& text) { return run_command("printf %s '" + text + "' | sha256sum").output.substr(0, 64); }

// A node that knows `pacs` as a source twice (C-MOVE and C-GET) and as its destination, and
// that Orthanc knows as the modality "evax" (a C-MOVE's destination).
void configure(NodeHarness& node, const OrthancPeer& pacs) {
  node.config()["http"]["tokens"] = json::array({{{"sha256", sha256_of(kAdminToken)}, {"role", "admin"}, {"name", "ops"}},
                                                 {{"sha256", sha256_of(kReadToken)}, {"role", "read"}, {"name", "viewer"}}});
  node.config()["destinations"] =
      json::array({{{"name", "orthanc"}, {"ae_title", pacs.ae_title()}, {"host", "127.0.0.1"}, {"port", pacs.dicom_port()}}});
  node.config()["sources"] = json::array(
      {{{"name", "pacs"}, {"ae_title", pacs.ae_title()}, {"host", "127.0.0.1"}, {"port", pacs.dicom_port()}},
       {{"name", "pacs-get"}, {"ae_title", pacs.ae_title()}, {"host", "127.0.0.1"}, {"port", pacs.dicom_port()}, {"retrieve", "c-get"}}});
  node.config()["retrieval"] = {{"per_minute", 6000}, {"max_concurrent", 2}, {"timeout_s", 60}};
}

// One small frontal image as a study of its own, with the study attributes a modality fills in.
std::string write_study(const fs::path& dir, const std::string& study_uid, const std::string& accession, const std::string& date,
                        const std::string& modality = "DX") {
  SyntheticImage image = frontal(study_uid);
  image.modality = modality;
  image.patient_id = "RET-" + accession;
  const std::string path = write_images(dir, "study-" + accession + "-", {image}).front();
  DcmFileFormat file;
  if (file.loadFile(path.c_str()).bad()) throw std::runtime_error("cannot read " + path);
  file.loadAllDataIntoMemory();
  file.getDataset()->putAndInsertString(DCM_AccessionNumber, accession.c_str());
  file.getDataset()->putAndInsertString(DCM_StudyDate, date.c_str());
  if (file.saveFile(path.c_str(), EXS_LittleEndianExplicit).bad()) throw std::runtime_error("cannot write " + path);
  return path;
}

int http_port(NodeHarness& node) { return node.config()["http"]["port"].get<int>(); }

HttpAnswer post_json(NodeHarness& node, const std::string& path, const std::string& body, const std::string& token = kAdminToken) {
  return http_call(http_port(node), {"POST", path, token, body, "application/json"});
}

json get_json(NodeHarness& node, const std::string& path) {
  const HttpAnswer answer = http_call(http_port(node), {"GET", path, kReadToken});
  if (answer.status != 200) throw std::runtime_error(path + " answered " + std::to_string(answer.status) + ": " + answer.body);
  return json::parse(answer.body);
}

// Polls GET /api/v1/retrievals/{id} until it is done or failed (or `timeout`); the last answer.
json wait_for_retrieval(NodeHarness& node, std::int64_t id, std::chrono::seconds timeout = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  json r;
  do {
    r = get_json(node, "/api/v1/retrievals/" + std::to_string(id))["retrieval"];
    if (r["state"] == "done" || r["state"] == "failed") return r;
    std::this_thread::sleep_for(100ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return r;
}

// The analysed study's job, once its results have reached the destination.
bool delivered(const json& status, const std::string& study_uid) {
  for (const auto& job : status["jobs"])
    if (job["study_instance_uid"] == study_uid && job["state"] == "done" && !job["times"]["delivered"].is_null()) return true;
  return false;
}

std::set<std::string> modalities_in_orthanc(OrthancPeer& pacs, const std::string& study_uid) {
  std::set<std::string> out;
  for (const auto& tags : pacs.study_instances_tags(study_uid)) out.insert(tags.value("Modality", ""));
  return out;
}

TEST(Retrieval, CMoveByUidAndByAccessionIsAnalysedAndItsResultsGoBackToOrthanc) {
  NodeHarness node;
  OrthancPeer pacs({{"evax", node.ae_title(), "127.0.0.1", node.port()}});
  configure(node, pacs);
  node.start();
  const std::string by_uid = new_uid(SITE_STUDY_UID_ROOT), by_accession = new_uid(SITE_STUDY_UID_ROOT);
  pacs.upload(write_study(node.dir(), by_uid, "ACC-UID-1", "20261120"));
  pacs.upload(write_study(node.dir(), by_accession, "ACC-ACC-2", "20261121"));

  const HttpAnswer first = post_json(node, "/api/v1/studies/retrieve", json{{"source", "pacs"}, {"study_instance_uid", by_uid}}.dump());
  ASSERT_EQ(first.status, 202) << first.body;
  const json a = json::parse(first.body)["retrieval"];
  EXPECT_EQ(a["method"], "c-move");
  EXPECT_EQ(a["accession_number"], "ACC-UID-1");  // as Orthanc answered the C-FIND
  const HttpAnswer second = post_json(node, "/api/v1/studies/retrieve", json{{"source", "pacs"}, {"accession_number", "ACC-ACC-2"}}.dump());
  ASSERT_EQ(second.status, 202) << second.body;
  const json b = json::parse(second.body)["retrieval"];
  EXPECT_EQ(b["study_instance_uid"], by_accession);

  for (const json& queued : {a, b}) {
    const json done = wait_for_retrieval(node, queued["id"].get<std::int64_t>());
    EXPECT_EQ(done["state"], "done") << done.dump(2) << node.log() << pacs.log();
    EXPECT_EQ(done["instances"]["retrieved"], 1);
    EXPECT_EQ(done["instances"]["failed"], 0);
    EXPECT_EQ(done["requested_by"], "ops");
  }
  const json status = node.wait_for([&](const json& s) { return delivered(s, by_uid) && delivered(s, by_accession); }, 60s);
  EXPECT_TRUE(delivered(status, by_uid)) << status.dump(2);
  EXPECT_TRUE(delivered(status, by_accession)) << status.dump(2);
  // The results are in Orthanc, in the studies they were retrieved from.
  for (const auto& study : {by_uid, by_accession}) {
    const auto modalities = modalities_in_orthanc(pacs, study);
    EXPECT_TRUE(modalities.count("SR")) << study;
    EXPECT_TRUE(modalities.count("DX")) << study;
  }
  // The instances came in through the listener, from Orthanc's C-STORE sub-operations.
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances WHERE calling_ae_title = 'ORTHANC'"), "2");
  EXPECT_EQ(get_json(node, "/api/v1/retrievals")["retrievals"].size(), 2u);
}

TEST(Retrieval, CGetBringsTheStudyOnTheNodesOwnAssociationThroughTheSameIntake) {
  NodeHarness node;
  OrthancPeer pacs({{"evax", node.ae_title(), "127.0.0.1", node.port()}});
  configure(node, pacs);
  node.start();
  const std::string study = new_uid(SITE_STUDY_UID_ROOT);
  pacs.upload(write_study(node.dir(), study, "ACC-GET-1", "20261122"));
  // A second image in the study that the intake refuses (not chest): received, kept, skipped.
  SyntheticImage hand = frontal(study);
  hand.body_part = "HAND";
  hand.series_uid = new_uid(SITE_SERIES_UID_ROOT);
  pacs.upload(write_images(node.dir(), "hand", {hand}).front());

  const HttpAnswer answer = post_json(node, "/api/v1/studies/retrieve", json{{"source", "pacs-get"}, {"study_instance_uid", study}}.dump());
  ASSERT_EQ(answer.status, 202) << answer.body;
  const json done = wait_for_retrieval(node, json::parse(answer.body)["retrieval"]["id"].get<std::int64_t>());
  EXPECT_EQ(done["method"], "c-get");
  EXPECT_EQ(done["state"], "done") << done.dump(2) << node.log();
  EXPECT_EQ(done["instances"]["retrieved"], 2);
  const json status = node.wait_for([&](const json& s) { return delivered(s, study); }, 60s);
  ASSERT_TRUE(delivered(status, study)) << status.dump(2);
  // The same intake as a push: both instances indexed, from the source's AE title, the hand skipped.
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances WHERE calling_ae_title = 'ORTHANC'"), "2");
  std::set<std::string> decisions;
  for (const auto& image : status["jobs"][0]["images"]) decisions.insert(image["decision"].get<std::string>());
  EXPECT_EQ(decisions, (std::set<std::string>{"analysed", "skipped"}));
  EXPECT_TRUE(modalities_in_orthanc(pacs, study).count("SR"));
}

TEST(Retrieval, BadRequestsGetAClearErrorAndChangeNothing) {
  NodeHarness node;
  OrthancPeer pacs({{"evax", node.ae_title(), "127.0.0.1", node.port()}});
  configure(node, pacs);
  node.start();
  const std::string study = new_uid(SITE_STUDY_UID_ROOT);
  pacs.upload(write_study(node.dir(), study, "ACC-BAD-1", "20261123"));

  struct Case {
    std::string path, body;
    int status;
    std::string code, message_part;
  };
  const std::vector<Case> cases = {
      {"/api/v1/studies/retrieve", json{{"source", "nowhere"}, {"study_instance_uid", study}}.dump(), 404, "unknown_source", "nowhere"},
      {"/api/v1/studies/retrieve", json{{"source", "pacs"}, {"study_instance_uid", new_uid(SITE_STUDY_UID_ROOT)}}.dump(), 404,
       "not_found", "Study Instance UID"},
      {"/api/v1/studies/retrieve", json{{"source", "pacs"}, {"accession_number", "NO-SUCH-ACC"}}.dump(), 404, "not_found", "Accession"},
      {"/api/v1/studies/retrieve", json{{"source", "pacs"}, {"study_instance_uid", "1.2.3..4"}}.dump(), 400, "bad_request", "DICOM UID"},
      {"/api/v1/studies/retrieve", json{{"source", "pacs"}, {"study_instance_uid", "../../etc/passwd"}}.dump(), 400, "bad_request", "DICOM UID"},
      {"/api/v1/studies/retrieve", json{{"source", "pacs"}, {"accession_number", "*"}}.dump(), 400, "bad_request", "accession_number"},
      {"/api/v1/studies/retrieve", json{{"source", "pacs"}, {"study_instance_uid", study}, {"accession_number", "ACC-BAD-1"}}.dump(), 400,
       "bad_request", "exactly one"},
      {"/api/v1/studies/retrieve", "{not json", 400, "bad_request", "JSON object"},
      {"/api/v1/studies/retrieve", json{{"source", "pacs"}, {"study_instance_uid", study}, {"priority", 1}}.dump(), 400, "bad_request", "priority"},
      {"/api/v1/sweeps", json{{"source", "nowhere"}}.dump(), 404, "unknown_source", "nowhere"},
      {"/api/v1/sweeps", json{{"source", "pacs"}, {"from", "2026-02-30"}}.dump(), 400, "bad_request", "from"},
      {"/api/v1/sweeps", json{{"source", "pacs"}, {"from", "2026-11-30"}, {"to", "2026-11-01"}}.dump(), 400, "bad_request", "after"},
      {"/api/v1/sweeps", json{{"source", "pacs"}, {"modalities", {"CT"}}}.dump(), 400, "bad_request", "CR and DX"},
      {"/api/v1/sweeps", json{{"source", "pacs"}, {"max_studies", 0}}.dump(), 400, "bad_request", "max_studies"},
  };
  for (const auto& c : cases) {
    const HttpAnswer answer = post_json(node, c.path, c.body);
    EXPECT_EQ(answer.status, c.status) << c.body << " -> " << answer.body;
    const json error = json::parse(answer.body, nullptr, false);
    ASSERT_TRUE(error.is_object()) << answer.body;
    EXPECT_EQ(error["error"]["code"], c.code) << c.body;
    EXPECT_NE(error["error"]["message"].get<std::string>().find(c.message_part), std::string::npos) << c.body << " -> " << answer.body;
  }
  // The read role may look, not retrieve.
  EXPECT_EQ(post_json(node, "/api/v1/studies/retrieve", json{{"source", "pacs"}, {"study_instance_uid", study}}.dump(), kReadToken).status, 403);
  // Nothing was written or retrieved.
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM retrievals"), "0");
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM sweeps"), "0");
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances"), "0");
  EXPECT_TRUE(get_json(node, "/api/v1/retrievals")["retrievals"].empty());
  EXPECT_TRUE(get_json(node, "/api/v1/sweeps")["sweeps"].empty());
  EXPECT_EQ(http_call(http_port(node), {"GET", "/api/v1/sweeps/1", kReadToken}).status, 404);
}

// Milliseconds since midnight of a stored time ("2026-12-02T12:00:00.123Z").
long millis_of_day(const std::string& iso) {
  return ((std::stol(iso.substr(11, 2)) * 60 + std::stol(iso.substr(14, 2))) * 60 + std::stol(iso.substr(17, 2))) * 1000 +
         std::stol(iso.substr(20, 3));
}

TEST(Retrieval, SweepOverTwentyStudiesQueuesExactlyThoseNotAnalysedYet) {
  NodeHarness node;
  OrthancPeer pacs({{"evax", node.ae_title(), "127.0.0.1", node.port()}});
  configure(node, pacs);
  node.config()["retrieval"]["per_minute"] = 600;  // one start every 100 ms, checked below
  node.start();
  std::vector<std::string> studies, orthanc_ids;
  for (int i = 0; i < 20; ++i) {
    studies.push_back(new_uid(SITE_STUDY_UID_ROOT));
    char date[16];
    std::snprintf(date, sizeof date, "202611%02d", i + 1);
    orthanc_ids.push_back(pacs.upload(write_study(node.dir(), studies.back(), "SW-" + std::to_string(i), date, i % 2 ? "CR" : "DX")));
  }
  // Outside the sweep: too old, and not CR or DX.
  pacs.upload(write_study(node.dir(), new_uid(SITE_STUDY_UID_ROOT), "SW-OLD", "20250105"));
  pacs.upload(write_study(node.dir(), new_uid(SITE_STUDY_UID_ROOT), "SW-MR", "20261110", "MR"));

  // Five of them were pushed to the node and analysed before.
  pacs.send_to_modality("evax", {orthanc_ids.begin(), orthanc_ids.begin() + 5});
  const json before = node.wait_for([](const json& s) { return all_jobs_final(s, 5); }, 60s);
  ASSERT_TRUE(all_jobs_final(before, 5)) << before.dump(2);
  for (const auto& job : before["jobs"]) ASSERT_EQ(job["state"], "done") << job.dump(2);

  const json query = {{"source", "pacs"}, {"modalities", {"CR", "DX"}}, {"body_part", "CHEST"}, {"from", "2026-11-01"}, {"to", "2026-11-30"}};
  const HttpAnswer answer = post_json(node, "/api/v1/sweeps", query.dump());
  ASSERT_EQ(answer.status, 202) << answer.body;
  const json sweep = json::parse(answer.body)["sweep"];
  EXPECT_EQ(sweep["found"], 20);
  EXPECT_EQ(sweep["already_analysed"], 5);
  EXPECT_EQ(sweep["queued"], 15);
  std::set<std::string> queued;
  for (const auto& r : sweep["studies"]) queued.insert(r["study_instance_uid"].get<std::string>());
  EXPECT_EQ(queued, std::set<std::string>(studies.begin() + 5, studies.end()));

  // DCMTK's findscu, the same query to the same PACS, finds the same 20 studies.
  const auto found = run_command("findscu -S -v -to 10 -aet " + node.ae_title() + " -aec " + pacs.ae_title() +
                                 " -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k \"ModalitiesInStudy=CR\\\\DX\"" +
                                 " -k StudyDate=20261101-20261130 127.0.0.1 " + std::to_string(pacs.dicom_port()));
  ASSERT_EQ(found.status, 0) << found.output;
  std::set<std::string> by_findscu;
  for (std::size_t at = 0; (at = found.output.find("(0020,000d) UI [", at)) != std::string::npos;) {
    at += 16;
    std::string uid = found.output.substr(at, found.output.find(']', at) - at);
    while (!uid.empty() && uid.back() == '\0') uid.pop_back();  // an odd-length UID's padding, as findscu prints it
    by_findscu.insert(uid);
  }
  EXPECT_EQ(by_findscu, std::set<std::string>(studies.begin(), studies.end())) << found.output;

  // Every queued study is retrieved, no faster than retrieval.per_minute allows.
  const std::string path = "/api/v1/sweeps/" + std::to_string(sweep["id"].get<std::int64_t>());
  json progress;
  for (int i = 0; i < 600 && (progress = get_json(node, path)["sweep"])["state"] != "done"; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(progress["state"], "done") << progress.dump(2);
  EXPECT_EQ(progress["retrievals"]["done"], 15) << progress.dump(2);
  EXPECT_EQ(progress["instances"]["retrieved"], 15);
  std::vector<long> starts;
  for (const auto& r : progress["studies"]) starts.push_back(millis_of_day(r["started_at"].get<std::string>()));
  std::sort(starts.begin(), starts.end());
  for (std::size_t i = 1; i < starts.size(); ++i) EXPECT_GE(starts[i] - starts[i - 1], 95) << "retrieval " << i;
  EXPECT_EQ(get_json(node, "/api/v1/sweeps")["sweeps"][0]["queued"], 15);
}

// pynetdicom's Query/Retrieve SCP (tests/tools/qr_scp.py) as AE PYPACS on `port`, serving the
// files in `folder` and moving to the node; true once it answers a C-ECHO.
bool start_python_pacs(BackgroundProcess& pypacs, NodeHarness& node, const fs::path& folder, int port, const std::string& delay = "0") {
  pypacs.start({EVAX_TOOLS_PYTHON, std::string(EVAX_SOURCE_DIR) + "/tests/tools/qr_scp.py", std::to_string(port), "PYPACS",
                folder.string(), "--move", node.ae_title() + "=127.0.0.1:" + std::to_string(node.port()), "--delay", delay},
               (node.dir() / "pypacs.log").string());
  for (int i = 0; i < 200; ++i) {
    if (run_command("echoscu -to 2 -aec PYPACS 127.0.0.1 " + std::to_string(port), 10s).status == 0) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

// The node's sources: PYPACS by C-MOVE ("py") and by C-GET ("py-get").
void use_python_pacs(NodeHarness& node, int port) {
  node.config()["http"]["tokens"] = json::array({{{"sha256", sha256_of(kAdminToken)}, {"role", "admin"}, {"name", "ops"}},
                                                 {{"sha256", sha256_of(kReadToken)}, {"role", "read"}, {"name", "viewer"}}});
  node.config()["sources"] = json::array(
      {{{"name", "py"}, {"ae_title", "PYPACS"}, {"host", "127.0.0.1"}, {"port", port}},
       {{"name", "py-get"}, {"ae_title", "PYPACS"}, {"host", "127.0.0.1"}, {"port", port}, {"retrieve", "c-get"}}});
}

TEST(Retrieval, FromAnIndependentPacsByCMoveAndCGet) {
  NodeHarness node;
  const fs::path folder = node.dir() / "pypacs";
  fs::create_directories(folder);
  const std::string moved = new_uid(SITE_STUDY_UID_ROOT), got = new_uid(SITE_STUDY_UID_ROOT);
  write_study(folder, moved, "PY-MOVE", "20261124");
  write_study(folder, got, "PY-GET", "20261125", "CR");
  const int port = free_tcp_port();
  BackgroundProcess pypacs;
  ASSERT_TRUE(start_python_pacs(pypacs, node, folder, port)) << run_command("cat " + (node.dir() / "pypacs.log").string()).output;
  use_python_pacs(node, port);
  node.start();

  const HttpAnswer move = post_json(node, "/api/v1/studies/retrieve", json{{"source", "py"}, {"accession_number", "PY-MOVE"}}.dump());
  ASSERT_EQ(move.status, 202) << move.body;
  const HttpAnswer get = post_json(node, "/api/v1/studies/retrieve", json{{"source", "py-get"}, {"study_instance_uid", got}}.dump());
  ASSERT_EQ(get.status, 202) << get.body;
  for (const auto& answer : {move, get}) {
    const json done = wait_for_retrieval(node, json::parse(answer.body)["retrieval"]["id"].get<std::int64_t>());
    EXPECT_EQ(done["state"], "done") << done.dump(2) << run_command("cat " + (node.dir() / "pypacs.log").string()).output;
    EXPECT_EQ(done["instances"]["retrieved"], 1);
  }
  const json status = node.wait_for([&](const json& s) { return all_jobs_final(s, 2); }, 60s);
  std::set<std::string> analysed;
  for (const auto& job : status["jobs"])
    if (job["state"] == "done") analysed.insert(job["study_instance_uid"].get<std::string>());
  EXPECT_EQ(analysed, (std::set<std::string>{moved, got})) << status.dump(2);
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances WHERE calling_ae_title = 'PYPACS'"), "2");
  pypacs.signal(SIGTERM);
  pypacs.wait(5s);
}

TEST(Retrieval, ARetrievalTheNodeStoppedInIsAskedForAgainAfterARestart) {
  NodeHarness node;
  const fs::path folder = node.dir() / "pypacs";
  fs::create_directories(folder);
  const std::string study = new_uid(SITE_STUDY_UID_ROOT);
  write_study(folder, study, "PY-RESTART", "20261126");
  const int port = free_tcp_port();
  BackgroundProcess pypacs;
  // Each C-MOVE waits 3 s before sending: time to kill the node in the middle of one.
  ASSERT_TRUE(start_python_pacs(pypacs, node, folder, port, "3")) << run_command("cat " + (node.dir() / "pypacs.log").string()).output;
  use_python_pacs(node, port);
  node.start();
  const HttpAnswer answer = post_json(node, "/api/v1/studies/retrieve", json{{"source", "py"}, {"study_instance_uid", study}}.dump());
  ASSERT_EQ(answer.status, 202) << answer.body;
  const std::int64_t id = json::parse(answer.body)["retrieval"]["id"].get<std::int64_t>();
  json r;
  for (int i = 0; i < 100 && (r = get_json(node, "/api/v1/retrievals/" + std::to_string(id))["retrieval"])["state"] != "running"; ++i)
    std::this_thread::sleep_for(50ms);
  ASSERT_EQ(r["state"], "running") << r.dump(2);
  node.kill9();

  node.start();  // the same data directory: the retrieval it was running is queued again
  EXPECT_NE(node.log().find("retrievals_requeued=1"), std::string::npos);
  const json done = wait_for_retrieval(node, id);
  EXPECT_EQ(done["state"], "done") << done.dump(2) << run_command("cat " + (node.dir() / "pypacs.log").string()).output;
  EXPECT_EQ(done["attempts"], 2);
  EXPECT_EQ(done["instances"]["retrieved"], 1);
  const json status = node.wait_for([&](const json& s) { return all_jobs_final(s, 1); }, 60s);
  ASSERT_EQ(status["jobs"].size(), 1u) << status.dump(2);
  EXPECT_EQ(status["jobs"][0]["study_instance_uid"], study);
  EXPECT_EQ(status["jobs"][0]["state"], "done");
  pypacs.signal(SIGTERM);
  pypacs.wait(5s);
}

}  // namespace
}  // namespace evax::testing
