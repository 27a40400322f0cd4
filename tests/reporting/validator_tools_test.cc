// The validator assertions fail when they should: a missing or crashing tool, a tool that
// checked something else, a file with errors, a warning nobody allowed. Without this a
// validator call could pass without validating anything.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "synthetic_dicom.h"
#include "validator_tools.h"

namespace evax::testing {
namespace {

namespace fs = std::filesystem;

class ValidatorTools : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/evax-validator-test-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    dx_ = (dir_ / "dx.dcm").string();
    SyntheticImage image;
    image.width = 64;
    image.height = 48;
    write_synthetic_dicom(dx_, image);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  std::string dx_;
};

TEST_F(ValidatorTools, DciodvfyMustRunAndCheckTheNamedIod) {
  // The synthetic DX lacks Type 2 attributes (PatientBirthDate ...): dciodvfy's errors.
  const ValidatorReport report = dciodvfy(dx_, "DXImageForPresentation");
  EXPECT_TRUE(report.ran) << report.result.output;
  EXPECT_FALSE(report.errors.empty()) << report.result.output;
  EXPECT_FALSE(is_clean(report, {"DICOMDIR"}));

  EXPECT_FALSE(dciodvfy(dx_, "ComprehensiveSR").ran);  // it checked another IOD
  const ValidatorReport missing = dciodvfy(dx_, "DXImageForPresentation", "/nonexistent/dciodvfy");
  EXPECT_FALSE(missing.ran);
  EXPECT_EQ(missing.result.exit_status, 127);
  EXPECT_TRUE(missing.errors.empty());  // no "Error" line, and still no pass
  EXPECT_FALSE(is_clean(missing));
  EXPECT_FALSE(dciodvfy((dir_ / "gone.dcm").string(), "DXImageForPresentation").ran);  // Abort
  EXPECT_FALSE(is_clean(dciodvfy(dx_, "DXImageForPresentation", "sh -c 'kill -SEGV $$' --")));
}

TEST_F(ValidatorTools, WarningsPassOnlyWhenAllowedByName) {
  ValidatorReport report{"a validator", true, {0, "Warning - something odd\n"}, {}, {"Warning - something odd"}};
  EXPECT_FALSE(is_clean(report));
  EXPECT_FALSE(is_clean(report, {"something else"}));
  EXPECT_TRUE(is_clean(report, {"something odd"}));
}

TEST_F(ValidatorTools, DcentvfyMustReadEveryFile) {
  EXPECT_TRUE(dcentvfy({dx_}).ran);
  EXPECT_FALSE(dcentvfy({dx_, (dir_ / "gone.dcm").string()}).ran);
  EXPECT_FALSE(dcentvfy({dx_}, "/nonexistent/dcentvfy").ran);
  std::ofstream(dir_ / "junk.dcm") << "not DICOM";
  EXPECT_FALSE(is_clean(dcentvfy({dx_, (dir_ / "junk.dcm").string()})));
}

TEST_F(ValidatorTools, PixelmedMustFinishTheRootTemplate) {
  EXPECT_FALSE(pixelmed_sr(dx_, "/nonexistent/java").ran);
  EXPECT_FALSE(pixelmed_sr(dx_).ran);  // not an SR: no TID 1500 to validate
}

}  // namespace
}  // namespace evax::testing
