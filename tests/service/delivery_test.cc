// Results going back: the node sends the SR and SC of every analysed study to its destinations,
// through faults a PACS really produces (down for a long time, failure statuses, refusals,
// timeouts, a node killed in the middle of sending).
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcfilefo.h>

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "destination.h"
#include "http_client.h"
#include "service_test_support.h"
#include "validator_tools.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// Every output of every job, as {SOP Instance UID -> delivery state at `destination`}.
std::map<std::string, std::string> delivery_states(const json& status, const std::string& destination = "pacs") {
  std::map<std::string, std::string> states;
  for (const auto& job : status["jobs"])
    for (const auto& output : job["outputs"])
      for (const auto& d : output["deliveries"])
        if (d["destination"] == destination) states[output["sop_instance_uid"]] = d["state"];
  return states;
}

bool all_delivered(const json& status, std::size_t outputs) {
  const auto states = delivery_states(status);
  if (states.size() < outputs) return false;
  for (const auto& [uid, state] : states)
    if (state != "delivered") return false;
  return true;
}

bool all_settled(const json& status, std::size_t outputs) {
  const auto states = delivery_states(status);
  if (states.size() < outputs) return false;
  for (const auto& [uid, state] : states)
    if (state == "pending" || state == "sending") return false;
  return true;
}

// A node with fast retries sending to `destination`.
void configure(NodeHarness& node, const Destination& destination) {
  node.config()["destinations"] = json::array({destination.config_entry()});
  node.config()["delivery"] = {{"retry_initial_s", 1}, {"retry_max_s", 2}, {"max_attempts", 4},
                               {"connect_timeout_s", 3}, {"dimse_timeout_s", 3}};
}

std::string send_study(NodeHarness& node, const std::string& prefix, int images = 1) {
  const std::string study = new_uid(SITE_STUDY_UID_ROOT);
  std::vector<SyntheticImage> list(static_cast<std::size_t>(images), frontal(study));
  const auto files = write_images(node.dir(), prefix, list);
  const CommandResult sent = node.storescu(files);
  EXPECT_EQ(store_successes(sent.output), images) << sent.output;
  return study;
}

TEST(Delivery, SrAndScReachTheDestinationInTheSourceStudy) {
  NodeHarness node;
  Destination pacs(node.dir());
  pacs.start_storescp();
  configure(node, pacs);
  node.start();
  const std::string study = send_study(node, "study", 2);

  const json status = node.wait_for([](const json& s) { return all_delivered(s, 3); }, 120s);
  ASSERT_TRUE(all_delivered(status, 3)) << status.dump(2);
  const json& job = status["jobs"][0];
  for (const char* stage : {"received", "complete", "queued", "started", "inferred", "reported", "delivered", "finished"})
    EXPECT_FALSE(job["times"][stage].is_null()) << stage;
  EXPECT_LE(job["times"]["reported"].get<std::string>(), job["times"]["delivered"].get<std::string>());

  std::multiset<std::string> classes;
  for (const auto& file : pacs.received_files()) {
    EXPECT_EQ(element(file, DCM_StudyInstanceUID), study) << file;
    EXPECT_EQ(element(file, DCM_PatientID), "SYN0001") << file;
    EXPECT_EQ(element(file, DCM_Manufacturer), "evax-node") << file;  // the intake loop guard's mark
    classes.insert(element(file, DCM_SOPClassUID));
  }
  EXPECT_EQ(classes.count(UID_Comprehensive3DSRStorage), 1u);  // reporting.air: on by default
  EXPECT_EQ(classes.count(UID_SecondaryCaptureImageStorage), 2u);
  // What the PACS received is valid, and one patient and one study with the sources.
  // Warnings allowed: dciodvfy does not know the private scheme 99EVAX, and the synthetic
  // studies have no Study Date, Time or ID a DICOMDIR would want; the synthetic sources lack
  // Type 2 attributes the results carry empty.
  std::vector<std::string> all_files;
  for (const auto& file : pacs.received_files()) {
    const bool sr = element(file, DCM_SOPClassUID) == UID_Comprehensive3DSRStorage;
    EXPECT_TRUE(is_clean(dciodvfy(file.string(), sr ? "Comprehensive3DSR" : "SCImage"),
                         {"Unrecognized defined term <99EVAX>", "Missing attribute or value that would be needed to build DICOMDIR",
                          "(0x0018,0x1002) UI Device UID", "this is a Standard Extended SOP Class"}));  // Device UID: newer than dciodvfy's tables
    all_files.push_back(file.string());
  }
  for (int i = 0; i < 2; ++i) all_files.push_back((node.dir() / ("study" + std::to_string(i) + ".dcm")).string());
  EXPECT_TRUE(is_clean(dcentvfy(all_files), {"Attribute present in one instance but not the other",
                                              "Different information entities for attribute - Element=<AccessionNumber>"}));
  // One attempt each, recorded with the C-STORE status.
  for (const auto& output : job["outputs"]) {
    ASSERT_EQ(output["deliveries"].size(), 1u);
    const auto& d = output["deliveries"][0];
    EXPECT_EQ(d["attempts"], 1);
    ASSERT_EQ(d["attempt_log"].size(), 1u);
    EXPECT_EQ(d["attempt_log"][0]["outcome"], "delivered");
    EXPECT_EQ(d["attempt_log"][0]["dimse_status"], 0);
  }
}

