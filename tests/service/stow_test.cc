// STOW-RS intake against the real node: a study stowed is stored and analysed like a C-STORE'd
// one and its results reach the destination; tokens and roles; bad requests get the standard
// answers and store nothing; kill -9 during uploads loses nothing acknowledged.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "destination.h"
#include "http_client.h"
#include "orthanc_peer.h"
#include "raw_http.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kStoreToken = "stow-store-token-91fe";
constexpr const char* kReadToken = "stow-read-token-22ab";
constexpr const char* kAdminToken = "stow-admin-token-5c0d";
const std::string kBoundary = "evax-stow-test-7d1b";
const std::string kContentType = "multipart/related; type=\"application/dicom\"; boundary=" + kBoundary;

std::string sha256_of(const std::string& text) { return run_command("printf %s '" + text + "' | sha256sum").output.substr(0, 64); }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::string multipart(const std::vector<std::string>& parts) {
  std::string body;
  for (const auto& part : parts) body += "--" + kBoundary + "\r\nContent-Type: application/dicom\r\n\r\n" + part + "\r\n";
  return body + "--" + kBoundary + "--\r\n";
}

void configure(NodeHarness& node, int max_instances = 20, std::int64_t max_body_bytes = 8 << 20) {
  node.config()["http"] = {{"port", free_tcp_port()},
                           {"listen_address", "127.0.0.1"},
                           {"tokens", json::array({{{"sha256", sha256_of(kStoreToken)}, {"role", "store"}, {"name", "modality"}},
                                                   {{"sha256", sha256_of(kReadToken)}, {"role", "read"}, {"name", "viewer"}},
                                                   {{"sha256", sha256_of(kAdminToken)}, {"role", "admin"}, {"name", "ops"}}})}};
  node.config()["stow"] = {{"max_instances", max_instances}, {"max_body_bytes", max_body_bytes}, {"timeout_s", 10}};
}

int http_port(NodeHarness& node) { return node.config()["http"]["port"].get<int>(); }

HttpAnswer stow(NodeHarness& node, const std::string& body, const std::string& token = kStoreToken,
                const std::string& path = "/dicomweb/studies", const std::string& content_type = kContentType,
                const std::string& accept = "application/dicom+json") {
  HttpCall call{"POST", path, token, body, content_type};
  if (!accept.empty()) call.headers.push_back({"Accept", accept});
  return http_call(http_port(node), call);
}

// No instance file, no index row, no temp file: nothing of a refused request is kept.
void expect_nothing_stored(NodeHarness& node) {
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances"), "0");
  for (const char* area : {"instances", "quarantine", "tmp"})
    if (fs::exists(node.data_dir() / area))
      for (const auto& entry : fs::recursive_directory_iterator(node.data_dir() / area))
        EXPECT_FALSE(entry.is_regular_file()) << entry.path();
}

TEST(StowRs, AStudyStowedIsAnalysedAndItsResultsReachTheDestination) {
  NodeHarness node;
  Destination pacs(node.dir());
  pacs.start_storescp();
  configure(node);
  node.config()["destinations"] = json::array({pacs.config_entry()});
  node.start();
  const std::string study = new_uid(SITE_STUDY_UID_ROOT);
  const auto files = write_images(node.dir(), "stow", {frontal(study, "PA"), frontal(study, "AP")});

  const HttpAnswer answer = stow(node, multipart({read_bytes(files[0]), read_bytes(files[1])}), kStoreToken, "/dicomweb/studies/" + study);
  ASSERT_EQ(answer.status, 200) << answer.error << answer.body;
  EXPECT_EQ(answer.header("content-type"), "application/dicom+json");
  const json body = json::parse(answer.body);
  ASSERT_EQ(body["00081199"]["Value"].size(), 2u) << answer.body;
  EXPECT_FALSE(body.contains("00081198"));
  // Durable and indexed before the answer, as a C-STORE's would be.
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances"), "2");
  EXPECT_EQ(node.sql("SELECT calling_ae_title FROM instances LIMIT 1"), "STOW-RS");

  const json status = node.wait_for([](const json& s) { return delivered_outputs(s) >= 2; }, 120s);
  ASSERT_EQ(status["jobs"].size(), 1u) << status.dump(2);
  const json& job = status["jobs"][0];
  EXPECT_EQ(job["state"], "done");
  EXPECT_EQ(job["study_instance_uid"], study);
  int analysed = 0;
  for (const auto& image : job["images"]) analysed += image["decision"] == "analysed";
  EXPECT_EQ(analysed, 2);
  // The results arrived at the destination in the stowed study.
  int results = 0;
  for (const auto& entry : fs::directory_iterator(pacs.received_dir())) {
    EXPECT_EQ(element(entry.path(), DCM_StudyInstanceUID), study) << entry.path();
    ++results;
  }
  EXPECT_GE(results, 2);
  // The audit log names the STOW-RS intake as the store's origin.
  EXPECT_NE(read_bytes((node.data_dir() / "audit.log").string()).find("STOW-RS@127.0.0.1"), std::string::npos);
  EXPECT_EQ(node.stop(), 0);
}

