// Issue 15's result set end to end: the example study goes in, and the node sends a
// Comprehensive 3D SR, a Secondary Capture, a lung SEG, a Parametric Map and a KOS, to DCMTK's
// storescp (whose files the validators and highdicom read) and to Orthanc (which must file them
// all in the source study). Every object is validator-clean, and the independent readers find
// the values the engine computed (as the admin API reports them).
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <fstream>
#include <set>
#include <thread>

#include "destination.h"
#include "orthanc_peer.h"
#include "service_test_support.h"
#include "validator_tools.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kChest = std::string(EVAX_SOURCE_DIR) + "/examples/synthetic_chest_pa.dcm";
const std::string kTools = std::string(EVAX_SOURCE_DIR) + "/tests/tools/";

// Every job final and every delivery ended (delivered or dead).
bool all_sent(const json& status, std::size_t jobs) {
  if (!all_jobs_final(status, jobs)) return false;
  for (const auto& job : status["jobs"]) {
    if (job["state"] == "done" && job["outputs"].empty()) return false;
    for (const auto& output : job["outputs"])
      for (const auto& d : output["deliveries"])
        if (d["state"] != "delivered" && d["state"] != "dead") return false;
  }
  return true;
}

json run_json(const std::string& command) {
  const CommandResult result = run_command(command + " 2>&1");
  try {
    return json::parse(result.output);
  } catch (const std::exception& e) {
    ADD_FAILURE() << command << ": " << e.what() << "\n" << result.output;
    return json();
  }
}

// dciodvfy's tables in Debian 12 do not know the private scheme 99EVAX or Contributing
// Equipment's Device UID; the example has no Study ID a DICOMDIR would want.
std::vector<std::string> iod_warnings() {
  std::vector<std::string> allowed = kDeviceUidWarnings;
  allowed.push_back("Unrecognized defined term <99EVAX>");
  allowed.push_back("Missing attribute or value that would be needed to build DICOMDIR");
  return allowed;
}

