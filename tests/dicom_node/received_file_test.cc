// The one inspection every intake runs on a received file (the SCP's C-STORE, STOW-RS):
// what it accepts, and each refusal's code and DICOM status.
#include "evax/dicom_node/received_file.h"

#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>

#include <filesystem>
#include <fstream>

#include "synthetic_dicom.h"

namespace evax::dicom_node {
namespace {

namespace fs = std::filesystem;
using testing::SyntheticImage;

class ReceivedFileInspection : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("evax-received-file-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const SyntheticImage& image) {
    const std::string path = (dir_ / (std::to_string(files_++) + ".dcm")).string();
    DcmFileFormat file;
    fill_synthetic_dataset(file.getDataset(), image);
    file.saveFile(path.c_str(), EXS_LittleEndianExplicit);
    return path;
  }

  // The image with encapsulated JPEG 2000 pixel data (one fragment of arbitrary bytes: the
  // inspection never decodes pixels).
  std::string write_jpeg2000(SyntheticImage image) {
    image.omit_pixel_data = true;
    const std::string path = (dir_ / (std::to_string(files_++) + ".dcm")).string();
    DcmFileFormat file;
    fill_synthetic_dataset(file.getDataset(), image);
    auto* sequence = new DcmPixelSequence(DcmTag(DCM_PixelData, EVR_OB));
    sequence->insert(new DcmPixelItem(DcmTag(DCM_Item, EVR_OB)));  // the empty offset table
    auto* fragment = new DcmPixelItem(DcmTag(DCM_Item, EVR_OB));
    const Uint8 bytes[8] = {0xFF, 0x4F, 0xFF, 0x51, 0, 0, 0, 0};
    fragment->putUint8Array(bytes, sizeof bytes);
    sequence->insert(fragment);
    auto* pixels = new DcmPixelData(DCM_PixelData);
    pixels->putOriginalRepresentation(EXS_JPEG2000, nullptr, sequence);
    file.getDataset()->insert(pixels, true);
    file.saveFile(path.c_str(), EXS_JPEG2000);
    return path;
  }

  SyntheticImage image() {
    SyntheticImage s;
    s.study_uid = "1.2.826.0.1.3680043.10.1.1";
    s.sop_uid = "1.2.826.0.1.3680043.10.1.1.1";
    return s;
  }

  fs::path dir_;
  int files_ = 0;
};

TEST_F(ReceivedFileInspection, AValidImageGivesItsAttributesAndStaysWhereItIs) {
  const std::string path = write(image());
  const auto inspected = inspect_received_file(path, {UID_DigitalXRayImageStorageForPresentation, "1.2.826.0.1.3680043.10.1.1.1",
                                                      "1.2.826.0.1.3680043.10.1.1"});
  ASSERT_TRUE(inspected.has_value()) << inspected.error().why;
  EXPECT_EQ(inspected->sop_instance_uid, "1.2.826.0.1.3680043.10.1.1.1");
  EXPECT_EQ(inspected->study_instance_uid, "1.2.826.0.1.3680043.10.1.1");
  EXPECT_EQ(inspected->transfer_syntax_uid, UID_LittleEndianExplicitTransferSyntax);
  EXPECT_EQ(inspected->modality, "DX");
  EXPECT_EQ(inspected->rows, 48);
  EXPECT_TRUE(fs::exists(path));
  // Nothing announced: nothing compared.
  EXPECT_TRUE(inspect_received_file(path, {}).has_value());
}

TEST_F(ReceivedFileInspection, EachRefusalHasItsCodeAndStatus) {
  struct Case {
    const char* name;
    std::string path;
    AnnouncedIdentity announced;
    RefusalCode code;
    std::uint16_t status;
  };
  SyntheticImage ct = image();
  ct.sop_class_uid = UID_CTImageStorage;
  SyntheticImage no_pixels = image();
  no_pixels.omit_pixel_data = true;
  SyntheticImage bad_uid = image();
  bad_uid.sop_uid = "1.2.3/../4";
  const std::string garbage = (dir_ / "garbage.dcm").string();
  std::ofstream(garbage, std::ios::binary) << std::string(300, '\x7f');
  const std::vector<Case> cases = {
      {"other SOP class announced", write(image()), {UID_ComputedRadiographyImageStorage, "", ""}, RefusalCode::sop_class_mismatch, 0xA900},
      {"other instance announced", write(image()), {"", "1.2.3.4", ""}, RefusalCode::sop_instance_mismatch, 0xC000},
      {"other study named", write(image()), {"", "", "1.2.3.4"}, RefusalCode::study_mismatch, 0xA900},
      {"CT", write(ct), {}, RefusalCode::sop_class_not_supported, 0x0122},
      {"JPEG 2000", write_jpeg2000(image()), {}, RefusalCode::transfer_syntax_not_supported, 0xC122},
      {"no pixel data", write(no_pixels), {}, RefusalCode::cannot_understand, 0xC000},
      {"hostile UID", write(bad_uid), {}, RefusalCode::cannot_understand, 0xC000},
      {"not DICOM", garbage, {}, RefusalCode::cannot_understand, 0xC000},
  };
  for (const Case& c : cases) {
    const auto inspected = inspect_received_file(c.path, c.announced);
    ASSERT_FALSE(inspected.has_value()) << c.name;
    EXPECT_EQ(inspected.error().code, c.code) << c.name << ": " << inspected.error().why;
    EXPECT_EQ(refusal_status(inspected.error().code), c.status) << c.name;
    EXPECT_FALSE(inspected.error().why.empty()) << c.name;
    // Refused once read: the dataset's identity comes along (for a STOW-RS FailedSOPSequence).
    if (c.code == RefusalCode::sop_class_not_supported) {
      EXPECT_EQ(inspected.error().sop_class_uid, UID_CTImageStorage);
    }
    if (c.code == RefusalCode::cannot_understand) {
      EXPECT_EQ(inspected.error().sop_instance_uid, "") << c.name;
    }
  }
}

TEST_F(ReceivedFileInspection, OnlyCrAndDxAreStored) {
  EXPECT_TRUE(stored_sop_class(UID_ComputedRadiographyImageStorage));
  EXPECT_TRUE(stored_sop_class(UID_DigitalXRayImageStorageForPresentation));
  EXPECT_TRUE(stored_sop_class(UID_DigitalXRayImageStorageForProcessing));
  EXPECT_FALSE(stored_sop_class(UID_CTImageStorage));
  EXPECT_FALSE(stored_sop_class(""));
}

}  // namespace
}  // namespace evax::dicom_node