// Issue 16's round trip: a study STOW-RS'd to the node by a client comes back to Orthanc (its
// DICOMweb plugin, a `dicomweb` destination) by STOW-RS as SR, SC and SEG in the same study. The
// example chest image and the demo lung model, as in stow_destination_test, so that there is a SEG.
TEST(StowRs, AStudyStowedComesBackToOrthancByStowRsAsSrScAndSegInTheSameStudy) {
  const std::string chest = std::string(EVAX_SOURCE_DIR) + "/examples/synthetic_chest_pa.dcm";
  const std::string study = element(chest, DCM_StudyInstanceUID);
  const std::string source_sop = element(chest, DCM_SOPInstanceUID);
  OrthancPeer orthanc({}, /*dicomweb=*/true);
  NodeHarness node;
  configure(node);
  node.config()["destinations"] = json::array({{{"name", "pacs"}, {"kind", "dicomweb"}, {"url", orthanc.dicomweb_url()}}});
  node.config()["delivery"] = {{"retry_initial_s", 1}, {"retry_max_s", 2}, {"max_attempts", 4}, {"connect_timeout_s", 3}};
  node.config()["model"]["segmenter"] = {{"checkpoint", "demo"}, {"threshold", 0.93}};
  node.start();

  const HttpAnswer answer = stow(node, multipart({read_bytes(chest)}), kStoreToken, "/dicomweb/studies/" + study);
  ASSERT_EQ(answer.status, 200) << answer.error << answer.body;
  ASSERT_EQ(json::parse(answer.body)["00081199"]["Value"].size(), 1u) << answer.body;
  EXPECT_EQ(node.sql("SELECT calling_ae_title FROM instances"), "STOW-RS");

  const json status = node.wait_for([](const json& s) { return delivered_outputs(s) >= 3; }, 300s);
  ASSERT_EQ(delivered_outputs(status), 3u) << status.dump(2);
  ASSERT_EQ(status["jobs"].size(), 1u) << status.dump(2);
  EXPECT_EQ(status["jobs"][0]["study_instance_uid"], study);
  std::set<std::string> sent;
  for (const auto& output : status["jobs"][0]["outputs"]) sent.insert(output["sop_instance_uid"].get<std::string>());
  ASSERT_EQ(sent.size(), 3u) << status.dump(2);

  // Orthanc has exactly the node's three results (the stowed image was not sent there), in the
  // stowed study, one of each kind.
  std::multiset<std::string> classes;
  std::set<std::string> received;
  for (const auto& tags : orthanc.study_instances_tags(study)) {
    EXPECT_EQ(tags["StudyInstanceUID"], study);
    EXPECT_NE(tags["SOPInstanceUID"], source_sop);
    classes.insert(tags["SOPClassUID"].get<std::string>());
    received.insert(tags["SOPInstanceUID"].get<std::string>());
  }
  EXPECT_EQ(received, sent);
  EXPECT_EQ(classes.count(UID_Comprehensive3DSRStorage), 1u);
  EXPECT_EQ(classes.count(UID_SecondaryCaptureImageStorage), 1u);
  EXPECT_EQ(classes.count("1.2.840.10008.5.1.4.1.1.66.4"), 1u);  // Segmentation Storage
  EXPECT_EQ(classes.size(), 3u);
  EXPECT_EQ(node.stop(), 0);
}