TEST(AirResults, TheExampleStudyComesBackAsFiveKindsValidatorCleanReadByHighdicomAndFiledByOrthanc) {
  NodeHarness node;
  Destination files(node.dir());
  files.start_storescp();
  OrthancPeer orthanc;
  node.config()["destinations"] = json::array({files.config_entry(), {{"name", "orthanc"}, {"ae_title", orthanc.ae_title()},
                                                                      {"host", "127.0.0.1"}, {"port", orthanc.dicom_port()}}});
  node.config()["model"]["segmenter"] = {{"checkpoint", "demo"}, {"threshold", 0.93}};  // the example's lungs are accepted
  node.config()["model"]["cam_top_k"] = 3;
  node.config().erase("reporting");  // the default: every kind
  node.start();
  ASSERT_EQ(store_successes(node.storescu({kChest}).output), 1);
  const json status = node.wait_for([](const json& s) { return all_sent(s, 1); }, 300s);
  ASSERT_TRUE(all_sent(status, 1)) << status.dump(2);
  const json& job = status["jobs"][0];
  ASSERT_EQ(job["state"], "done") << job.dump(2);
  for (const auto& output : job["outputs"])
    for (const auto& d : output["deliveries"]) EXPECT_EQ(d["state"], "delivered") << output.dump(2);

  // One object of each kind at the file destination.
  std::map<std::string, std::filesystem::path> by_class;
  for (const auto& file : files.received_files()) {
    const std::string sop_class = element(file, DCM_SOPClassUID);
    EXPECT_FALSE(by_class.count(sop_class)) << "two objects of " << sop_class;
    by_class[sop_class] = file;
  }
  const std::vector<std::pair<std::string, std::string>> expected = {
      {UID_Comprehensive3DSRStorage, "Comprehensive3DSR"}, {UID_SecondaryCaptureImageStorage, "SCImage"},
      {UID_SegmentationStorage, "Segmentation"},          {UID_ParametricMapStorage, "ParametricMap"},
      {UID_KeyObjectSelectionDocumentStorage, "KeyObjectSelectionDocument"}};
  ASSERT_EQ(by_class.size(), expected.size());
  std::vector<std::string> all{kChest};
  for (const auto& [sop_class, iod] : expected) {
    ASSERT_TRUE(by_class.count(sop_class)) << sop_class;
    const std::string path = by_class[sop_class].string();
    EXPECT_TRUE(is_clean(dciodvfy(path, iod), iod_warnings())) << iod;
    all.push_back(path);
  }
  const std::string sr = by_class[UID_Comprehensive3DSRStorage].string();
  const std::string kos = by_class[UID_KeyObjectSelectionDocumentStorage].string();
  const std::string pm = by_class[UID_ParametricMapStorage].string();
  // PixelMed: the SR's per-group Present/Absent evaluations and comments are outside its TID 1500
  // tables; its 2022 tables have no Parametric Map at all (checked by dciodvfy and highdicom).
  EXPECT_TRUE(is_clean(pixelmed_sr(sr), {"Content Item not in template"}));
  EXPECT_TRUE(is_clean(pixelmed_kos(kos)));
  // dcentvfy across the source and the five: one patient, one study. Its tables give
  // AccessionNumber to the study in one IOD and to the series in another; the example lacks
  // Type 2 attributes the results carry empty.
  EXPECT_TRUE(is_clean(dcentvfy(all), {"Different information entities for attribute - Element=<AccessionNumber>",
                                       "Attribute present in one instance but not the other"}));

  // The API's image: what the engine computed.
  const json* image = nullptr;
  for (const auto& i : job["images"])
    if (i["decision"] == "analysed") image = &i;
  ASSERT_NE(image, nullptr);
  ASSERT_EQ((*image)["cams"].size(), 3u);
  ASSERT_TRUE(image->contains("crop")) << image->dump();
  const std::string source_uid = element(kChest, DCM_SOPInstanceUID);

  // highdicom reads the SR as TID 1500: one group per finding and lung, probabilities as computed.
  const json report = run_json(std::string(EVAX_TOOLS_PYTHON) + " " + kTools + "sr_read.py " + sr);
  ASSERT_TRUE(report.is_object());
  EXPECT_EQ(report["sop_class_uid"], UID_Comprehensive3DSRStorage);
  std::map<std::string, double> probability;
  for (const auto& f : (*image)["findings"]) probability[f["label"]] = f["probability"].get<double>() * 100.0;
  std::set<std::string> tracking_uids;
  int finding_groups = 0;
  for (const auto& group : report["groups"]) {
    tracking_uids.insert(group["tracking_uid"].get<std::string>());
    EXPECT_EQ(group["source_sop_instance_uid"], source_uid);
    for (const auto& m : group["measurements"]) {
      const std::string name = m["name"];
      for (const auto& [label, percent] : probability)
        if (group["tracking_identifier"].get<std::string>().rfind(label + " image", 0) == 0 && m["unit"] == "%") {
          EXPECT_NEAR(m["value"].get<double>(), percent, 0.0051) << label << " " << name;  // written to 2 decimals
          ++finding_groups;
        }
    }
  }
  EXPECT_EQ(finding_groups, 14);
  EXPECT_EQ(report["groups"].size(), 16u);  // 14 findings and two lungs
  EXPECT_EQ(tracking_uids.size(), report["groups"].size());

  // highdicom and pydicom read the rest: the Parametric Map's frames against the engine's maps
  // (upsampled and reduced independently by pm_expected.py), the SEG's segments, the KOS's list.
  const json read_pm = run_json(std::string(EVAX_TOOLS_PYTHON) + " " + kTools + "air_objects_check.py " +
                                files.received_dir().string());
  ASSERT_TRUE(read_pm.is_object());
  EXPECT_TRUE(read_pm["errors"].empty()) << read_pm.dump(2);
  json pm_read;
  for (const auto& object : read_pm["objects"])
    if (object["kind"] == "pmap") pm_read = object;
  ASSERT_TRUE(pm_read.is_object()) << read_pm.dump(2);
  {
    std::ofstream out(node.dir() / "image.json");
    out << image->dump();
  }
  const std::string maps = (node.dir() / "maps.json").string();
  const CommandResult expected_maps = run_command(std::string(EVAX_TOOLS_PYTHON) + " " + kTools + "pm_expected.py " +
                                                  (node.dir() / "image.json").string() + " " + std::to_string(pm_read["rows"].get<int>()) +
                                                  " " + std::to_string(pm_read["columns"].get<int>()) + " > " + maps + " 2>&1");
  ASSERT_EQ(expected_maps.status, 0) << expected_maps.output;
  const json objects = run_json(std::string(EVAX_TOOLS_PYTHON) + " " + kTools + "air_objects_check.py " +
                                files.received_dir().string() + " --compare " + maps);
  std::set<std::string> listed_by_kos, others;
  json kos_read;
  for (const auto& object : objects["objects"]) {
    const std::string kind = object["kind"];
    ASSERT_FALSE(object["contributing_equipment"].empty()) << kind;
    for (const auto& item : object["contributing_equipment"]) {
      EXPECT_EQ(item["purpose"], json({"Newcode1", "99IHE", "Processing Algorithm"})) << kind;
      EXPECT_EQ(item["device_uid"].get<std::string>().rfind("2.25.", 0), 0u) << kind;
    }
    if (kind == "kos") kos_read = object;
    else others.insert(object["sop_instance_uid"].get<std::string>());
    if (kind == "pmap") {
      ASSERT_EQ(object["frames"].size(), 3u);
      std::vector<std::string> labels;
      for (const auto& frame : object["frames"]) {
        labels.push_back(frame["lut_label"]);
        ASSERT_TRUE(frame.contains("max_abs_difference")) << frame.dump();
        EXPECT_LE(frame["max_abs_difference"].get<double>(), 1e-3) << frame.dump();
        EXPECT_EQ(frame["source_sop_instance_uid"], source_uid);
        EXPECT_LE(frame["max"].get<double>(), 1.0);
        EXPECT_GE(frame["min"].get<double>(), 0.0);
      }
      // Most probable first: the same three the API lists as explained.
      std::vector<std::pair<double, std::string>> explained;
      for (const auto& cam : (*image)["cams"]) explained.emplace_back(-probability[cam["label"]], cam["label"]);
      std::sort(explained.begin(), explained.end());
      for (std::size_t i = 0; i < explained.size(); ++i) EXPECT_EQ(labels[i], explained[i].second.substr(0, 16));
    }
    if (kind == "seg") EXPECT_EQ(object["segments"].size(), 2u);
  }
  ASSERT_TRUE(kos_read.is_object());
  for (const auto& uid : kos_read["referenced"]) listed_by_kos.insert(uid);
  EXPECT_EQ(listed_by_kos, others);  // the KOS lists every other object of the set
  for (const auto& uid : kos_read["evidence"]) EXPECT_TRUE(others.count(uid)) << uid;

  // Orthanc filed all five with the source, in one study of one patient.
  std::vector<json> instances;
  const std::string study = element(kChest, DCM_StudyInstanceUID);
  for (int i = 0; i < 100 && (instances = orthanc.study_instances_tags(study)).size() < 5; ++i) std::this_thread::sleep_for(100ms);
  ASSERT_EQ(instances.size(), 5u) << json(instances).dump(2);
  std::set<std::string> in_orthanc;
  for (const auto& tags : instances) in_orthanc.insert(tags["SOPInstanceUID"].get<std::string>());
  others.insert(kos_read["sop_instance_uid"].get<std::string>());
  EXPECT_EQ(in_orthanc, others);
  EXPECT_EQ(orthanc.get("/studies").size(), 1u);
  EXPECT_EQ(orthanc.get("/patients").size(), 1u);
}