// A self-signed certificate and its key, made by openssl in `dir`.
std::pair<std::string, std::string> make_certificate(const std::filesystem::path& dir, const std::string& name) {
  const std::string key = (dir / (name + ".key")).string(), certificate = (dir / (name + ".crt")).string();
  const auto made = run_command("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + name + " -keyout " + key +
                                " -out " + certificate + " 2>&1");
  EXPECT_EQ(made.status, 0) << made.output;
  return {key, certificate};
}

TEST(Delivery, TlsDestinationsAreVerifiedBeforeAnythingIsSent) {
  NodeHarness node;
  const auto [pacs_key, pacs_certificate] = make_certificate(node.dir(), "pacs");
  const auto [impostor_key, impostor_certificate] = make_certificate(node.dir(), "impostor");
  Destination pacs(node.dir()), impostor(node.dir());
  pacs.start_storescp({"+tls", pacs_key, pacs_certificate, "-ic"});
  impostor.start_storescp({"+tls", impostor_key, impostor_certificate, "-ic"});
  configure(node, pacs);
  json trusted = {{"trusted_certificates", json::array({pacs_certificate})}};
  json pacs_entry = pacs.config_entry("pacs"), impostor_entry = impostor.config_entry("impostor");
  pacs_entry["tls"] = trusted;
  impostor_entry["tls"] = trusted;  // presents a certificate the node does not trust
  node.config()["destinations"] = json::array({pacs_entry, impostor_entry});
  node.config()["delivery"]["max_attempts"] = 2;
  node.start();
  send_study(node, "study");

  const json status = node.wait_for([](const json& s) { return all_delivered(s, 2); }, 120s);
  ASSERT_TRUE(all_delivered(status, 2)) << status.dump(2);
  EXPECT_EQ(pacs.received_files().size(), 2u);  // SR and SC over TLS
  const json settled = node.wait_for([](const json& s) {
    const auto states = delivery_states(s, "impostor");
    return states.size() == 2 && std::all_of(states.begin(), states.end(), [](const auto& e) { return e.second == "dead"; });
  }, 60s);
  // The wait must have ended because both impostor deliveries died, not because it timed out:
  // with no deliveries at all the checks below would have nothing to look at.
  const auto impostor_states = delivery_states(settled, "impostor");
  ASSERT_EQ(impostor_states.size(), 2u) << settled.dump(2);
  for (const auto& [uid, state] : impostor_states) EXPECT_EQ(state, "dead") << uid;
  EXPECT_TRUE(impostor.received_files().empty());
  int impostor_deliveries = 0;
  for (const auto& output : settled["jobs"][0]["outputs"]) {
    for (const auto& d : output["deliveries"]) {
      if (d["destination"] != "impostor") continue;
      ++impostor_deliveries;
      EXPECT_NE(d["last_status"].get<std::string>().find("association failed"), std::string::npos) << d.dump(2);
    }
  }
  EXPECT_EQ(impostor_deliveries, 2) << settled.dump(2);
}

