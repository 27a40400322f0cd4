// The listener's own boundaries, with a StoreHandler that fails in ways the real one should not
// (throws): the store is answered 0xA700 (the sender keeps the image and retries), the failure is
// logged and audited, and the listener goes on serving. And the presentation-context rule: a
// C-STORE is refused with 0x0122 before any handler call when its SOP class is not its context's.
#include "evax/dicom_node/storage_scp.h"

#include <gtest/gtest.h>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "process.h"
#include "raw_store.h"
#include "synthetic_dicom.h"

namespace evax::dicom_node {
namespace {

namespace fs = std::filesystem;
using testing::run_command;

// Throws where it is told to; otherwise keeps nothing and answers success.
class FailingHandler final : public StoreHandler {
 public:
  fs::path dir;  // where incoming datasets are written
  std::atomic<bool> throw_in_handle{false};
  std::atomic<bool> throw_in_has_space{false};
  std::atomic<int> handled{0};

  bool has_space() override {
    if (throw_in_has_space) throw std::runtime_error("has_space failed on purpose");
    return true;
  }
  std::string new_temp_path() override { return (dir / ("incoming-" + std::to_string(next_++))).string(); }
  StoreStatus handle(const ReceivedFile& file) override {
    if (throw_in_handle) throw std::runtime_error("handle failed on purpose");
    fs::remove(file.temp_path);
    ++handled;
    return StoreStatus::success;
  }

 private:
  std::atomic<int> next_{0};
};

class StorageScpBoundary : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("evax-scp-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    handler_.dir = dir_;
    settings_.port = testing::free_tcp_port();
    settings_.dimse_timeout_s = 5;
    settings_.acse_timeout_s = 5;
    audit_ = std::make_unique<logging::AuditLog>((dir_ / "audit.log").string());
    scp_ = std::make_unique<StorageScp>(settings_, handler_, log_, audit_.get());
  }
  void TearDown() override {
    scp_.reset();
    fs::remove_all(dir_);
  }

  // A small DX dataset (dataset only, explicit VR little endian) as the raw sender sends it.
  std::string dataset_file(const std::string& sop_uid) {
    testing::SyntheticImage image;
    image.study_uid = testing::new_uid(SITE_STUDY_UID_ROOT);
    image.sop_uid = sop_uid;
    DcmDataset dataset;
    testing::fill_synthetic_dataset(&dataset, image);
    const std::string path = (dir_ / (sop_uid + ".raw")).string();
    EXPECT_TRUE(dataset.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
    return path;
  }

  // The raw sender's report for one C-STORE of a DX dataset (on `context`'s presentation context).
  std::string send(const std::string& context = UID_DigitalXRayImageStorageForPresentation) {
    const std::string sop = testing::new_uid();
    return testing::raw_store(settings_.port,
                              {UID_DigitalXRayImageStorageForPresentation, sop, UID_LittleEndianExplicitTransferSyntax, dataset_file(sop), context},
                              std::chrono::seconds(30));
  }

  std::string log_text() {
    std::lock_guard lock(lines_mutex_);
    return lines_.str();
  }
  std::string audit_text() {
    std::ifstream in(dir_ / "audit.log");
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }

  fs::path dir_;
  config::DicomSettings settings_;
  FailingHandler handler_;
  std::mutex lines_mutex_;
  std::ostringstream lines_;
  logging::Logger log_{logging::Level::debug, logging::Logger::Format::text, [this](const std::string& line) {
                         std::lock_guard lock(lines_mutex_);
                         lines_ << line << "\n";
                       }};
  std::unique_ptr<logging::AuditLog> audit_;
  std::unique_ptr<StorageScp> scp_;
};

TEST_F(StorageScpBoundary, AHandlerThatThrowsIsAnsweredOutOfResourcesAndTheListenerGoesOn) {
  handler_.throw_in_handle = true;
  EXPECT_NE(send().find("status 0xa700"), std::string::npos);
  EXPECT_NE(log_text().find("internal error: handle failed on purpose"), std::string::npos) << log_text();
  EXPECT_NE(audit_text().find("\"outcome\":\"refused\""), std::string::npos) << audit_text();
  EXPECT_NE(audit_text().find("0xA700"), std::string::npos) << audit_text();

  handler_.throw_in_handle = false;
  EXPECT_NE(send().find("status 0x0000"), std::string::npos);
  EXPECT_EQ(handler_.handled, 1);
}

TEST_F(StorageScpBoundary, AThrowOutsideTheStoreEndsOnlyThatAssociation) {
  handler_.throw_in_has_space = true;
  EXPECT_NE(send().find("aborted"), std::string::npos);
  EXPECT_NE(log_text().find("session-failed"), std::string::npos) << log_text();

  handler_.throw_in_has_space = false;
  EXPECT_NE(send().find("status 0x0000"), std::string::npos);
  // The failed session gave its association slot back.
  EXPECT_EQ(scp_->stats().active_associations, 0);
}

TEST_F(StorageScpBoundary, AStoreOutsideItsPresentationContextNeverReachesTheHandler) {
  EXPECT_NE(send(UID_VerificationSOPClass).find("status 0x0122"), std::string::npos);
  EXPECT_NE(send(UID_ComputedRadiographyImageStorage).find("status 0x0122"), std::string::npos);
  EXPECT_EQ(handler_.handled, 0);
  EXPECT_NE(log_text().find("differs from its presentation context's"), std::string::npos) << log_text();
  EXPECT_NE(send().find("status 0x0000"), std::string::npos);
  EXPECT_EQ(handler_.handled, 1);
}

}  // namespace
}  // namespace evax::dicom_node