// The SR of job `index` in `status`, read with highdicom, from the file destination.
json report_of(const json& status, std::size_t index, const Destination& files) {
  std::string sr_uid;
  for (const auto& output : status["jobs"][index]["outputs"])
    if (output["kind"] == "sr") sr_uid = output["sop_instance_uid"];
  for (const auto& file : files.received_files())
    if (element(file, DCM_SOPInstanceUID) == sr_uid)
      return run_json(std::string(EVAX_TOOLS_PYTHON) + " " + kTools + "sr_read.py " + file.string());
  ADD_FAILURE() << "no SR " << sr_uid << " at the destination";
  return json();
}

TEST(AirResults, ALateInstanceKeepsTheTrackingUidsOfTheAnalysedImageAndCitesThePredecessor) {
  NodeHarness node;
  Destination files(node.dir());
  files.start_storescp();
  node.config()["destinations"] = json::array({files.config_entry()});
  node.config().erase("reporting");  // the default: every kind
  node.start();
  ASSERT_EQ(store_successes(node.storescu({kChest}).output), 1);
  json status = node.wait_for([](const json& s) { return all_sent(s, 1); }, 300s);
  ASSERT_TRUE(all_sent(status, 1)) << status.dump(2);

  // A second PA of the same study arrives late: a copy of the example under a new UID.
  const std::string late = (node.dir() / "late.dcm").string();
  {
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(kChest.c_str()).good());
    ASSERT_TRUE(file.getDataset()->putAndInsertString(DCM_SOPInstanceUID, new_uid(SITE_INSTANCE_UID_ROOT).c_str()).good());
    ASSERT_TRUE(file.saveFile(late.c_str(), EXS_LittleEndianExplicit).good());
  }
  ASSERT_EQ(store_successes(node.storescu({late}).output), 1);
  status = node.wait_for([](const json& s) { return all_sent(s, 2); }, 300s);
  ASSERT_TRUE(all_sent(status, 2)) << status.dump(2);
  ASSERT_EQ(status["jobs"].size(), 2u);
  // The status lists the newest job first.
  const std::size_t first = status["jobs"][0]["id"] < status["jobs"][1]["id"] ? 0 : 1, second = 1 - first;
  const json before = report_of(status, first, files), after = report_of(status, second, files);
  ASSERT_TRUE(before.is_object() && after.is_object());

  const std::string example_uid = element(kChest, DCM_SOPInstanceUID);
  // finding -> tracking UID, of the example's groups (the image numbers may differ in the identifiers)
  std::map<std::string, std::string> uid_before, uid_after;
  for (const auto& group : before["groups"]) uid_before[group["finding"][2]] = group["tracking_uid"];
  int late_groups = 0;
  for (const auto& group : after["groups"]) {
    if (group["source_sop_instance_uid"] == example_uid) uid_after[group["finding"][2]] = group["tracking_uid"];
    else ++late_groups;
  }
  ASSERT_EQ(uid_before.size(), 14u);  // no lung model here: the findings
  EXPECT_EQ(uid_after, uid_before);   // same image, same model: the same tracking UIDs
  EXPECT_EQ(late_groups, 14);
  std::set<std::string> all_after;
  for (const auto& group : after["groups"]) all_after.insert(group["tracking_uid"].get<std::string>());
  EXPECT_EQ(all_after.size(), 28u);  // the late image's are its own
  std::string first_sr;
  for (const auto& output : status["jobs"][first]["outputs"])
    if (output["kind"] == "sr") first_sr = output["sop_instance_uid"];
  EXPECT_EQ(after["predecessors"], json::array({first_sr}));
}

}  // namespace
}  // namespace evax::testing
