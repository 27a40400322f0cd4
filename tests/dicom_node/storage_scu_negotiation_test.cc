// The storage SCU against a destination that refuses some SOP classes at association negotiation
// (evax-test-scp --refuse-classes, on loopback): a 3D or Enhanced SR goes as Comprehensive SR with
// the same content, other refused classes come back permanent with the reason, the rest as usual.
#include "evax/dicom_node/storage_scu.h"

#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include "process.h"

namespace evax::dicom_node {
namespace {

namespace fs = std::filesystem;

constexpr const char* kComprehensiveSr = "1.2.840.10008.5.1.4.1.1.88.33";
constexpr const char* kComprehensive3dSr = "1.2.840.10008.5.1.4.1.1.88.34";
constexpr const char* kEnhancedSr = "1.2.840.10008.5.1.4.1.1.88.22";
constexpr const char* kParametricMap = "1.2.840.10008.5.1.4.1.1.30";
constexpr const char* kSecondaryCapture = "1.2.840.10008.5.1.4.1.1.7";

// A small SR document of `sop_class` with a nested content tree; `scoord3d` adds a 3D point.
OutgoingFile write_sr(const fs::path& dir, const std::string& sop_class, const std::string& uid, bool scoord3d = false) {
  DcmFileFormat file;
  DcmDataset& d = *file.getDataset();
  d.putAndInsertString(DCM_SOPClassUID, sop_class.c_str());
  d.putAndInsertString(DCM_SOPInstanceUID, uid.c_str());
  d.putAndInsertString(DCM_StudyInstanceUID, "1.2.826.0.1.3680043.10.1.1");
  d.putAndInsertString(DCM_SeriesInstanceUID, "1.2.826.0.1.3680043.10.1.2");
  d.putAndInsertString(DCM_Modality, "SR");
  d.putAndInsertString(DCM_ValueType, "CONTAINER");
  d.putAndInsertString(DCM_CompletionFlag, "COMPLETE");
  DcmItem* finding = nullptr;
  d.findOrCreateSequenceItem(DCM_ContentSequence, finding, -2);
  finding->putAndInsertString(DCM_RelationshipType, "CONTAINS");
  finding->putAndInsertString(DCM_ValueType, "TEXT");
  finding->putAndInsertString(DCM_TextValue, "Effusion: present (0.81)");
  DcmItem* nested = nullptr;
  finding->findOrCreateSequenceItem(DCM_ContentSequence, nested, -2);
  nested->putAndInsertString(DCM_RelationshipType, "HAS PROPERTIES");
  nested->putAndInsertString(DCM_ValueType, scoord3d ? "SCOORD3D" : "TEXT");
  nested->putAndInsertString(scoord3d ? DCM_GraphicType : DCM_TextValue, scoord3d ? "POINT" : "right lung");
  const fs::path path = dir / (uid + ".dcm");
  EXPECT_TRUE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
  return {path.string(), sop_class, uid};
}

// A header-only object of `sop_class` (the SCP stores what it gets; only the class matters here).
OutgoingFile write_object(const fs::path& dir, const std::string& sop_class, const std::string& uid) {
  DcmFileFormat file;
  DcmDataset& d = *file.getDataset();
  d.putAndInsertString(DCM_SOPClassUID, sop_class.c_str());
  d.putAndInsertString(DCM_SOPInstanceUID, uid.c_str());
  d.putAndInsertString(DCM_StudyInstanceUID, "1.2.826.0.1.3680043.10.1.1");
  const fs::path path = dir / (uid + ".dcm");
  EXPECT_TRUE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
  return {path.string(), sop_class, uid};
}

std::string text_of(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  item.findAndGetOFStringArray(tag, value);
  return value.c_str();
}

// The content tree as text, for comparing two documents' content.
std::string content_of(const fs::path& path) {
  DcmFileFormat file;
  EXPECT_TRUE(file.loadFile(path.c_str()).good()) << path;
  DcmItem* item = nullptr;
  std::string out;
  for (int i = 0; file.getDataset()->findAndGetSequenceItem(DCM_ContentSequence, item, i).good(); ++i) {
    out += text_of(*item, DCM_ValueType) + ":" + text_of(*item, DCM_TextValue) + "/";
    DcmItem* inner = nullptr;
    for (int j = 0; item->findAndGetSequenceItem(DCM_ContentSequence, inner, j).good(); ++j)
      out += text_of(*inner, DCM_RelationshipType) + ":" + text_of(*inner, DCM_TextValue) + ";";
  }
  return out;
}

bool accepts_connections(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool open = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return open;
}

class StorageScuNegotiation : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/evax-scu-negotiation-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    fs::create_directories(dir_ / "received");
    port_ = testing::free_tcp_port();
  }
  void TearDown() override {
    if (scp_.running()) {
      scp_.signal(SIGKILL);
      scp_.wait(std::chrono::seconds(10));
    }
    fs::remove_all(dir_);
  }
  void start_scp(const std::string& refused_classes) {
    scp_.start({EVAX_TEST_SCP_BINARY, std::to_string(port_), "OLDPACS", (dir_ / "received").string(),
                (dir_ / "received.log").string(), "--refuse-classes", refused_classes},
               (dir_ / "scp.log").string());
    for (int i = 0; i < 200 && scp_.running() && !accepts_connections(port_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(accepts_connections(port_)) << "evax-test-scp did not start";
  }
  std::vector<SendResult> send(const std::vector<OutgoingFile>& files) {
    return send_files({"EVAX", 5, 5, 65536}, {"OLDPACS", "127.0.0.1", port_}, files);
  }
  // What arrived: SOP Instance UID -> {SOP class, file}.
  std::map<std::string, std::pair<std::string, fs::path>> received() {
    std::map<std::string, std::pair<std::string, fs::path>> out;
    for (const auto& entry : fs::directory_iterator(dir_ / "received")) {
      DcmFileFormat file;
      if (file.loadFile(entry.path().c_str()).bad()) continue;
      out[text_of(*file.getDataset(), DCM_SOPInstanceUID)] = {text_of(*file.getDataset(), DCM_SOPClassUID), entry.path()};
    }
    return out;
  }

  fs::path dir_;
  int port_ = 0;
  testing::BackgroundProcess scp_;
};

TEST_F(StorageScuNegotiation, ARefused3dSrArrivesAsComprehensiveSrWithTheSameContent) {
  start_scp(std::string(kComprehensive3dSr) + "," + kEnhancedSr);
  const auto sr3d = write_sr(dir_, kComprehensive3dSr, "1.2.826.0.1.3680043.10.1.3");
  const auto enhanced = write_sr(dir_, kEnhancedSr, "1.2.826.0.1.3680043.10.1.4");
  const auto sc = write_object(dir_, kSecondaryCapture, "1.2.826.0.1.3680043.10.1.5");
  const auto results = send({sr3d, enhanced, sc});
  ASSERT_EQ(results.size(), 3u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(results[i].outcome, SendOutcome::delivered) << results[i].detail;
    EXPECT_EQ(results[i].sent_sop_class_uid, kComprehensiveSr);
    EXPECT_EQ(results[i].sent_sop_instance_uid.rfind("2.25.", 0), 0u) << results[i].sent_sop_instance_uid;
    EXPECT_LE(results[i].sent_sop_instance_uid.size(), 64u);
    EXPECT_NE(results[i].substitution.find("sent as Comprehensive SR"), std::string::npos) << results[i].substitution;
    EXPECT_NE(results[i].substitution.find("refused"), std::string::npos) << results[i].substitution;
  }
  EXPECT_NE(results[0].sent_sop_instance_uid, results[1].sent_sop_instance_uid);
  EXPECT_EQ(results[2].outcome, SendOutcome::delivered);  // accepted: as made
  EXPECT_TRUE(results[2].substitution.empty());
  EXPECT_TRUE(results[2].sent_sop_instance_uid.empty());

  auto arrived = received();
  ASSERT_EQ(arrived.size(), 3u);
  ASSERT_TRUE(arrived.count(results[0].sent_sop_instance_uid));
  const auto& [sr_class, sr_file] = arrived.at(results[0].sent_sop_instance_uid);
  EXPECT_EQ(sr_class, kComprehensiveSr);
  EXPECT_EQ(content_of(sr_file), content_of(sr3d.path));
  EXPECT_EQ(content_of(sr_file), "TEXT:Effusion: present (0.81)/HAS PROPERTIES:right lung;");
  EXPECT_EQ(arrived.at(sc.sop_instance_uid).first, kSecondaryCapture);
  // The stored file is untouched, and a re-send gives the same derived UID.
  EXPECT_EQ(content_of(sr3d.path), content_of(sr_file));
  const auto again = send({sr3d});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].sent_sop_instance_uid, results[0].sent_sop_instance_uid);
}