TEST(StowRs, OnlyStoreAndAdminTokensMayStowAndAStoreTokenMayDoNothingElse) {
  NodeHarness node;
  configure(node);
  node.start();
  const auto files = write_images(node.dir(), "roles", {frontal(new_uid(SITE_STUDY_UID_ROOT))});
  const std::string body = multipart({read_bytes(files[0])});
  const HttpAnswer anonymous = stow(node, body, "");
  EXPECT_EQ(anonymous.status, 401) << anonymous.body;
  EXPECT_EQ(anonymous.header("www-authenticate"), "Bearer realm=\"evax-node\"");
  EXPECT_EQ(stow(node, body, "not-a-token").status, 401);
  const HttpAnswer reader = stow(node, body, kReadToken);
  EXPECT_EQ(reader.status, 403) << reader.body;
  EXPECT_EQ(json::parse(reader.body)["error"]["code"], "forbidden");
  expect_nothing_stored(node);
  // The store role reaches nothing but STOW-RS.
  EXPECT_EQ(http_call(http_port(node), {"GET", "/api/v1/jobs", kStoreToken}).status, 403);
  EXPECT_EQ(http_call(http_port(node), {"POST", "/api/v1/jobs/1/retry", kStoreToken}).status, 403);
  EXPECT_EQ(http_call(http_port(node), {"GET", "/api/v1/jobs", kReadToken}).status, 200);
  EXPECT_EQ(http_call(http_port(node), {"GET", "/dicomweb/studies", kStoreToken}).status, 405);
  // Store and admin tokens may.
  EXPECT_EQ(stow(node, body, kStoreToken).status, 200);
  EXPECT_EQ(stow(node, body, kAdminToken).status, 200);  // the same instance again: stored once
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances"), "1");
}

TEST(StowRs, BadRequestsGetTheStandardAnswersAndStoreNothing) {
  NodeHarness node;
  configure(node, /*max_instances=*/3, /*max_body_bytes=*/1 << 20);
  node.start();
  const std::string study = new_uid(SITE_STUDY_UID_ROOT);
  const auto files = write_images(node.dir(), "bad", {frontal(study), frontal(study), frontal(study), frontal(study)});
  std::vector<std::string> images;
  for (const auto& f : files) images.push_back(read_bytes(f));
  const std::string good = multipart({images[0]});

  // Wrong content types: 415.
  EXPECT_EQ(stow(node, images[0], kStoreToken, "/dicomweb/studies", "application/dicom").status, 415);
  EXPECT_EQ(stow(node, good, kStoreToken, "/dicomweb/studies", "multipart/related; type=\"application/dicom+json\"; boundary=" + kBoundary).status, 415);
  EXPECT_EQ(stow(node, good, kStoreToken, "/dicomweb/studies", "application/json").status, 415);
  // A boundary past the node's 200 characters (RFC 2046: 70; Orthanc sends 73, accepted): 400.
  const std::string long_boundary(201, 'b');
  EXPECT_EQ(stow(node, good, kStoreToken, "/dicomweb/studies", "multipart/related; type=\"application/dicom\"; boundary=" + long_boundary).status, 400);
  // An Accept the node cannot answer: 406.
  EXPECT_EQ(stow(node, good, kStoreToken, "/dicomweb/studies", kContentType, "text/html").status, 406);
  // Malformed multipart: 400.
  for (const std::string& broken : {good.substr(0, good.size() - 12), std::string("no parts here"), "--" + kBoundary + "--\r\n",
                                    "--" + kBoundary + "\r\nContent-Type application/dicom\r\n\r\nxx\r\n--" + kBoundary + "--"}) {
    const HttpAnswer answer = stow(node, broken);
    EXPECT_EQ(answer.status, 400) << answer.body;
  }
  // A hostile study UID in the path: 400.
  for (const char* uid : {"1.2..3", "1.2.3%00", "abc", "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25.26.27"})
    EXPECT_EQ(stow(node, good, kStoreToken, std::string("/dicomweb/studies/") + uid).status, 400) << uid;
  // Too many instances: 413; a body over stow.max_body_bytes: 413 before it is read.
  EXPECT_EQ(stow(node, multipart(images)).status, 413);
  const RawAnswer oversized = raw_http(http_port(node), std::string("POST /dicomweb/studies HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ") +
                                                            kStoreToken + "\r\nContent-Type: " + kContentType +
                                                            "\r\nContent-Length: 2000000\r\n\r\n--" + kBoundary,
                                       {.deadline = 5000ms, .stop_after_first_answer = true});
  EXPECT_EQ(oversized.status, 413) << oversized.bytes.substr(0, 300);
  // Hostile files (bad UIDs, not DICOM, not CR/DX), all failed: 409 with each one's reason.
  auto hostile = [&](const std::string& sop_uid) {
    SyntheticImage image = frontal(study);
    image.sop_uid = sop_uid;
    const std::string path = (node.dir() / "hostile.dcm").string();
    write_synthetic_dicom(path, image);
    return read_bytes(path);
  };
  SyntheticImage ct = frontal(study);
  ct.sop_class_uid = UID_CTImageStorage;
  write_synthetic_dicom((node.dir() / "ct.dcm").string(), ct);
  const HttpAnswer refused = stow(node, multipart({hostile("../../../../tmp/evax-stow-escape"), "DICM but not really",
                                                    read_bytes((node.dir() / "ct.dcm").string())}));
  ASSERT_EQ(refused.status, 409) << refused.body;
  const json failed = json::parse(refused.body)["00081198"]["Value"];
  ASSERT_EQ(failed.size(), 3u);
  EXPECT_EQ(failed[0]["00081197"]["Value"][0], 0xC000);
  EXPECT_EQ(failed[1]["00081197"]["Value"][0], 0xC000);
  EXPECT_EQ(failed[2]["00081197"]["Value"][0], 0x0122);
  // Instances of another study than the path names: 0xA900 each, answered as XML.
  const HttpAnswer mixed = stow(node, multipart({images[1], hostile("1.2.3.4.5.6")}), kStoreToken,
                                "/dicomweb/studies/" + new_uid(SITE_STUDY_UID_ROOT), kContentType, "application/dicom+xml");
  EXPECT_EQ(mixed.status, 409) << mixed.body;
  EXPECT_EQ(mixed.header("content-type"), "application/dicom+xml");
  EXPECT_NE(mixed.body.find("<Value number=\"1\">43264</Value>"), std::string::npos) << mixed.body;
  EXPECT_FALSE(fs::exists("/tmp/evax-stow-escape"));
  expect_nothing_stored(node);
  // And the node still takes a good one.
  EXPECT_EQ(stow(node, good).status, 200);
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances"), "1");
}