TEST(Delivery, DestinationDownThroughARestartThenBackGetsEverythingOnce) {
  NodeHarness node;
  Destination pacs(node.dir());  // not started: connections are refused
  configure(node, pacs);
  node.config()["delivery"]["max_attempts"] = 100;
  node.start();
  for (int i = 0; i < 3; ++i) send_study(node, "study" + std::to_string(i));

  // Six outputs, each tried and failed at least once, the destination paused in between.
  json status = node.wait_for([](const json& s) {
    const auto states = delivery_states(s);
    if (states.size() < 6) return false;
    for (const auto& job : s["jobs"])
      for (const auto& o : job["outputs"])
        if (o["deliveries"][0]["attempts"].get<int>() < 1 || o["deliveries"][0]["state"] != "pending") return false;
    return true;
  }, 120s);
  ASSERT_EQ(delivery_states(status).size(), 6u) << status.dump(2);
  EXPECT_NE(node.log().find("destination-unreachable"), std::string::npos);

  // The queue survives a restart while the destination is still down.
  ASSERT_EQ(node.stop(), 0);
  node.start();
  std::this_thread::sleep_for(3s);
  status = node.status();
  for (const auto& [uid, state] : delivery_states(status)) EXPECT_EQ(state, "pending") << uid;

  pacs.start_test_scp();
  status = node.wait_for([](const json& s) { return all_delivered(s, 6); }, 60s);
  ASSERT_TRUE(all_delivered(status, 6)) << status.dump(2);
  const auto receipts = pacs.receipts();
  EXPECT_EQ(receipts.size(), 6u);
  for (const auto& [uid, count] : receipts) EXPECT_EQ(count, 1) << uid << " arrived more than once";
  for (const auto& [uid, state] : delivery_states(status)) EXPECT_EQ(receipts.count(uid), 1u) << uid;
}

struct StatusCase {
  const char* name;
  std::vector<std::string> scp_options;
  const char* final_state;       // of every delivery
  int attempts;                  // of every delivery
  const char* last_outcome;      // of the last attempt
  const char* status_text;       // in last_status
};

void PrintTo(const StatusCase& c, std::ostream* out) { *out << c.name; }

class DeliveryStatuses : public ::testing::TestWithParam<StatusCase> {};

TEST_P(DeliveryStatuses, RetryableAndPermanentFailuresAreToldApart) {
  const StatusCase& c = GetParam();
  NodeHarness node;
  Destination pacs(node.dir());
  pacs.start_test_scp(c.scp_options);
  configure(node, pacs);
  node.config()["reporting"]["secondary_capture"] = false;  // one object: one clear sequence
  node.start();
  send_study(node, "study");

  const json status = node.wait_for([](const json& s) { return all_settled(s, 1); }, 120s);
  ASSERT_TRUE(all_settled(status, 1)) << status.dump(2);
  const json& d = status["jobs"][0]["outputs"][0]["deliveries"][0];
  EXPECT_EQ(d["state"], c.final_state) << d.dump(2);
  EXPECT_EQ(d["attempts"], c.attempts) << d.dump(2);
  ASSERT_EQ(d["attempt_log"].size(), static_cast<std::size_t>(c.attempts));
  EXPECT_EQ(d["attempt_log"].back()["outcome"], c.last_outcome) << d.dump(2);
  EXPECT_NE(d["last_status"].get<std::string>().find(c.status_text), std::string::npos) << d.dump(2);
}

