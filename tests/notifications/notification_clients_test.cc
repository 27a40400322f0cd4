// One send of a notification, as the outbox makes it, against real receivers: the MLLP peer
// answering AA, AE, AR, dropping or never answering, and the FHIR receiver validating what it
// gets (or answering a chosen status). Each outcome is what the outbox retries or dead-letters on.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "evax/notifications/notification_clients.h"
#include "evax/reporting/study_notification.h"
#include "process.h"

namespace evax::notifications {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using std::chrono::steady_clock;

reporting::StudyNotification study(bool urgent) {
  reporting::StudyIdentifiers ids;
  ids.patient_id = "P1";
  ids.patient_name = "Doe^John";
  ids.study_instance_uid = "1.2.826.0.1.3680043.10.1.2";
  ids.accession_number = "A1";
  reporting::AlgorithmIdentity algorithm;
  algorithm.model_name = "EVA-X-S";
  algorithm.model_task = "cxr14";
  algorithm.demo = true;
  return reporting::summarise_study(ids, algorithm, {{{"Effusion", 0.9, 0.5}, {"Mass", 0.1, 0.5}}}, 0,
                                    urgent ? std::vector<std::string>{"Effusion"} : std::vector<std::string>{});
}

// A Python peer of tests/tools on a free port, recording into its own file.
class Peer {
 public:
  Peer(const std::string& script, const std::vector<std::string>& options) {
    dir_ = fs::temp_directory_path() / ("evax-peer-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(dir_);
    std::vector<std::string> argv{EVAX_TOOLS_PYTHON, std::string(EVAX_SOURCE_DIR) + "/tests/tools/" + script,
                                  "--port-file", (dir_ / "port").string(), "--record", (dir_ / "record.jsonl").string()};
    argv.insert(argv.end(), options.begin(), options.end());
    process_.start(argv, (dir_ / "peer.log").string());
    const auto deadline = steady_clock::now() + std::chrono::seconds(20);
    while (!fs::exists(dir_ / "port") && steady_clock::now() < deadline && process_.running())
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream(dir_ / "port") >> port_;
  }
  ~Peer() {
    process_.signal(SIGKILL);
    process_.wait(std::chrono::seconds(5));
    fs::remove_all(dir_);
  }
  int port() const { return port_; }
  std::vector<json> records() const {
    std::vector<json> out;
    std::ifstream in(dir_ / "record.jsonl");
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
    return out;
  }

 private:
  static inline int counter_ = 0;
  fs::path dir_;
  evax::testing::BackgroundProcess process_;
  int port_ = 0;
};

std::string oru(bool urgent, const std::string& control_id) {
  return reporting::build_oru_r01(study(urgent), {"EVAX", "RAD", "RIS", "HOSP"}, control_id, "20261202121500");
}

MllpTarget mllp(const Peer& peer, int ack_timeout_s = 5) { return {"127.0.0.1", peer.port(), 2, ack_timeout_s}; }

TEST(MllpClientTest, AcceptedMessageIsSentAndThePeerParsesAValidOruR01) {
  Peer peer("mllp_peer.py", {"--answers", "AA"});
  ASSERT_GT(peer.port(), 0);
  const auto urgent = send_mllp(mllp(peer), oru(true, "C-URGENT"));
  EXPECT_EQ(urgent.outcome, Outcome::sent) << urgent.detail;
  EXPECT_EQ(urgent.ack_code, "AA");
  const auto routine = send_mllp(mllp(peer), oru(false, "C-ROUTINE"));
  EXPECT_EQ(routine.outcome, Outcome::sent) << routine.detail;
  const auto got = peer.records();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0]["valid"].get<bool>()) << got[0].dump(2);
  EXPECT_EQ(got[0]["control_id"], "C-URGENT");
  EXPECT_EQ(got[0]["priority"], "S");
  EXPECT_EQ(got[0]["findings"][0]["flag"], "AA");
  EXPECT_TRUE(got[1]["valid"].get<bool>()) << got[1].dump(2);
  EXPECT_EQ(got[1]["priority"], "");
  EXPECT_EQ(got[1]["findings"][0]["flag"], "A");
}

TEST(MllpClientTest, ApplicationErrorIsRetryableAndRejectIsPermanent) {
  Peer peer("mllp_peer.py", {"--answers", "AE,AR"});
  ASSERT_GT(peer.port(), 0);
  const auto first = send_mllp(mllp(peer), oru(false, "C1"));
  EXPECT_EQ(first.outcome, Outcome::retryable) << first.detail;
  EXPECT_EQ(first.ack_code, "AE");
  const auto second = send_mllp(mllp(peer), oru(false, "C1"));
  EXPECT_EQ(second.outcome, Outcome::permanent) << second.detail;
  EXPECT_EQ(second.ack_code, "AR");
}

