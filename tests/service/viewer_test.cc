// What a radiologist's viewer makes of the results: the SR and the lung SEG the node sends back,
// run through OHIF 3.13's own published loaders (../shared/tools/ohif-check: the SR and SEG
// extensions, cornerstone's adapters and dcmjs, bundled for node). Every finding of every
// analysed image must be placed on its image with a label naming it and its probability, and
// both lungs must map onto the X-ray with their pixel counts. The checker is not part of this
// repository: where ../shared is absent (a user's clone) these tests skip, saying so.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcuid.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "destination.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kChest = std::string(EVAX_SOURCE_DIR) + "/examples/synthetic_chest_pa.dcm";

class Viewer : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(EVAX_OHIF_CHECK)) GTEST_SKIP() << "OHIF's loaders are not here (" EVAX_OHIF_CHECK "): a clone without ../shared";
    if (run_command("node --version").status != 0) GTEST_SKIP() << "node is not installed";
  }

  // The node with the demo lung model at 0.93 (where its untrained map is one region per side
  // of the example image) and a storescp as the PACS; `files` sent as one study.
  json analyse(NodeHarness& node, Destination& pacs, const std::vector<std::string>& files, std::size_t outputs) {
    pacs.start_storescp();
    node.config()["destinations"] = json::array({pacs.config_entry()});
    node.config()["model"]["segmenter"] = {{"checkpoint", "demo"}, {"threshold", 0.93}};
    node.config()["model"]["cam_top_k"] = 3;
    node.start();
    const CommandResult sent = node.storescu(files);
    EXPECT_EQ(store_successes(sent.output), static_cast<int>(files.size())) << sent.output;
    return node.wait_for([&](const json& s) { return delivered_outputs(s) >= outputs; }, 300s);
  }

  static fs::path received(const Destination& pacs, const char* sop_class) {
    for (const auto& file : pacs.received_files())
      if (element(file, DCM_SOPClassUID) == sop_class) return file;
    return {};
  }

  static json ohif_check(const std::vector<std::string>& sources, const fs::path& sr, const fs::path& seg, int& exit_status) {
    std::string command = "node " EVAX_OHIF_CHECK " --json --sr " + sr.string() + " --seg " + seg.string();
    for (const auto& source : sources) command += " --source " + source;
    const CommandResult result = run_command(command + " 2>/dev/null", 120s);
    exit_status = result.status;
    try {
      return json::parse(result.output);
    } catch (const std::exception&) {
      ADD_FAILURE() << "ohif-check printed no JSON (exit " << result.status << "):\n" << result.output;
      return json::object();
    }
  }

  // What OHIF must make of one analysed image's results, judged against the node's own record
  // of them (`image` from `evax-node status`).
  static void expect_displayed(const json& report, int exit_status, const json& image) {
    EXPECT_EQ(exit_status, 0) << report.dump(2);
    const json& sr = report["sr"];
    const std::size_t findings = image["findings"].size();
    ASSERT_EQ(findings, 14u);
    EXPECT_EQ(sr["loads"], true) << sr["errors"];
    EXPECT_EQ(sr["measurements"], findings + 2) << "14 findings and 2 lungs";
    EXPECT_EQ(sr["placed_on_source"], sr["measurements"]);
    EXPECT_EQ(sr["placed_on_source_sop"], sr["measurements"]) << "placed on the analysed image itself";
    EXPECT_EQ(sr["placed_with_points_outside_image"], 0);
    // Each finding's label names it, its decision and its probability, as OHIF draws it.
    const std::string labels = sr["labels"].dump();
    std::map<std::string, std::string> meanings{{"Effusion", "Pleural effusion"},     {"Infiltration", "Infiltrate"},
                                                {"Consolidation", "Lung consolidation"}, {"Edema", "Pulmonary edema"},
                                                {"Emphysema", "Pulmonary emphysema"},   {"Pleural_Thickening", "Pleural thickening"},
                                                {"Hernia", "Hiatal hernia"}};
    for (const auto& finding : image["findings"]) {
      const std::string label = finding["label"];
      const std::string name = meanings.count(label) ? meanings[label] : label;
      char percent[32];
      std::snprintf(percent, sizeof percent, "%.2f %%", 100.0 * finding["probability"].get<double>());
      const std::string present = finding["probability"].get<double>() >= 0.5 ? "present" : "absent";
      const std::string expected = name + " (" + present + "): " + percent;
      EXPECT_NE(labels.find(expected), std::string::npos) << expected << "\n" << labels;
    }
    // Both lungs map onto the X-ray with the node's own pixel counts.
    const json& seg = report["seg"];
    EXPECT_EQ(seg["loads"], true) << seg["errors"];
    EXPECT_EQ(seg["frames_mapped"], 2);
    const json& lungs = image["segmentation"]["lungs"];
    ASSERT_EQ(lungs.size(), 2u);
    for (int segment : {1, 2}) {
      const json& pixels = seg["pixels_per_segment"][std::to_string(segment)];
      EXPECT_EQ(pixels["labelmap"], lungs[segment - 1]["pixels"]) << seg.dump(2);
      EXPECT_EQ(pixels["seg_frames"], lungs[segment - 1]["pixels"]);
    }
  }
};