INSTANTIATE_TEST_SUITE_P(
    Destination, DeliveryStatuses,
    ::testing::Values(
        // Out of resources, then fine: retried, delivered on the second attempt.
        StatusCase{"OutOfResourcesThenSuccess", {"--statuses", "A700,0000"}, "delivered", 2, "delivered", "0x0000"},
        // A warning is a delivery (the PACS kept the object).
        StatusCase{"CoercionWarning", {"--statuses", "B000"}, "delivered", 1, "delivered", "0xB000"},
        // Cannot understand / data set does not match: the same object will fail again.
        StatusCase{"CannotUnderstand", {"--statuses", "C000"}, "dead", 1, "permanent", "0xC000"},
        StatusCase{"DataSetMismatch", {"--statuses", "A900"}, "dead", 1, "permanent", "0xA900"},
        // Out of resources every time: retried until max_attempts (4), then dead-lettered.
        StatusCase{"AlwaysOutOfResources", {"--statuses", "A700"}, "dead", 4, "retryable", "gave up after 4 attempts"},
        // Associations refused: retryable, then dead-lettered after max_attempts.
        StatusCase{"AssociationRefused", {"--refuse"}, "dead", 4, "retryable", "association"},
        // No answer within the DIMSE timeout (3 s): retryable.
        StatusCase{"NoAnswer", {"--delay-ms", "6000"}, "dead", 4, "retryable", "C-STORE failed"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Delivery, AResultOlderThanMaxAgeIsDeadLetteredAtItsNextFailure) {
  NodeHarness node;
  Destination pacs(node.dir());
  pacs.start_test_scp({"--refuse"});
  configure(node, pacs);
  node.config()["delivery"]["max_attempts"] = 1000;
  node.config()["delivery"]["max_age_h"] = 1;
  node.config()["reporting"]["secondary_capture"] = false;
  node.start();
  send_study(node, "study");
  json status = node.wait_for([](const json& s) {
    const auto states = delivery_states(s);
    return !states.empty() && s["jobs"][0]["outputs"][0]["deliveries"][0]["attempts"].get<int>() >= 1;
  }, 120s);
  ASSERT_EQ(delivery_states(status).begin()->second, "pending") << status.dump(2);
  // Two hours old, as if the PACS had refused it since then.
  const auto aged = run_command("sqlite3 -cmd '.timeout 5000' " + (node.data_dir() / "evax-node.sqlite").string() +
                                " \"UPDATE deliveries SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 hours')\"");
  ASSERT_EQ(aged.status, 0) << aged.output;
  status = node.wait_for([](const json& s) { return all_settled(s, 1); }, 60s);
  const json& d = status["jobs"][0]["outputs"][0]["deliveries"][0];
  EXPECT_EQ(d["state"], "dead") << d.dump(2);
  EXPECT_NE(d["last_status"].get<std::string>().find("undelivered for 2 h"), std::string::npos) << d.dump(2);
  EXPECT_LT(d["attempts"].get<int>(), 10);
}

TEST(Delivery, KillDuringSendingResendsOnlyTheInterruptedObject) {
  NodeHarness node;
  Destination pacs(node.dir());
  // Each answer takes 2 s: the node is caught in the middle of a C-STORE.
  pacs.start_test_scp({"--delay-ms", "2000"});
  configure(node, pacs);
  node.config()["delivery"]["dimse_timeout_s"] = 30;
  node.start();
  send_study(node, "study", 2);  // SR + 2 SC

  // Wait for the first object to reach the destination, then kill the node while it waits
  // for the answer.
  for (int i = 0; i < 600 && pacs.receipts().empty(); ++i) std::this_thread::sleep_for(100ms);
  ASSERT_FALSE(pacs.receipts().empty()) << node.log();
  node.kill9();
  // The batch (SR and both SCs) was claimed together; only its first object reached the wire.
  ASSERT_EQ(node.sql("SELECT COUNT(*) FROM deliveries WHERE state = 'sending'"), "3");

  pacs.start_test_scp();  // fast again (the slow one is replaced on the same port)
  node.start();
  const json status = node.wait_for([](const json& s) { return all_delivered(s, 3); }, 120s);
  ASSERT_TRUE(all_delivered(status, 3)) << status.dump(2);
  // Every object arrived; only the one in flight at the crash arrived twice.
  const auto receipts = pacs.receipts();
  EXPECT_EQ(receipts.size(), 3u);
  int duplicates = 0;
  for (const auto& [uid, count] : receipts) {
    EXPECT_LE(count, 2) << uid;
    if (count == 2) ++duplicates;
  }
  EXPECT_EQ(duplicates, 1);  // the one on the wire when the node died, sent again with the same UID
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM delivery_attempts WHERE outcome = 'interrupted'"), "3");
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM delivery_attempts WHERE outcome = 'delivered'"), "3");
}

// The content tree of an SR file, printed without its encoding (sequence and item lengths,
// explicit or undefined, differ between the stored file and what a peer writes), for comparing
// two documents' content.
std::string sr_content(const std::filesystem::path& file) {
  DcmFileFormat format;
  EXPECT_TRUE(format.loadFile(file.c_str()).good()) << file;
  DcmElement* content = nullptr;
  if (format.getDataset()->findAndGetElement(DCM_ContentSequence, content).bad()) return "(no content)";
  std::ostringstream out;
  content->print(out);
  std::string text = std::regex_replace(out.str(), std::regex(R"(with (explicit|undefined) length )"), "");
  text = std::regex_replace(text, std::regex(R"( for re-encod(ing|\.))"), "");
  text = std::regex_replace(text, std::regex(R"(#\s*(u/l|\d+),)"), "#");
  return std::regex_replace(text, std::regex(" +"), " ");
}

// Issue 15: an older archive refusing the Comprehensive 3D SR at negotiation gets the
// Comprehensive SR form; a viewer that takes only heatmaps (destinations[].outputs) gets only those.
TEST(Delivery, AnArchiveRefusing3dSrGetsComprehensiveSrAndEachDestinationItsKinds) {
  NodeHarness node;
  Destination archive(node.dir(), "OLDPACS");
  archive.start_test_scp({"--refuse-classes", "1.2.840.10008.5.1.4.1.1.88.34"});
  Destination viewer(node.dir(), "VIEWER");
  viewer.start_storescp();
  configure(node, archive);
  json viewer_entry = viewer.config_entry("viewer");
  viewer_entry["outputs"] = json::array({"sc"});
  node.config()["destinations"] = json::array({archive.config_entry("archive"), viewer_entry});
  node.config()["reporting"]["sr_document_type"] = "comprehensive-3d";
  node.start();
  send_study(node, "study");

  const auto settled = [](const json& s) {
    const auto at_archive = delivery_states(s, "archive"), at_viewer = delivery_states(s, "viewer");
    if (at_archive.size() < 2 || at_viewer.size() < 1) return false;
    for (const auto* states : {&at_archive, &at_viewer})
      for (const auto& [uid, state] : *states)
        if (state != "delivered") return false;
    return true;
  };
  const json status = node.wait_for(settled, 120s);
  ASSERT_TRUE(settled(status)) << status.dump(2);
  std::string sr_uid, sr_path = node.sql("SELECT file_path FROM outputs WHERE kind = 'sr'");
  for (const auto& output : status["jobs"][0]["outputs"]) {
    for (const auto& d : output["deliveries"]) {
      if (output["kind"] == "sr") {
        sr_uid = output["sop_instance_uid"];
        EXPECT_EQ(output["sop_class_uid"], "1.2.840.10008.5.1.4.1.1.88.34");
        ASSERT_TRUE(d["substitution"].is_string()) << d.dump(2);
        EXPECT_NE(d["substitution"].get<std::string>().find("sent as Comprehensive SR"), std::string::npos) << d.dump(2);
      } else {
        EXPECT_TRUE(d["substitution"].is_null()) << d.dump(2);
      }
    }
    if (output["kind"] == "sr") EXPECT_EQ(output["deliveries"].size(), 1u);  // not to the viewer
  }
  ASSERT_FALSE(sr_uid.empty());

  // The archive: the SR's content as Comprehensive SR under a new UID, and the SC as made.
  std::multiset<std::string> classes;
  for (const auto& file : archive.received_files()) {
    classes.insert(element(file, DCM_SOPClassUID));
    if (element(file, DCM_SOPClassUID) != UID_ComprehensiveSRStorage) continue;
    EXPECT_NE(element(file, DCM_SOPInstanceUID), sr_uid);
    EXPECT_NE(sr_content(file).find("Image Library"), std::string::npos);
    EXPECT_EQ(sr_content(file), sr_content(sr_path));
    EXPECT_EQ(element(file, DCM_StudyInstanceUID), element(sr_path, DCM_StudyInstanceUID));
    EXPECT_TRUE(is_clean(dciodvfy(file.string(), "ComprehensiveSR"),
                         {"Unrecognized defined term <99EVAX>", "Missing attribute or value that would be needed to build DICOMDIR",
                          "(0x0018,0x1002) UI Device UID", "this is a Standard Extended SOP Class"}));  // as above
  }
  EXPECT_EQ(classes, (std::multiset<std::string>{UID_ComprehensiveSRStorage, UID_SecondaryCaptureImageStorage}));
  // The viewer: the heatmap only.
  const auto viewer_files = viewer.received_files();
  ASSERT_EQ(viewer_files.size(), 1u);
  EXPECT_EQ(element(viewer_files[0], DCM_SOPClassUID), UID_SecondaryCaptureImageStorage);
  EXPECT_NE(node.log().find("delivery substituted"), std::string::npos);
}

TEST(Delivery, KillDuringInferenceStillDeliversOneResultSet) {
  NodeHarness node;
  Destination pacs(node.dir());
  pacs.start_test_scp();
  configure(node, pacs);
  node.config()["model"]["classifier"]["checkpoint"] = "demo:base";  // seconds per job: caught running
  node.config()["model"]["cam_top_k"] = 3;
  node.start();
  send_study(node, "study");
  for (int i = 0; i < 600 && node.log().find("job-started") == std::string::npos; ++i) std::this_thread::sleep_for(50ms);
  node.kill9();
  EXPECT_EQ(node.sql("SELECT state FROM jobs"), "running");
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM outputs"), "0");  // killed before its results were committed

  node.start();
  EXPECT_NE(node.log().find("jobs_requeued=1"), std::string::npos);
  const json status = node.wait_for([](const json& s) { return all_delivered(s, 2); }, 120s);
  ASSERT_TRUE(all_delivered(status, 2)) << status.dump(2);
  EXPECT_EQ(pacs.receipts().size(), 2u);  // one SR and one SC: no second result set
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM outputs"), "2");
  // Nothing written by the interrupted attempt is left behind.
  std::size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(node.data_dir() / "outputs"))
    files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 2u);
}

