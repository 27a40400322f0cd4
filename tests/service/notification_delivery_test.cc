// Notifications to the RIS end to end: a real node analyses a study with the demo model and its
// outbox sends the ORU^R01 over MLLP to the HL7 peer (tests/tools/mllp_peer.py, which parses it
// with the `hl7` package) and the FHIR Bundle to the FHIR receiver (fhir_receiver.py, validating
// with fhir.resources); ACK codes and dropped connections are retried or dead-lettered like a
// DICOM destination's failures, and the admin API's job view shows every attempt.
#include <gtest/gtest.h>

#include <string>

#include "destination.h"
#include "http_client.h"
#include "ris_peer.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kReadToken = "ris-read-token-4c2e81";

// An HL7 target on `peer`; `urgent` are its urgent_findings.
json hl7_target(const std::string& name, const RisPeer& peer, const std::vector<std::string>& urgent = {}) {
  return {{"name", name},           {"kind", "hl7"},          {"host", "127.0.0.1"},
          {"port", peer.port()},    {"urgent_findings", urgent}, {"receiving_application", "RIS"},
          {"connect_timeout_s", 2}, {"ack_timeout_s", 2}};
}

// A node with fast retries (1 s, at most `max_attempts`), the admin API readable with kReadToken,
// and the demo model's Effusion certainly present (operating point 0) and Mass certainly absent
// (operating point 1: a probability is never above it).
void configure(NodeHarness& node, const json& notifications, int max_attempts = 3) {
  node.config()["notifications"] = notifications;
  node.config()["delivery"] = {{"retry_initial_s", 1}, {"retry_max_s", 1}, {"max_attempts", max_attempts},
                               {"connect_timeout_s", 2}};
  node.config()["reporting"]["operating_points"] = {{"Effusion", 0.0}, {"Mass", 1.0}};
  node.config()["reporting"]["secondary_capture"] = false;  // fewer objects: a faster study
  const std::string sha256 = run_command(std::string("printf %s '") + kReadToken + "' | sha256sum").output.substr(0, 64);
  node.config()["http"] = {{"port", free_tcp_port()}, {"listen_address", "127.0.0.1"},
                           {"tokens", json::array({{{"sha256", sha256}, {"role", "read"}, {"name", "viewer"}}})}};
}

void send_study(NodeHarness& node, const std::string& prefix) {
  const auto files = write_images(node.dir(), prefix, {frontal(new_uid(SITE_STUDY_UID_ROOT))});
  const CommandResult sent = node.storescu(files);
  ASSERT_EQ(store_successes(sent.output), 1) << sent.output;
}

// The notification outputs' deliveries of every job: {output kind -> that output's deliveries}.
std::map<std::string, json> notification_deliveries(const json& status) {
  std::map<std::string, json> out;
  for (const auto& job : status["jobs"])
    for (const auto& output : job["outputs"]) {
      const std::string kind = output["kind"];
      if (kind.rfind("hl7:", 0) == 0 || kind.rfind("fhir:", 0) == 0) out[kind] = output["deliveries"];
    }
  return out;
}

// Every notification (`targets` of them) has one delivery, settled (delivered or dead).
bool settled(const json& status, std::size_t targets) {
  const auto found = notification_deliveries(status);
  if (found.size() < targets) return false;
  for (const auto& [kind, deliveries] : found)
    for (const auto& d : deliveries)
      if (d["state"] == "pending" || d["state"] == "sending") return false;
  return true;
}

// The job as the admin API shows it.
json api_job(NodeHarness& node, const json& status) {
  const auto id = status["jobs"][0]["id"].get<std::int64_t>();
  const HttpAnswer answer = http_call(node.config()["http"]["port"].get<int>(), {"GET", "/api/v1/jobs/" + std::to_string(id), kReadToken});
  EXPECT_EQ(answer.status, 200) << answer.body << answer.error;
  return answer.status == 200 ? json::parse(answer.body) : json::object();
}

// The delivery of the notification of kind `kind` in an admin API job view.
json api_delivery(const json& job, const std::string& kind) {
  for (const auto& output : job["outputs"])
    if (output["kind"] == kind && output["deliveries"].size() == 1) return output["deliveries"][0];
  ADD_FAILURE() << "no single delivery of " << kind << " in " << job.dump(2);
  return json::object();
}

