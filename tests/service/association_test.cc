// Who may talk to the node and how many at once: called AE, allow-list, the association
// limit, and idle or stalled peers (reliability.md #8, #9, #10).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <future>
#include <sstream>
#include <thread>

#include "raw_http.h"
#include "raw_store.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;

// Whether the node has closed `fd` (reading gives end-of-file or a reset) within `wait`.
bool closed_by_peer(int fd, std::chrono::milliseconds wait) {
  timeval timeout{static_cast<time_t>(wait.count() / 1000), static_cast<suseconds_t>((wait.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  char byte;
  const ssize_t got = ::recv(fd, &byte, 1, 0);
  return got == 0 || (got < 0 && errno == ECONNRESET);
}

TEST(Associations, WrongCalledAeTitleIsRefusedAndLoggedAsASecurityEvent) {
  NodeHarness node;
  node.start();
  const auto result = run_command("echoscu -aec NOTEVAX 127.0.0.1 " + std::to_string(node.port()));
  EXPECT_NE(result.status, 0);
  EXPECT_NE(result.output.find("Called AE Title Not Recognized"), std::string::npos) << result.output;
  const std::string log = node.log();
  EXPECT_NE(log.find("association-refused"), std::string::npos);
  EXPECT_NE(log.find("security=true"), std::string::npos);
}

TEST(Associations, AllowListChecksCallingAeTitleAndPeerAddress) {
  NodeHarness node;
  node.config()["dicom"]["allowed_peers"] = json::array({{{"ae_title", "PACS"}, {"host", "127.0.0.1"}},
                                                         {{"ae_title", "OTHERPACS"}, {"host", "127.0.0.2"}}});
  node.start();
  EXPECT_EQ(node.echoscu("-aet PACS").status, 0);
  const auto unknown_ae = node.echoscu("-aet INTRUDER");
  EXPECT_NE(unknown_ae.status, 0);
  EXPECT_NE(unknown_ae.output.find("Calling AE Title Not Recognized"), std::string::npos) << unknown_ae.output;
  // OTHERPACS is allowed, but only from 127.0.0.2: from 127.0.0.1 it is refused.
  const auto wrong_address = node.echoscu("-aet OTHERPACS");
  EXPECT_NE(wrong_address.status, 0);
  EXPECT_NE(wrong_address.output.find("Rejected"), std::string::npos);
  EXPECT_NE(node.log().find("calling_ae=INTRUDER"), std::string::npos);
}

TEST(Associations, TwentyFiveConcurrentSendersAreAllServedAndNothingIsLost) {
  NodeHarness node;
  node.config()["dicom"]["max_associations"] = 32;
  node.config()["study"]["quiet_period_s"] = 30;  // keep the workers out of the way
  node.start();
  constexpr int kSenders = 25, kPerSender = 8;
  std::vector<std::vector<std::string>> files(kSenders);
  for (int s = 0; s < kSenders; ++s) {
    std::vector<SyntheticImage> images;
    for (int i = 0; i < kPerSender; ++i) images.push_back(frontal(new_uid(SITE_STUDY_UID_ROOT)));
    files[s] = write_images(node.dir(), "sender" + std::to_string(s) + "_", images);
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::future<CommandResult>> senders;
  for (int s = 0; s < kSenders; ++s) {
    std::string command = std::string(EVAX_STORE_LOAD_BINARY) + " EVAX " + std::to_string(node.port());
    for (const auto& f : files[s]) command += " " + f;
    senders.push_back(std::async(std::launch::async, [command] { return run_command(command); }));
  }
  std::vector<double> latencies;
  int acknowledged = 0;
  for (auto& f : senders) {
    const auto result = f.get();
    std::istringstream lines(result.output);
    for (std::string line; std::getline(lines, line);) {
      double ms = 0;
      unsigned status = 0xFFFF;
      if (std::sscanf(line.c_str(), "latency_ms %lf status 0x%x", &ms, &status) == 2) {
        latencies.push_back(ms);
        if (status == 0) ++acknowledged;
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(latencies.begin(), latencies.end());
  ASSERT_FALSE(latencies.empty());
  const auto percentile = [&](double p) { return latencies[static_cast<std::size_t>(p * (latencies.size() - 1))]; };
  std::printf("25 concurrent senders x %d instances: %d acknowledged in %.2f s, %.1f instances/s; "
              "answer time p50 %.1f ms, p99 %.1f ms\n",
              kPerSender, acknowledged, seconds, acknowledged / seconds, percentile(0.5), percentile(0.99));
  EXPECT_EQ(acknowledged, kSenders * kPerSender);
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances"), std::to_string(acknowledged));
}

TEST(Associations, BeyondTheLimitSendersAreRefusedNoneHangsNothingAcknowledgedIsLost) {
  NodeHarness node;
  node.config()["dicom"]["max_associations"] = 2;
  node.config()["study"]["quiet_period_s"] = 30;
  node.start();
  constexpr int kSenders = 12;
  std::vector<std::vector<std::string>> files(kSenders);
  for (int s = 0; s < kSenders; ++s) {
    std::vector<SyntheticImage> images;
    for (int i = 0; i < 6; ++i) images.push_back(frontal(new_uid(SITE_STUDY_UID_ROOT)));
    files[s] = write_images(node.dir(), "burst" + std::to_string(s) + "_", images);
  }
  std::vector<std::future<CommandResult>> senders;
  for (int s = 0; s < kSenders; ++s)
    senders.push_back(std::async(std::launch::async, [&, s] { return node.storescu(files[s]); }));
  int acknowledged = 0, refused = 0;
  for (auto& f : senders) {
    const auto result = f.get();
    EXPECT_NE(result.status, -1) << "a sender hung until its timeout";
    acknowledged += store_successes(result.output);
    if (result.output.find("Local Limit Exceeded") != std::string::npos) ++refused;
  }
  std::printf("%d senders against a limit of 2: %d refused, %d instances acknowledged\n", kSenders, refused, acknowledged);
  EXPECT_GT(refused, 0);
  EXPECT_GT(acknowledged, 0);
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances"), std::to_string(acknowledged));
  EXPECT_NE(node.log().find("too many associations"), std::string::npos);
}

TEST(Associations, StalledPeersDoNotDelayALegitimateSenderAndAreClosedAfterTheAcseTimeout) {
  NodeHarness node;
  node.config()["dicom"]["acse_timeout_s"] = 2;
  node.config()["dicom"]["max_pending_associations"] = 64;
  node.start();
  std::vector<int> stalled;
  for (int i = 0; i < 200; ++i) stalled.push_back(connect_loopback(node.port()));  // connect, say nothing
  for (int i = 0; i < 10; ++i) {                                              // half a PDU header
    const int fd = connect_loopback(node.port());
    const unsigned char partial[3] = {0x01, 0x00, 0x00};
    ::send(fd, partial, sizeof partial, 0);
    stalled.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  const auto start = std::chrono::steady_clock::now();
  const auto files = write_images(node.dir(), "legit", {frontal(new_uid(SITE_STUDY_UID_ROOT))});
  const auto sent = node.storescu(files);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("legitimate store beside 210 stalled sockets: %.3f s\n", seconds);
  EXPECT_EQ(store_successes(sent.output), 1) << sent.output;
  EXPECT_LT(seconds, 2.0);  // served at once, not after an ACSE timeout

  int closed = 0;
  for (int fd : stalled) {
    if (fd >= 0 && closed_by_peer(fd, std::chrono::milliseconds(4000))) ++closed;
    if (fd >= 0) ::close(fd);
  }
  EXPECT_EQ(closed, static_cast<int>(stalled.size()));
  EXPECT_EQ(node.echoscu().status, 0);  // and the node still answers
}

TEST(Associations, APeerStalledMidDatasetIsAbortedAfterTheDimseTimeout) {
  NodeHarness node;
  node.config()["dicom"]["dimse_timeout_s"] = 2;
  node.start();
  SyntheticImage big = frontal(new_uid(SITE_STUDY_UID_ROOT));
  big.width = 1024;
  big.height = 1024;
  DcmDataset dataset;
  const std::string sop = fill_synthetic_dataset(&dataset, big);
  const std::string raw = (node.dir() / "big.raw").string();
  dataset.saveFile(raw.c_str(), EXS_LittleEndianExplicit);
  // The sender stops for 8 s after its first data PDV: the node must give up after 2 s.
  const auto start = std::chrono::steady_clock::now();
  const std::string report = raw_store(
      node.port(), {UID_DigitalXRayImageStorageForPresentation, sop, UID_LittleEndianExplicitTransferSyntax, raw, "", 8},
      std::chrono::seconds(120));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(report.find("status 0x0000"), std::string::npos) << report;
  EXPECT_NE(node.log().find("store-failed"), std::string::npos) << node.log();
  EXPECT_EQ(node.sql("SELECT COUNT(*) FROM instances"), "0");
  EXPECT_TRUE(std::filesystem::is_empty(node.data_dir() / "tmp"));  // no partial file left
  EXPECT_LT(seconds, 12.0);
  EXPECT_EQ(node.echoscu().status, 0);  // the slot is free again
}

}  // namespace
}  // namespace evax::testing

namespace evax::testing {
namespace {

// TLS (BCP 195 profile) with certificates made by openssl for the test.
class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"node", "client", "stranger"}) {
      const auto made = run_command("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + std::string(name) +
                                    " -keyout " + path(name, "key") + " -out " + path(name, "crt"));
      ASSERT_EQ(made.status, 0) << made.output;
    }
  }
  std::string path(const std::string& name, const std::string& ext) const {
    return (node_.dir() / (name + "." + ext)).string();
  }
  std::string tls_flags(const std::string& who) const { return "+tls " + path(who, "key") + " " + path(who, "crt") + " -ic"; }

  NodeHarness node_;
};

TEST_F(Tls, StoresOverTlsAndRefusesPlainConnections) {
  node_.config()["dicom"]["tls"] = {{"certificate", path("node", "crt")}, {"private_key", path("node", "key")}};
  node_.start();
  const auto files = write_images(node_.dir(), "tls", {frontal(new_uid(SITE_STUDY_UID_ROOT))});
  EXPECT_EQ(store_successes(node_.storescu(files, tls_flags("client")).output), 1);
  EXPECT_EQ(store_successes(node_.storescu(files).output), 0);  // plain DICOM on the TLS port
  EXPECT_EQ(node_.sql("SELECT COUNT(*) FROM instances"), "1");
}

TEST_F(Tls, RequiredPeerCertificatesMustBeTrusted) {
  node_.config()["dicom"]["tls"] = {{"certificate", path("node", "crt")},
                                    {"private_key", path("node", "key")},
                                    {"trusted_certificates", {path("client", "crt")}},
                                    {"require_peer_certificate", true}};
  node_.start();
  const auto files = write_images(node_.dir(), "mtls", {frontal(new_uid(SITE_STUDY_UID_ROOT))});
  EXPECT_EQ(store_successes(node_.storescu(files, tls_flags("client")).output), 1);
  EXPECT_EQ(store_successes(node_.storescu(files, tls_flags("stranger")).output), 0);
}

TEST(TlsConfig, AKeyThatDoesNotMatchItsCertificateStopsStartUp) {
  NodeHarness node;
  for (const char* name : {"a", "b"})
    run_command("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=x -keyout " + (node.dir() / name).string() +
                ".key -out " + (node.dir() / name).string() + ".crt");
  node.config()["dicom"]["tls"] = {{"certificate", (node.dir() / "a.crt").string()}, {"private_key", (node.dir() / "b.key").string()}};
  EXPECT_THROW(node.start({}, std::chrono::seconds(20)), std::runtime_error);
  // Refused by the config check, before anything opens, under the key at fault.
  EXPECT_NE(node.log().find("dicom.tls.private_key: does not belong to the certificate"), std::string::npos) << node.log();
}

}  // namespace
}  // namespace evax::testing