TEST(MllpClientTest, DroppedConnectionSilenceAndNoListenerAreRetryable) {
  {
    Peer peer("mllp_peer.py", {"--answers", "drop"});
    ASSERT_GT(peer.port(), 0);
    const auto dropped = send_mllp(mllp(peer), oru(false, "C1"));
    EXPECT_EQ(dropped.outcome, Outcome::retryable);
    EXPECT_NE(dropped.detail.find("closed the connection"), std::string::npos) << dropped.detail;
    EXPECT_EQ(peer.records().size(), 1u);  // it did get the message
  }
  {
    Peer peer("mllp_peer.py", {"--answers", "silent"});
    ASSERT_GT(peer.port(), 0);
    const auto start = steady_clock::now();
    const auto silent = send_mllp(mllp(peer, 1), oru(false, "C1"));
    EXPECT_EQ(silent.outcome, Outcome::retryable);
    EXPECT_NE(silent.detail.find("no ACK within 1 s"), std::string::npos) << silent.detail;
    EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));
  }
  const auto nobody = send_mllp({"127.0.0.1", evax::testing::free_tcp_port(), 2, 2}, oru(false, "C1"));
  EXPECT_EQ(nobody.outcome, Outcome::retryable);
  EXPECT_NE(nobody.detail.find("cannot connect"), std::string::npos) << nobody.detail;
}

std::string bundle(bool urgent) { return reporting::build_fhir_bundle(study(urgent), "EVAX-1-fhir", "2026-12-02T12:15:00Z"); }

TEST(FhirClientTest, TransactionBundleIsValidatedAndCreated) {
  Peer peer("fhir_receiver.py", {"--token", "secret-token"});
  ASSERT_GT(peer.port(), 0);
  FhirTarget target{"http://127.0.0.1:" + std::to_string(peer.port()) + "/fhir", "secret-token", true, 5};
  const auto sent = send_fhir(target, bundle(true));
  EXPECT_EQ(sent.outcome, Outcome::sent) << sent.detail;
  EXPECT_EQ(sent.http_status, 200);
  const auto got = peer.records();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0]["valid"].get<bool>()) << got[0].dump(2);
  EXPECT_EQ(got[0]["content_type"], "application/fhir+json");
  EXPECT_EQ(got[0]["resource"]["type"], "transaction");
}

TEST(FhirClientTest, ResourcesArePostedOneByOneWithTheReportReferringToTheCreatedObservations) {
  Peer peer("fhir_receiver.py", {});
  ASSERT_GT(peer.port(), 0);
  FhirTarget target{"http://127.0.0.1:" + std::to_string(peer.port()) + "/fhir/", "", false, 5};
  const auto sent = send_fhir(target, bundle(false));
  EXPECT_EQ(sent.outcome, Outcome::sent) << sent.detail;
  const auto got = peer.records();
  ASSERT_EQ(got.size(), 3u);  // two Observations, then the DiagnosticReport
  for (const auto& r : got) EXPECT_TRUE(r["valid"].get<bool>()) << r.dump(2);
  EXPECT_EQ(got[0]["path"], "/fhir/Observation");
  EXPECT_NE(got[0]["if_none_exist"].get<std::string>().find("identifier=urn:evax-node:notification|"), std::string::npos);
  EXPECT_EQ(got[2]["path"], "/fhir/DiagnosticReport");
  EXPECT_EQ(got[2]["resource"]["result"][0]["reference"], "Observation/1");
  EXPECT_EQ(got[2]["resource"]["result"][1]["reference"], "Observation/2");
}

TEST(FhirClientTest, HttpStatusesAreToldApartAsForStowRs) {
  EXPECT_EQ(classify_http_status(201), Outcome::sent);
  EXPECT_EQ(classify_http_status(408), Outcome::retryable);
  EXPECT_EQ(classify_http_status(429), Outcome::retryable);
  EXPECT_EQ(classify_http_status(503), Outcome::retryable);
  EXPECT_EQ(classify_http_status(400), Outcome::permanent);
  EXPECT_EQ(classify_http_status(404), Outcome::permanent);
  {
    Peer peer("fhir_receiver.py", {"--token", "right"});
    ASSERT_GT(peer.port(), 0);
    const auto refused = send_fhir({"http://127.0.0.1:" + std::to_string(peer.port()) + "/fhir", "wrong", true, 5}, bundle(false));
    EXPECT_EQ(refused.outcome, Outcome::permanent) << refused.detail;
    EXPECT_EQ(refused.http_status, 401);
  }
  {
    Peer peer("fhir_receiver.py", {"--status", "503"});
    ASSERT_GT(peer.port(), 0);
    const auto busy = send_fhir({"http://127.0.0.1:" + std::to_string(peer.port()) + "/fhir", "", true, 5}, bundle(false));
    EXPECT_EQ(busy.outcome, Outcome::retryable) << busy.detail;
    EXPECT_EQ(busy.http_status, 503);
  }
  const auto down = send_fhir({"http://127.0.0.1:" + std::to_string(evax::testing::free_tcp_port()) + "/fhir", "", true, 2}, bundle(false));
  EXPECT_EQ(down.outcome, Outcome::retryable) << down.detail;
  EXPECT_FALSE(down.http_status);
}

}  // namespace
}  // namespace evax::notifications