TEST(RisNotifications, OruR01ReachesThePeerValidAndUrgentOnlyForTheTargetWhoseFindingIsPresent) {
  NodeHarness node;
  RisPeer urgent_ris(node.dir(), "mllp_peer.py", {"--answers", "AA"});
  RisPeer routine_ris(node.dir(), "mllp_peer.py", {"--answers", "AA"});
  ASSERT_GT(urgent_ris.port(), 0);
  ASSERT_GT(routine_ris.port(), 0);
  Destination pacs(node.dir());
  pacs.start_storescp();
  configure(node, json::array({hl7_target("ris-urgent", urgent_ris, {"Effusion"}),
                               hl7_target("ris-routine", routine_ris, {"Mass"})}));
  node.config()["destinations"] = json::array({pacs.config_entry("pacs")});  // outputs empty: the DICOM kinds
  node.start();
  send_study(node, "study");

  const json status = node.wait_for([](const json& s) { return settled(s, 2); }, 60s);
  ASSERT_TRUE(settled(status, 2)) << status.dump(2);
  for (const char* kind : {"hl7:ris-urgent", "hl7:ris-routine"}) {
    const auto deliveries = notification_deliveries(status)[kind];
    // Queued for its own target only: not for the PACS, not for the other RIS.
    ASSERT_EQ(deliveries.size(), 1u) << kind << deliveries.dump(2);
    EXPECT_EQ(deliveries[0]["destination"], std::string(kind).substr(4));
    EXPECT_EQ(deliveries[0]["state"], "delivered") << deliveries.dump(2);
    EXPECT_EQ(deliveries[0]["attempts"], 1);
  }
  // The PACS gets the DICOM objects, never a notification file.
  for (const auto& output : status["jobs"][0]["outputs"])
    for (const auto& d : output["deliveries"])
      if (d["destination"] == "pacs") {
        EXPECT_EQ(std::string(output["kind"]).find(':'), std::string::npos) << output.dump(2);
      }

  const auto urgent = urgent_ris.records();
  ASSERT_EQ(urgent.size(), 1u);
  EXPECT_TRUE(urgent[0]["valid"].get<bool>()) << urgent[0].dump(2);
  EXPECT_EQ(urgent[0]["priority"], "S") << urgent[0].dump(2);
  const auto routine = routine_ris.records();
  ASSERT_EQ(routine.size(), 1u);
  EXPECT_TRUE(routine[0]["valid"].get<bool>()) << routine[0].dump(2);
  EXPECT_EQ(routine[0]["priority"], "") << routine[0].dump(2);
  EXPECT_NE(urgent[0]["control_id"], routine[0]["control_id"]);

  // The patient's name and id go to the RIS, never into the node's log.
  const SyntheticImage sent = frontal("1.2.3");
  EXPECT_EQ(node.log().find(sent.patient_name), std::string::npos);
  EXPECT_EQ(node.log().find(sent.patient_id), std::string::npos);
  EXPECT_EQ(node.log().find("notifications-not-sent"), std::string::npos);
}

TEST(RisNotifications, ApplicationErrorIsRetriedAndThenDelivered) {
  NodeHarness node;
  RisPeer ris(node.dir(), "mllp_peer.py", {"--answers", "AE,AA"});
  ASSERT_GT(ris.port(), 0);
  configure(node, json::array({hl7_target("ris", ris)}));
  node.start();
  send_study(node, "study");

  const json status = node.wait_for([](const json& s) { return settled(s, 1); }, 60s);
  ASSERT_TRUE(settled(status, 1)) << status.dump(2);
  const json d = api_delivery(api_job(node, status), "hl7:ris");
  EXPECT_EQ(d["state"], "delivered") << d.dump(2);
  EXPECT_EQ(d["attempts"], 2) << d.dump(2);
  ASSERT_EQ(d["attempt_log"].size(), 2u) << d.dump(2);
  EXPECT_EQ(d["attempt_log"][0]["outcome"], "retryable") << d.dump(2);
  EXPECT_NE(d["attempt_log"][0]["detail"].get<std::string>().find("AE"), std::string::npos) << d.dump(2);
  EXPECT_EQ(d["attempt_log"][1]["outcome"], "delivered") << d.dump(2);
  const auto got = ris.records();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["control_id"], got[1]["control_id"]);  // the same message, sent again
}

