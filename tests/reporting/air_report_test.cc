// The SR as an IHE AI Results object, read back by highdicom (an independent TID 1500 reader):
// Comprehensive 3D SR, findings with their category and probabilities, tracking UIDs that a
// re-analysis repeats, source images, the lungs' segments, the per-image evaluation, and the
// predecessor a re-analysis cites. See docs/results.md.
#include <gtest/gtest.h>
#include <unistd.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "evax/reporting/image_regions.h"
#include "evax/reporting/result_objects.h"
#include "evax/reporting/segmentation_object.h"
#include "synthetic_dicom.h"
#include "validator_tools.h"

namespace evax::reporting {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

AlgorithmIdentity classifier(const std::string& checkpoint_sha256) {
  AlgorithmIdentity a;
  a.software_version = "0.1.0";
  a.model_name = "EVA-X-S";
  a.model_task = "cxr14";
  a.checkpoint_sha256 = checkpoint_sha256;
  a.device_observer_uid = "2.25.1234567890";
  a.station_name = "EVAX";
  return a;
}

const std::string kCheckpoint(64, 'a');

std::vector<FindingResult> findings(double shift) {
  const char* labels[] = {"Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
                          "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia"};
  std::vector<FindingResult> result;
  for (int i = 0; i < 14; ++i) result.push_back({labels[i], 0.0123 + 0.0611 * i + shift, 0.5});
  return result;
}

std::string sop_instance_uid(const std::string& path) {
  DcmFileFormat file;
  OFString uid;
  if (file.loadFile(path.c_str()).good()) file.getDataset()->findAndGetOFString(DCM_SOPInstanceUID, uid);
  return uid.c_str();
}

class AirReport : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/evax-air-test-XXXXXX";
    dir_ = ::mkdtemp(pattern);
  }
  void TearDown() override {
    if (!getenv("EVAX_KEEP_TEST_FILES")) fs::remove_all(dir_);
  }
  std::string source(const std::string& name) {
    testing::SyntheticImage image;
    image.study_uid = study_uid_;
    image.width = 320;
    image.height = 384;
    const std::string path = (dir_ / name).string();
    testing::write_synthetic_dicom(path, image);
    return path;
  }
  std::string save(const DicomObject& object, const std::string& name) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(object.bytes.data()),
                                                static_cast<std::streamsize>(object.bytes.size()));
    return path;
  }
  // highdicom's reading of the SR (tests/tools/sr_read.py); fails the test if it cannot.
  json read_back(const std::string& sr_path) {
    const std::string output = testing::run(std::string(EVAX_TOOLS_PYTHON) + " " EVAX_SOURCE_DIR "/tests/tools/sr_read.py " + sr_path);
    const json parsed = json::parse(output, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(parsed.is_object()) << output;
    return parsed.is_object() ? parsed : json{{"groups", json::array()}, {"image_evaluations", json::array()}};
  }
  // Tracking Identifier -> Tracking UID.
  static std::map<std::string, std::string> tracking_uids(const json& report) {
    std::map<std::string, std::string> uids;
    for (const auto& g : report["groups"]) uids[g["tracking_identifier"]] = g["tracking_uid"];
    return uids;
  }

  fs::path dir_;
  std::string study_uid_ = testing::new_uid(SITE_STUDY_UID_ROOT);
};

TEST(TrackingUid, TheSameForTheSameImageModelAndFindingAndNewOtherwise) {
  const AlgorithmIdentity model = classifier(kCheckpoint);
  const std::string uid = tracking_uid("1.2.3.4", model, "Effusion");
  EXPECT_EQ(uid.rfind("2.25.", 0), 0u) << uid;
  EXPECT_LE(uid.size(), 64u);
  EXPECT_EQ(uid.find_first_not_of("0123456789."), std::string::npos) << uid;
  EXPECT_EQ(uid, tracking_uid("1.2.3.4", model, "Effusion"));
  AlgorithmIdentity newer_node = model;
  newer_node.software_version = "0.2.0";
  EXPECT_EQ(uid, tracking_uid("1.2.3.4", newer_node, "Effusion"));  // the node's version is not the model
  EXPECT_NE(uid, tracking_uid("1.2.3.4", classifier(std::string(64, 'b')), "Effusion"));  // another checkpoint
  EXPECT_NE(uid, tracking_uid("1.2.3.5", model, "Effusion"));
  EXPECT_NE(uid, tracking_uid("1.2.3.4", model, "Mass"));
  AlgorithmIdentity demo = classifier("");
  demo.demo = true;
  EXPECT_NE(uid, tracking_uid("1.2.3.4", demo, "Effusion"));
}

