// Lung segmentation through the whole node: a chest image sent to it comes back to the PACS as
// an SR with lung areas, a Secondary Capture with the lung contours and a DICOM SEG, each
// validator-clean; a mask the plausibility rules reject is reported, not drawn.
//
// The demo weights are untrained. On examples/synthetic_chest_pa.dcm their probability map is
// above 0.3 almost everywhere (one region: rejected, as mmseg's default threshold would make
// it) and splits into one region on each side of the mediastinum at 0.93.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <map>

#include "destination.h"
#include "service_test_support.h"
#include "validator_tools.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kChest = std::string(EVAX_SOURCE_DIR) + "/examples/synthetic_chest_pa.dcm";

void configure(NodeHarness& node, const Destination& pacs, double threshold) {
  node.config()["destinations"] = json::array({pacs.config_entry()});
  node.config()["model"]["segmenter"] = {{"checkpoint", "demo"}, {"threshold", threshold}};
}

// Pixels of the SC drawn in the contour colour below the banner (whose lung line is that colour too).
int contour_pixels(const std::filesystem::path& sc) {
  const CommandResult count = run_command(std::string(EVAX_PYTHON) +
                                          " -c \"import pydicom,sys,numpy as np; p=pydicom.dcmread(sys.argv[1]).pixel_array[60:]; "
                                          "print(int((p==[80,255,80]).all(axis=-1).sum()))\" " + sc.string());
  try {
    return std::stoi(count.output);
  } catch (const std::exception&) {
    ADD_FAILURE() << count.output;
    return -1;
  }
}

// The received files by SOP Class UID.
std::map<std::string, std::vector<std::filesystem::path>> by_class(const Destination& pacs) {
  std::map<std::string, std::vector<std::filesystem::path>> files;
  for (const auto& file : pacs.received_files()) files[element(file, DCM_SOPClassUID)].push_back(file);
  return files;
}