TEST(Delivery, ReanalysisSupersedesTheEarlierReport) {
  NodeHarness node;
  Destination pacs(node.dir());
  pacs.start_storescp();
  configure(node, pacs);
  node.start();
  const std::string study = new_uid(SITE_STUDY_UID_ROOT);
  const auto first = write_images(node.dir(), "first", {frontal(study)});
  ASSERT_EQ(store_successes(node.storescu(first).output), 1);
  node.wait_for([](const json& s) { return all_delivered(s, 2); }, 120s);
  const auto late = write_images(node.dir(), "late", {frontal(study, "AP")});
  ASSERT_EQ(store_successes(node.storescu(late).output), 1);
  const json status = node.wait_for([](const json& s) { return all_delivered(s, 2 + 3); }, 120s);
  ASSERT_TRUE(all_delivered(status, 5)) << status.dump(2);

  std::string first_sr, second_sr;
  for (const auto& job : status["jobs"])
    for (const auto& o : job["outputs"])
      if (o["kind"] == "sr") (job["supersedes_job"].is_null() ? first_sr : second_sr) = o["sop_instance_uid"];
  ASSERT_FALSE(first_sr.empty());
  ASSERT_FALSE(second_sr.empty());
  for (const auto& file : pacs.received_files()) {
    if (element(file, DCM_SOPInstanceUID) != second_sr) continue;
    DcmFileFormat f;
    ASSERT_TRUE(f.loadFile(file.c_str()).good());
    DcmItem* reference = nullptr;
    ASSERT_TRUE(f.getDataset()
                    ->findAndGetSequenceItem(DCM_PredecessorDocumentsSequence, reference, 0)
                    .good());
    DcmItem* series = nullptr;
    ASSERT_TRUE(reference->findAndGetSequenceItem(DCM_ReferencedSeriesSequence, series, 0).good());
    DcmItem* sop = nullptr;
    ASSERT_TRUE(series->findAndGetSequenceItem(DCM_ReferencedSOPSequence, sop, 0).good());
    OFString uid;
    sop->findAndGetOFString(DCM_ReferencedSOPInstanceUID, uid);
    EXPECT_EQ(std::string(uid.c_str()), first_sr);
    return;
  }
  FAIL() << "the second SR did not arrive";
}

