// What the listener stores and what it refuses (PS3.4 B.2.3, PS3.7 9.1.1): a C-STORE must name
// a SOP class the node stores, come on a presentation context of that SOP class, and carry a
// dataset of it. Anything else is refused (0x0122, or 0xA900 for the dataset), nothing is
// written and no job starts; every store, stored or refused, is in the audit log.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcdatset.h>

#include <fstream>
#include <map>

#include "raw_store.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kDx = UID_DigitalXRayImageStorageForPresentation;
const std::string kCr = UID_ComputedRadiographyImageStorage;
const std::string kCt = UID_CTImageStorage;
const std::string kVerification = UID_VerificationSOPClass;

class StoreConformance : public ::testing::Test {
 protected:
  void SetUp() override { node_.start(); }

  // Sends `image` (dataset only, explicit VR little endian) as a C-STORE naming `command_class`
  // on a presentation context of `context`; the raw sender's report ("status 0x....").
  std::string send(SyntheticImage image, const std::string& command_class, const std::string& context) {
    DcmDataset dataset;
    fill_synthetic_dataset(&dataset, image);
    const std::string path = (node_.dir() / "payload.raw").string();
    EXPECT_TRUE(dataset.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
    return raw_store(node_.port(), {command_class, image.sop_uid, UID_LittleEndianExplicitTransferSyntax, path, context});
  }

  SyntheticImage image_of(const std::string& sop_class, const std::string& modality) {
    SyntheticImage image = frontal(new_uid(SITE_STUDY_UID_ROOT));
    image.sop_uid = new_uid();
    image.sop_class_uid = sop_class;
    image.modality = modality;
    return image;
  }

  std::vector<json> audited_stores() {
    std::vector<json> stores;
    std::ifstream in(node_.data_dir() / "audit.log");
    for (std::string line; std::getline(in, line);)
      if (auto entry = json::parse(line); entry["event"] == "store") stores.push_back(entry);
    return stores;
  }

  std::size_t files_under(const fs::path& dir) {
    std::size_t count = 0;
    if (fs::exists(dir))
      for (const auto& entry : fs::recursive_directory_iterator(dir)) count += entry.is_regular_file();
    return count;
  }

  NodeHarness node_;
};

TEST_F(StoreConformance, AStoreOfAnotherSopClassOrOnAnotherContextIsRefusedAndNothingIsWritten) {
  struct Case {
    const char* what;
    SyntheticImage image;
    std::string command_class, context, status;
  };
  const std::vector<Case> cases = {
      {"CT on the Verification context", image_of(kCt, "CT"), kCt, kVerification, "0x0122"},
      {"CT, command and dataset, on a DX context", image_of(kCt, "CT"), kCt, kDx, "0x0122"},
      {"DX on the Verification context", image_of(kDx, "DX"), kDx, kVerification, "0x0122"},
      {"DX on a CR context", image_of(kDx, "DX"), kDx, kCr, "0x0122"},
      {"a CT dataset under a DX command on a DX context", image_of(kCt, "CT"), kDx, kDx, "0xa900"},
  };
  for (const auto& c : cases) {
    const std::string report = send(c.image, c.command_class, c.context);
    EXPECT_NE(report.find("status " + c.status), std::string::npos) << c.what << ": " << report;
  }
  EXPECT_EQ(node_.sql("SELECT COUNT(*) FROM instances"), "0");
  EXPECT_EQ(node_.sql("SELECT COUNT(*) FROM jobs"), "0");
  EXPECT_EQ(files_under(node_.data_dir() / "instances"), 0u);
  EXPECT_EQ(files_under(node_.data_dir() / "tmp"), 0u);

  // Each refusal is audited with the status sent and why; nothing was stored.
  const auto stores = audited_stores();
  ASSERT_EQ(stores.size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(stores[i]["outcome"], "refused") << stores[i].dump();
    std::string status = stores[i]["status"];
    for (auto& ch : status) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_EQ(status, cases[i].status) << stores[i].dump();
    EXPECT_FALSE(stores[i]["reason"].get<std::string>().empty());
    EXPECT_EQ(stores[i]["sop_instance_uid"], cases[i].image.sop_uid);
  }

  // The same listener stores a DX on its own context: the refusals were not a closed door.
  const SyntheticImage dx = image_of(kDx, "DX");
  EXPECT_NE(send(dx, kDx, kDx).find("status 0x0000"), std::string::npos);
  EXPECT_EQ(node_.sql("SELECT COUNT(*) FROM instances"), "1");
  EXPECT_EQ(audited_stores().back()["outcome"], "stored");
}

TEST_F(StoreConformance, EveryStoreOutcomeIsAudited) {
  SyntheticImage no_pixels = image_of(kDx, "DX");
  no_pixels.omit_pixel_data = true;
  const SyntheticImage good = image_of(kDx, "DX");
  const std::map<std::string, std::string> expected = {
      {no_pixels.sop_uid, "refused"},  // 0xC000: no pixel data
      {good.sop_uid, "stored"},
  };
  EXPECT_NE(send(no_pixels, kDx, kDx).find("status 0xc000"), std::string::npos);
  EXPECT_NE(send(good, kDx, kDx).find("status 0x0000"), std::string::npos);
  EXPECT_NE(send(good, kDx, kDx).find("status 0x0000"), std::string::npos);  // a duplicate

  const auto stores = audited_stores();
  ASSERT_EQ(stores.size(), 3u);
  EXPECT_EQ(stores[0]["outcome"], "refused");
  EXPECT_EQ(stores[0]["status"], "0xC000");
  EXPECT_NE(stores[0]["reason"].get<std::string>().find("no pixel data"), std::string::npos) << stores[0].dump();
  EXPECT_EQ(stores[1]["outcome"], "stored");
  EXPECT_EQ(stores[2]["outcome"], "duplicate");
  for (const auto& s : stores) {
    EXPECT_EQ(s["peer"], "RAWSCU@127.0.0.1") << s.dump();
    EXPECT_EQ(expected.count(s["sop_instance_uid"].get<std::string>()), 1u) << s.dump();
  }
}

}  // namespace
}  // namespace evax::testing