TEST(RisNotifications, RejectIsDeadLetteredAtOnceAndADroppingPeerAfterMaxAttempts) {
  NodeHarness node;
  RisPeer rejecting(node.dir(), "mllp_peer.py", {"--answers", "AR"});
  RisPeer dropping(node.dir(), "mllp_peer.py", {"--answers", "drop"});
  ASSERT_GT(rejecting.port(), 0);
  ASSERT_GT(dropping.port(), 0);
  configure(node, json::array({hl7_target("ris-ar", rejecting), hl7_target("ris-drop", dropping)}), 2);
  node.start();
  send_study(node, "study");

  const json status = node.wait_for([](const json& s) { return settled(s, 2); }, 60s);
  ASSERT_TRUE(settled(status, 2)) << status.dump(2);
  const json job = api_job(node, status);
  const json rejected = api_delivery(job, "hl7:ris-ar");
  EXPECT_EQ(rejected["state"], "dead") << rejected.dump(2);
  EXPECT_EQ(rejected["attempts"], 1) << rejected.dump(2);
  ASSERT_EQ(rejected["attempt_log"].size(), 1u);
  EXPECT_EQ(rejected["attempt_log"][0]["outcome"], "permanent") << rejected.dump(2);
  EXPECT_EQ(rejecting.records().size(), 1u);

  const json dropped = api_delivery(job, "hl7:ris-drop");
  EXPECT_EQ(dropped["state"], "dead") << dropped.dump(2);
  EXPECT_EQ(dropped["attempts"], 2) << dropped.dump(2);
  ASSERT_EQ(dropped["attempt_log"].size(), 2u);
  for (const auto& a : dropped["attempt_log"]) EXPECT_EQ(a["outcome"], "retryable") << dropped.dump(2);
  EXPECT_NE(dropped["last_status"].get<std::string>().find("gave up after 2 attempts"), std::string::npos) << dropped.dump(2);
  EXPECT_EQ(dropping.records().size(), 2u);  // it got the message each time, and hung up
}

TEST(RisNotifications, FhirReceiverValidatesAndCreatesTheBundle) {
  NodeHarness node;
  RisPeer fhir(node.dir(), "fhir_receiver.py", {"--token", "fhir-secret-7d"});
  ASSERT_GT(fhir.port(), 0);
  configure(node, json::array({{{"name", "fhir-ris"},
                                {"kind", "fhir"},
                                {"url", "http://127.0.0.1:" + std::to_string(fhir.port()) + "/fhir"},
                                {"bearer_token", "fhir-secret-7d"},
                                {"urgent_findings", {"Effusion"}},
                                {"timeout_s", 5}}}));
  node.start();
  send_study(node, "study");

  const json status = node.wait_for([](const json& s) { return settled(s, 1); }, 60s);
  ASSERT_TRUE(settled(status, 1)) << status.dump(2);
  const json d = api_delivery(api_job(node, status), "fhir:fhir-ris");
  EXPECT_EQ(d["state"], "delivered") << d.dump(2);
  EXPECT_EQ(d["attempts"], 1) << d.dump(2);
  ASSERT_EQ(d["attempt_log"].size(), 1u);
  EXPECT_EQ(d["attempt_log"][0]["dimse_status"], 200) << d.dump(2);  // the transaction-response
  const auto got = fhir.records();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0]["valid"].get<bool>()) << got[0].dump(2);
  EXPECT_EQ(got[0]["answer"], 201);
  EXPECT_EQ(got[0]["resource"]["resourceType"], "Bundle");
  EXPECT_EQ(got[0]["resource"]["type"], "transaction");
  EXPECT_EQ(node.log().find("fhir-secret-7d"), std::string::npos);  // the token is never logged
}

}  // namespace
}  // namespace evax::testing