TEST_F(StorageScuNegotiation, ARefusedClassWithoutAnAlternativeIsPermanentWithTheReason) {
  start_scp(std::string(kComprehensive3dSr) + "," + kParametricMap);
  const auto map = write_object(dir_, kParametricMap, "1.2.826.0.1.3680043.10.2.1");
  const auto with_3d_points = write_sr(dir_, kComprehensive3dSr, "1.2.826.0.1.3680043.10.2.2", true);
  const auto sc = write_object(dir_, kSecondaryCapture, "1.2.826.0.1.3680043.10.2.3");
  const auto results = send({map, with_3d_points, sc});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].outcome, SendOutcome::permanent);
  EXPECT_TRUE(results[0].refused_sop_class);
  EXPECT_NE(results[0].detail.find("refused SOP class Parametric Map (1.2.840.10008.5.1.4.1.1.30) at association negotiation"),
            std::string::npos)
      << results[0].detail;
  EXPECT_EQ(results[1].outcome, SendOutcome::permanent);
  EXPECT_TRUE(results[1].refused_sop_class);
  EXPECT_NE(results[1].detail.find("3D coordinates"), std::string::npos) << results[1].detail;
  EXPECT_EQ(results[2].outcome, SendOutcome::delivered) << results[2].detail;
  EXPECT_FALSE(results[2].refused_sop_class);
  EXPECT_EQ(received().size(), 1u);  // only the SC

  // A batch of refused classes only: the association has no context at all, still a clear refusal.
  const auto alone = send({map});
  ASSERT_EQ(alone.size(), 1u);
  EXPECT_EQ(alone[0].outcome, SendOutcome::permanent);
  EXPECT_TRUE(alone[0].refused_sop_class);
  EXPECT_NE(alone[0].detail.find("at association negotiation"), std::string::npos) << alone[0].detail;
}

}  // namespace
}  // namespace evax::dicom_node