// What the node means to say, as highdicom reads it: TID 1500 under the 126000 root, one TID
// 1410 group per finding with its category, the probability in percent, the tracking UID the
// node derives, the source image; a Finding evaluation per image; the lungs' SEG segments.
TEST_F(AirReport, HighdicomReadsTheMeasurementReport) {
  const std::string pa = source("pa.dcm");
  AlgorithmIdentity lung_model = classifier(std::string(64, 'c'));
  lung_model.model_name = "EVA-X-S UperNet";
  lung_model.model_task = "lungs";
  std::vector<LungMask> masks{{Laterality::right, std::vector<std::uint8_t>(320 * 384, 0)},
                              {Laterality::left, std::vector<std::uint8_t>(320 * 384, 0)}};
  for (int y = 60; y < 320; ++y)
    for (int x = 30; x < 140; ++x) masks[0].mask[static_cast<std::size_t>(y) * 320 + x] = masks[1].mask[static_cast<std::size_t>(y) * 320 + 319 - x] = 1;
  const auto seg = build_lung_segmentation({lung_model, pa, 320, 384, masks, new_series_uid()});
  ASSERT_TRUE(seg) << seg.error();

  ReportRequest request{classifier(kCheckpoint), {{pa, findings(0.0)}}};
  request.document_type = SrDocumentType::comprehensive_3d;
  request.segmenter = lung_model;
  request.images[0].segmentation = seg->reference;
  request.images[0].lungs = {{Laterality::right, 28600, 7150.0, "PixelSpacing", 1, mask_outline(masks[0].mask, 320, 384, "right lung")},
                             {Laterality::left, 28600, 7150.0, "PixelSpacing", 2, mask_outline(masks[1].mask, 320, 384, "left lung")}};
  const auto sr = build_structured_report(request);
  ASSERT_TRUE(sr) << sr.error();
  EXPECT_EQ(sr->reference.sop_class_uid, UID_Comprehensive3DSRStorage);
  const std::string path = save(*sr, "sr.dcm");
  const json report = read_back(path);
  const std::string pa_uid = sop_instance_uid(pa);

  EXPECT_EQ(report["sop_class_uid"], UID_Comprehensive3DSRStorage);
  EXPECT_EQ(report["root"], json({"126000", "DCM", "Imaging Measurement Report"}));
  ASSERT_EQ(report["groups"].size(), 16u) << report.dump(1);  // 14 findings, 2 lungs
  for (std::size_t i = 0; i < 14; ++i) {
    const FindingResult& f = request.images[0].findings[i];
    const json& g = report["groups"][i];
    EXPECT_EQ(g["tracking_identifier"], f.label + " image 1") << g;  // human readable
    EXPECT_EQ(g["tracking_uid"], tracking_uid(pa_uid, request.algorithm, f.label)) << g;
    EXPECT_EQ(g["finding_category"], json({"49755003", "SCT", "Morphologically abnormal structure"})) << g;
    EXPECT_EQ(g["source_sop_instance_uid"], pa_uid);
    ASSERT_EQ(g["measurements"].size(), 1u) << g;
    // The probability as written: percent with two decimals, the input's value to 0.005 %.
    EXPECT_NEAR(g["measurements"][0]["value"].get<double>(), 100.0 * f.probability, 0.005) << g;
    EXPECT_EQ(g["measurements"][0]["unit"], "%");
    bool decided = false;
    for (const auto& e : g["evaluations"]) decided = decided || e["value"] == (f.present() ? "Present" : "Absent");
    EXPECT_TRUE(decided) << g;
  }
  EXPECT_EQ(report["groups"][2]["finding"], json({"60046008", "SCT", "Pleural effusion"}));
  for (std::size_t i = 14; i < 16; ++i) {
    const json& lung = report["groups"][i];
    const bool right = i == 14;
    EXPECT_EQ(lung["tracking_identifier"], right ? "Right lung image 1" : "Left lung image 1");
    EXPECT_EQ(lung["tracking_uid"], tracking_uid(pa_uid, lung_model, right ? "lung right" : "lung left"));
    EXPECT_EQ(lung["finding_category"], json({"91723000", "SCT", "Anatomical structure"}));
    // The area is measured on the image and on its segment in the SEG.
    const json& sources = lung["measurements"][0]["sources"];
    ASSERT_EQ(sources.size(), 2u) << lung;
    EXPECT_EQ(sources[0]["sop_instance_uid"], pa_uid);
    EXPECT_EQ(sources[1]["sop_instance_uid"], seg->reference.sop_instance_uid);
    EXPECT_EQ(sources[1]["segments"], json::array({right ? 1 : 2}));
  }
  // findings(0.0): Hernia at 80.6 % is present, so the image has a finding.
  EXPECT_EQ(report["image_evaluations"], json::array({{{"name", "Finding"}, {"value", "Present"}, {"sop_instance_uid", pa_uid}}}));
  EXPECT_NE(std::find(report["evidence"].begin(), report["evidence"].end(), seg->reference.sop_instance_uid), report["evidence"].end());

  EXPECT_TRUE(testing::is_clean(testing::dciodvfy(path, "Comprehensive3DSR"),
                                {"Unrecognized defined term <99EVAX>", "Missing attribute or value that would be needed to build DICOMDIR",
                                 "(0x0018,0x1002) UI Device UID", "this is a Standard Extended SOP Class"}));  // Device UID: newer than dciodvfy's tables
}

