// The Orthanc test helper against DCMTK's own tools: Orthanc stores an upload and forwards it
// to a storescp over DICOM, takes a C-STORE from storescu, and reports a send to a
// destination that is down as a failure.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcfilefo.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <thread>

#include "orthanc_peer.h"
#include "process.h"
#include "synthetic_dicom.h"

namespace evax::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/evax-orthanc-test-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// DCMTK's storescp as a DICOM destination, writing what it receives into `dir`.
class StoreScp {
 public:
  StoreScp(const std::string& ae_title, const fs::path& dir) : ae_title_(ae_title), port_(free_tcp_port()) {
    fs::create_directories(dir / "received");
    process_.start({"/usr/bin/storescp", "-aet", ae_title, "-od", (dir / "received").string(), std::to_string(port_)},
                   (dir / "storescp.log").string());
    // Listening once it answers a C-ECHO.
    for (int i = 0; i < 100; ++i) {
      const auto echo = run_command("echoscu -to 2 -aec " + ae_title + " 127.0.0.1 " + std::to_string(port_), 10s);
      if (echo.status == 0) return;
      std::this_thread::sleep_for(100ms);
    }
    throw std::runtime_error("storescp did not start");
  }
  ~StoreScp() {
    process_.signal(SIGTERM);
    process_.wait(5s);
  }
  int port() const { return port_; }
  const std::string& ae_title() const { return ae_title_; }

 private:
  std::string ae_title_;
  int port_;
  BackgroundProcess process_;
};

// The SOP Instance UIDs of the DICOM files in `dir`.
std::vector<std::string> sop_instance_uids(const fs::path& dir) {
  std::vector<std::string> uids;
  for (const auto& entry : fs::directory_iterator(dir)) {
    DcmFileFormat file;
    OFString uid;
    if (file.loadFile(entry.path().c_str()).good() &&
        file.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, uid).good())
      uids.push_back(uid.c_str());
  }
  return uids;
}

SyntheticImage test_image(const std::string& patient_id) {
  SyntheticImage image;
  image.study_uid = new_uid(SITE_STUDY_UID_ROOT);
  image.patient_id = patient_id;
  return image;
}

TEST(OrthancPeer, StoresAndForwardsToADicomDestination) {
  TempDir dir;
  StoreScp destination("DEST", dir.path());
  OrthancPeer pacs({{"dest", destination.ae_title(), "127.0.0.1", destination.port()}});

  const SyntheticImage image = test_image("ORTHANC-PEER-1");
  const std::string path = (dir.path() / "dx.dcm").string();
  const std::string sop_uid = write_synthetic_dicom(path, image);
  const std::string id = pacs.upload(path);
  EXPECT_EQ(pacs.upload(path), id);  // a second upload of the same instance: the same id

  const auto instances = pacs.study_instances_tags(image.study_uid);
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0]["PatientID"], image.patient_id);
  EXPECT_EQ(instances[0]["StudyInstanceUID"], image.study_uid);
  EXPECT_EQ(instances[0]["SOPInstanceUID"], sop_uid);
  EXPECT_TRUE(pacs.study_instances_tags(new_uid(SITE_STUDY_UID_ROOT)).empty());

  try {
    pacs.send_to_modality("dest", {id});
  } catch (const std::exception& e) {
    FAIL() << e.what() << "\nOrthanc log:\n" << pacs.log();
  }
  // Synchronous: storescp writes the file before it answers the C-STORE.
  EXPECT_EQ(sop_instance_uids(dir.path() / "received"), std::vector<std::string>{sop_uid}) << pacs.log();
}

TEST(OrthancPeer, ReceivesOverDicom) {
  TempDir dir;
  OrthancPeer pacs;
  const SyntheticImage image = test_image("ORTHANC-PEER-2");
  const std::string path = (dir.path() / "dx.dcm").string();
  const std::string sop_uid = write_synthetic_dicom(path, image);

  const auto sent = run_command("storescu -v -to 30 -ta 30 -td 30 -aec " + pacs.ae_title() + " 127.0.0.1 " +
                                std::to_string(pacs.dicom_port()) + " " + path);
  ASSERT_EQ(sent.status, 0) << sent.output << "\nOrthanc log:\n" << pacs.log();
  EXPECT_NE(sent.output.find("Received Store Response (Success)"), std::string::npos) << sent.output;

  const auto instances = pacs.study_instances_tags(image.study_uid);
  ASSERT_EQ(instances.size(), 1u) << pacs.log();
  EXPECT_EQ(instances[0]["PatientID"], image.patient_id);
  EXPECT_EQ(instances[0]["SOPInstanceUID"], sop_uid);
}

TEST(OrthancPeer, SendingToADestinationThatIsDownThrows) {
  TempDir dir;
  OrthancPeer pacs({{"down", "DOWN", "127.0.0.1", free_tcp_port()}});  // nothing listens there
  const std::string path = (dir.path() / "dx.dcm").string();
  write_synthetic_dicom(path, test_image("ORTHANC-PEER-3"));
  const std::string id = pacs.upload(path);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_THROW(pacs.send_to_modality("down", {id}), std::runtime_error);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);  // refused at once, not after a timeout
  EXPECT_THROW(pacs.send_to_modality("unknown", {id}), std::runtime_error);
}

}  // namespace
}  // namespace evax::testing