TEST_F(Viewer, TheExampleStudysSrAndSegDisplayInOhif) {
  NodeHarness node;
  Destination pacs(node.dir());
  const json status = analyse(node, pacs, {kChest}, 3);
  ASSERT_EQ(delivered_outputs(status), 3u) << status.dump(2);
  const fs::path sr = received(pacs, UID_Comprehensive3DSRStorage), seg = received(pacs, UID_SegmentationStorage);
  ASSERT_FALSE(sr.empty() || seg.empty());
  int exit_status = -1;
  const json report = ohif_check({kChest}, sr, seg, exit_status);
  expect_displayed(report, exit_status, status["jobs"][0]["images"][0]);

  // The README's picture: the regions drawn from the SR alone beside the SC (tools venv).
  const fs::path sc = received(pacs, UID_SecondaryCaptureImageStorage);
  const CommandResult drawn = run_command(std::string(EVAX_TOOLS_PYTHON) + " " EVAX_SOURCE_DIR "/scripts/render_sr_regions.py --sr " +
                                          sr.string() + " --source " + kChest + " --sc " + sc.string() + " --out " +
                                          (node.dir() / "regions.png").string());
  ASSERT_EQ(drawn.status, 0) << drawn.output;
  const json picture = json::parse(drawn.output.substr(drawn.output.find('{')));
  EXPECT_EQ(picture["groups"], 16) << drawn.output;
  EXPECT_GT(fs::file_size(node.dir() / "regions.png"), 10000u);
}

// A study of two images: the PA is analysed and the lateral skipped; in the viewer the
// findings and lungs sit on the PA, not the lateral of the same series.
TEST_F(Viewer, ATwoImageStudyPlacesEverythingOnTheAnalysedPa) {
  NodeHarness node;
  Destination pacs(node.dir());
  const std::string lateral = (node.dir() / "lateral.dcm").string();
  fs::copy_file(kChest, lateral);
  const CommandResult modified = run_command("dcmodify -nb -gin -m ViewPosition=LL -m InstanceNumber=2 " + lateral + " 2>&1");
  ASSERT_EQ(modified.status, 0) << modified.output;
  const json status = analyse(node, pacs, {kChest, lateral}, 3);
  ASSERT_EQ(delivered_outputs(status), 3u) << status.dump(2);
  const json& images = status["jobs"][0]["images"];
  ASSERT_EQ(images.size(), 2u);
  const json& pa = images[0]["decision"] == "analysed" ? images[0] : images[1];
  const json& skipped = images[0]["decision"] == "analysed" ? images[1] : images[0];
  EXPECT_EQ(skipped["reason_code"], "lateral-view");
  EXPECT_EQ(pa["sop_instance_uid"], element(kChest, DCM_SOPInstanceUID));

  int exit_status = -1;
  const json report = ohif_check({kChest, lateral}, received(pacs, UID_Comprehensive3DSRStorage),
                                 received(pacs, UID_SegmentationStorage), exit_status);
  expect_displayed(report, exit_status, pa);
  EXPECT_EQ(report["sr"]["referenced_images"], json::array({pa["sop_instance_uid"]}));
}

}  // namespace
}  // namespace evax::testing