TEST(Segmentation, AStudyComesBackWithSrScAndSegAllValidatorClean) {
  NodeHarness node;
  Destination pacs(node.dir());
  pacs.start_storescp();
  configure(node, pacs, 0.93);
  node.start();
  const CommandResult sent = node.storescu({kChest});
  ASSERT_EQ(store_successes(sent.output), 1) << sent.output;

  const json status = node.wait_for([](const json& s) { return delivered_outputs(s) >= 3; }, 300s);
  ASSERT_EQ(delivered_outputs(status), 3u) << status.dump(2);
  const json& image = status["jobs"][0]["images"][0];
  ASSERT_TRUE(image.contains("segmentation")) << image.dump(2);
  const json& lungs = image["segmentation"]["lungs"];
  ASSERT_EQ(lungs.size(), 2u) << image.dump(2);
  EXPECT_EQ(lungs[0]["laterality"], "right");
  EXPECT_EQ(lungs[1]["laterality"], "left");
  for (const auto& lung : lungs) {
    EXPECT_EQ(lung["spacing_source"], "PixelSpacing");
    EXPECT_NEAR(lung["area_mm2"].get<double>(), lung["pixels"].get<double>() * 0.7 * 0.7, 1e-6);
    EXPECT_GT(lung["pixels"].get<int>(), 0.02 * 512 * 608);
  }
  // The example has no PatientOrientation: the radiographic convention is assumed, and said.
  EXPECT_EQ(image["segmentation"]["side_basis"].get<std::string>().rfind("assumed", 0), 0u);

  auto files = by_class(pacs);
  ASSERT_EQ(files[UID_Comprehensive3DSRStorage].size(), 1u);
  ASSERT_EQ(files[UID_SecondaryCaptureImageStorage].size(), 1u);
  ASSERT_EQ(files[UID_SegmentationStorage].size(), 1u);
  const auto sr = files[UID_Comprehensive3DSRStorage][0];
  const auto sc = files[UID_SecondaryCaptureImageStorage][0];
  const auto seg = files[UID_SegmentationStorage][0];

  // Warnings allowed: dciodvfy does not know the private scheme 99EVAX, and the example has
  // no Study ID a DICOMDIR would want; dcentvfy's tables give AccessionNumber to the study in
  // one IOD and to the series in another.
  // Contributing Equipment's Device UID is newer than dciodvfy's tables (kDeviceUidWarnings).
  const std::vector<std::string> iod_warnings = {"Unrecognized defined term <99EVAX>",
                                                 "Missing attribute or value that would be needed to build DICOMDIR",
                                                 "(0x0018,0x1002) UI Device UID", "this is a Standard Extended SOP Class"};
  EXPECT_TRUE(is_clean(dciodvfy(sr.string(), "Comprehensive3DSR"), iod_warnings));
  EXPECT_TRUE(is_clean(dciodvfy(sc.string(), "SCImage"), iod_warnings));
  EXPECT_TRUE(is_clean(dciodvfy(seg.string(), "Segmentation"), iod_warnings));
  for (const auto& file : {sr, sc, seg}) EXPECT_EQ(element(file, DCM_StudyInstanceUID), element(kChest, DCM_StudyInstanceUID));
  EXPECT_TRUE(is_clean(dcentvfy({kChest, sr.string(), sc.string(), seg.string()}),
                       {"Different information entities for attribute - Element=<AccessionNumber>",
                        "Attribute present in one instance but not the other"}));

  // The SR's lung groups: laterality, area in mm2, and the segment they reference in the SEG.
  const CommandResult tree = run_command("dsrdump +Pl +Pc +Pu " + sr.string());
  for (const char* expected : {"Right lung image 1", "Left lung image 1", "(42798000,SCT,\"Area\")", "square millimeter",
                               "(24028007,SCT,\"Right\")", "(7771000,SCT,\"Left\")", "PixelSpacing"})
    EXPECT_NE(tree.output.find(expected), std::string::npos) << expected << "\n" << tree.output;
  EXPECT_NE(tree.output.find(element(seg, DCM_SOPInstanceUID)), std::string::npos) << tree.output;
  // PixelMed: the group-level Present/Absent evaluations and comments are outside its tables.
  EXPECT_TRUE(is_clean(pixelmed_sr(sr.string()), {"Content Item not in template"}));

  // The SEG: two segments, right then left, derived from the sent image.
  const CommandResult segments = run_command(std::string(EVAX_PYTHON) + " -c \"import pydicom,sys; d=pydicom.dcmread(sys.argv[1]); "
                                             "print([s.SegmentLabel for s in d.SegmentSequence]); "
                                             "print([f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID "
                                             "for f in d.PerFrameFunctionalGroupsSequence])\" " + seg.string());
  EXPECT_NE(segments.output.find("['Right lung', 'Left lung']"), std::string::npos) << segments.output;
  EXPECT_NE(segments.output.find(element(kChest, DCM_SOPInstanceUID)), std::string::npos) << segments.output;

  // The SC: the contours are drawn in their own green.
  EXPECT_GT(contour_pixels(sc), 500);
}

TEST(Segmentation, ARejectedMaskIsReportedAndNotDrawn) {
  NodeHarness node;
  Destination pacs(node.dir());
  pacs.start_storescp();
  configure(node, pacs, 0.3);  // mmseg's default: the untrained map is one region here
  node.start();
  const CommandResult sent = node.storescu({kChest});
  ASSERT_EQ(store_successes(sent.output), 1) << sent.output;

  const json status = node.wait_for([](const json& s) { return delivered_outputs(s) >= 2; }, 300s);
  ASSERT_EQ(delivered_outputs(status), 2u) << status.dump(2);
  const json& segmentation = status["jobs"][0]["images"][0]["segmentation"];
  EXPECT_NE(segmentation["rejected"].get<std::string>().find("one connected region"), std::string::npos) << segmentation;
  EXPECT_TRUE(segmentation["lungs"].empty());

  auto files = by_class(pacs);
  EXPECT_EQ(files[UID_SegmentationStorage].size(), 0u);
  ASSERT_EQ(files[UID_Comprehensive3DSRStorage].size(), 1u);
  ASSERT_EQ(files[UID_SecondaryCaptureImageStorage].size(), 1u);
  const CommandResult tree = run_command("dsrdump +Pl " + files[UID_Comprehensive3DSRStorage][0].string());
  EXPECT_NE(tree.output.find("Lung segmentation of image 1 not reported: one connected region"), std::string::npos) << tree.output;
  EXPECT_EQ(tree.output.find("Right lung"), std::string::npos);
  EXPECT_EQ(contour_pixels(files[UID_SecondaryCaptureImageStorage][0]), 0);  // no outline
  EXPECT_NE(node.log().find("lungs-rejected"), std::string::npos);
}

}  // namespace
}  // namespace evax::testing