// Orthanc's DICOMweb plugin, as a PACS that forwards by STOW-RS, sends a study to the node. Its
// boundary is 73 characters long (over RFC 2046's 70, which the node once refused with 400, and
// Orthanc's job then failed with HTTP 500). Chunked transfers are off in its server entry: the
// node takes bodies with a Content-Length only (chunked: 411).
TEST(StowRs, OrthancsDicomwebPluginStowsAStudyThatIsAnalysed) {
  NodeHarness node;
  configure(node);
  node.start();
  OrthancPeer orthanc({}, true, {{"DicomWeb",
                            {{"Enable", true},
                             {"Root", "/dicom-web/"},
                             {"Servers",
                              {{"evax",
                                {{"Url", "http://127.0.0.1:" + std::to_string(http_port(node)) + "/dicomweb/"},
                                 {"HttpHeaders", {{"Authorization", std::string("Bearer ") + kStoreToken}}},
                                 {"ChunkedTransfers", false}}}}}}}});
  const std::string study = new_uid(SITE_STUDY_UID_ROOT);
  const auto files = write_images(node.dir(), "orthanc", {frontal(study, "PA"), frontal(study, "AP")});
  for (const auto& f : files) orthanc.upload(f);
  const json studies = orthanc.get("/studies");
  ASSERT_EQ(studies.size(), 1u) << studies.dump();
  const json sent = orthanc.post("/dicom-web/servers/evax/stow", json{{"Resources", studies}, {"Synchronous", true}}.dump());
  EXPECT_EQ(sent.value("InstancesCount", ""), "2") << sent.dump();
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances WHERE calling_ae_title = 'STOW-RS'"), "2") << sent.dump() << orthanc.log();
  const json status = node.wait_for([](const json& s) { return all_jobs_final(s, 1); }, 120s);
  ASSERT_EQ(status["jobs"].size(), 1u);
  EXPECT_EQ(status["jobs"][0]["state"], "done");
  EXPECT_EQ(status["jobs"][0]["study_instance_uid"], study);
}

TEST(StowRsKillNine, ShortRunLosesNothingAcknowledgedAndLeavesNoTempFiles) {
  const auto result = run_command(std::string(EVAX_PYTHON) + " " + EVAX_SOURCE_DIR + "/scripts/kill9_trials.py --node " +
                                      EVAX_NODE_BINARY + " --via stow --trials 3 --senders 2 --per-sender 20",
                                  std::chrono::seconds(300));
  std::printf("%s", result.output.c_str());
  EXPECT_EQ(result.status, 0);
  EXPECT_NE(result.output.find("acknowledged-but-lost: 0"), std::string::npos);
  EXPECT_NE(result.output.find("orphan temp files after restart: 0"), std::string::npos);
  // The trials did acknowledge STOW-RS uploads (a run where every request failed proves nothing).
  EXPECT_EQ(result.output.find("instances acknowledged: 0\n"), std::string::npos);
}

}  // namespace
}  // namespace evax::testing