// A re-analysis with the same model repeats the tracking UIDs of the images it saw before and
// cites the report it supersedes; another checkpoint gives the same image new tracking UIDs.
TEST_F(AirReport, AReanalysisKeepsTrackingUidsAndCitesItsPredecessor) {
  const std::string pa = source("pa.dcm");
  const std::string late = source("late.dcm");  // an instance that arrived after the first analysis
  ReportRequest first_request{classifier(kCheckpoint), {{pa, findings(0.0)}}};
  first_request.document_type = SrDocumentType::comprehensive_3d;
  const auto first = build_structured_report(first_request);
  ASSERT_TRUE(first) << first.error();

  // No finding is present in the late image: its evaluation says Absent.
  ReportRequest second_request{classifier(kCheckpoint), {{pa, findings(0.01)}, {late, findings(-0.01)}}};
  for (auto& f : second_request.images[1].findings) f.operating_point = 0.99;
  second_request.document_type = SrDocumentType::comprehensive_3d;
  second_request.predecessor = first->reference;
  const auto second = build_structured_report(second_request);
  ASSERT_TRUE(second) << second.error();
  EXPECT_NE(second->reference.sop_instance_uid, first->reference.sop_instance_uid);

  const json one = read_back(save(*first, "first.dcm"));
  const json two = read_back(save(*second, "second.dcm"));
  const auto uids_one = tracking_uids(one), uids_two = tracking_uids(two);
  ASSERT_EQ(uids_one.size(), 14u);
  ASSERT_EQ(uids_two.size(), 28u);
  for (const auto& [identifier, uid] : uids_one) EXPECT_EQ(uids_two.at(identifier), uid) << identifier;
  std::set<std::string> distinct;
  for (const auto& [identifier, uid] : uids_two) distinct.insert(uid);
  EXPECT_EQ(distinct.size(), 28u) << "the late image's findings have tracking UIDs of their own";
  EXPECT_EQ(one["predecessors"], json::array());
  EXPECT_EQ(two["predecessors"], json::array({first->reference.sop_instance_uid}));
  EXPECT_EQ(two["image_evaluations"][1], json({{"name", "Finding"}, {"value", "Absent"}, {"sop_instance_uid", sop_instance_uid(late)}}));

  ReportRequest retrained = first_request;
  retrained.algorithm.checkpoint_sha256 = std::string(64, 'b');
  const auto other = build_structured_report(retrained);
  ASSERT_TRUE(other) << other.error();
  for (const auto& [identifier, uid] : tracking_uids(read_back(save(*other, "other.dcm"))))
    EXPECT_NE(uids_one.at(identifier), uid) << identifier;
}

}  // namespace
}  // namespace evax::reporting