// A late arrival the intake rules skip adds nothing to analyse: the earlier results stand and
// nothing is sent again; the arrival is stored and says why it started no re-analysis.
TEST(Delivery, ALateArrivalTheIntakeRulesSkipStartsNoReanalysis) {
  NodeHarness node;
  Destination pacs(node.dir());
  pacs.start_storescp();
  configure(node, pacs);
  const std::string token = "late-arrival-reader";
  node.config()["http"]["tokens"] = json::array(
      {{{"sha256", run_command("printf %s " + token + " | sha256sum").output.substr(0, 64)}, {"role", "read"}, {"name", "t"}}});
  node.start();
  const std::string study = new_uid(SITE_STUDY_UID_ROOT);
  const auto first = write_images(node.dir(), "first", {frontal(study)});
  ASSERT_EQ(store_successes(node.storescu(first).output), 1);
  ASSERT_TRUE(all_delivered(node.wait_for([](const json& s) { return all_delivered(s, 2); }, 120s), 2));
  ASSERT_EQ(pacs.received_files().size(), 2u);

  SyntheticImage not_cr_dx = frontal(study);
  not_cr_dx.modality = "OT";
  const auto lateral = write_images(node.dir(), "lateral", {frontal(study, "LL")});
  const auto other = write_images(node.dir(), "other", {not_cr_dx});
  // The node's own output relabelled as a frontal DX by some system on the way (Manufacturer kept).
  const auto own = write_images(node.dir(), "own", {frontal(study)});
  ASSERT_EQ(run_command("dcmodify -nb -i \"(0008,0070)=evax-node\" " + own[0]).status, 0);
  // (a) a lateral, (b) the first image again, (c) an object that is not CR/DX, (d) the node's own
  // output as DX: one association each, each given three quiet periods to start a job.
  const std::vector<std::pair<const char*, std::vector<std::string>>> arrivals = {
      {"lateral", lateral}, {"the same instance again", first}, {"not CR/DX", other}, {"own output", own}};
  for (const auto& [what, files] : arrivals) {
    ASSERT_EQ(store_successes(node.storescu(files).output), 1) << what;
    std::this_thread::sleep_for(3s);
    EXPECT_EQ(node.status()["jobs"].size(), 1u) << what << " started a re-analysis";
  }
  std::this_thread::sleep_for(2s);  // a re-analysis of the demo model would have delivered by now
  EXPECT_EQ(pacs.received_files().size(), 2u);
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances"), "4");  // the three new ones kept, the duplicate once
  EXPECT_EQ(node.sql("SELECT group_concat(reason, ' | ') FROM (SELECT reason FROM arrivals_not_reanalysed "
                     "ORDER BY instance_id)"),
            "lateral-view: ViewPosition is 'LL' | not-cr-dx: Modality is 'OT' | own-output: made by this node");
  // The admin API shows them under the study, with their reasons.
  const HttpAnswer shown = http_call(node.config()["http"]["port"].get<int>(), {"GET", "/api/v1/studies/" + study, token});
  ASSERT_EQ(shown.status, 200) << shown.body << shown.error;
  const json late = json::parse(shown.body)["not_reanalysed"];
  ASSERT_EQ(late.size(), 3u) << shown.body;
  EXPECT_EQ(late[0]["reason"], "lateral-view: ViewPosition is 'LL'");
  EXPECT_EQ(late[2]["reason"], "own-output: made by this node");
  EXPECT_FALSE(late[0]["received_at"].get<std::string>().empty());
  const std::string log = node.log();
  EXPECT_NE(log.find("late-arrival-not-reanalysed"), std::string::npos) << log;
  EXPECT_EQ(log.find("SYNTHETIC^TEST"), std::string::npos);  // no patient identifiers in the log

  // (e) A new frontal image is worth a re-analysis, which covers the whole study.
  ASSERT_EQ(store_successes(node.storescu(write_images(node.dir(), "late", {frontal(study, "AP")})).output), 1);
  const json status = node.wait_for([](const json& s) { return all_delivered(s, 2 + 3); }, 120s);
  ASSERT_TRUE(all_delivered(status, 5)) << status.dump(2);
  ASSERT_EQ(status["jobs"].size(), 2u);
  EXPECT_EQ(status["jobs"][0]["supersedes_job"], status["jobs"][1]["id"]);
  EXPECT_EQ(status["jobs"][0]["images"].size(), 5u);
  EXPECT_EQ(pacs.received_files().size(), 5u);
}

}  // namespace
}  // namespace evax::testing
