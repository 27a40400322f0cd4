// The IHE AIR objects: the Grad-CAM Parametric Map and the result set's Key Object Selection,
// and the Contributing Equipment every object carries. Checked with dciodvfy, dcentvfy,
// PixelMed, and highdicom/pydicom through tests/tools/air_objects_check.py (the independent
// readers). Sources are synthetic DX files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <dcmtk/dcmdata/dcuid.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "evax/reporting/key_object_selection.h"
#include "evax/reporting/parametric_map.h"
#include "evax/reporting/result_objects.h"
#include "evax/reporting/segmentation_object.h"
#include "synthetic_dicom.h"
#include "validator_tools.h"

namespace evax::reporting {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

AlgorithmIdentity classifier() {
  AlgorithmIdentity a;
  a.software_version = "0.1.0";
  a.model_name = "EVA-X-S";
  a.model_task = "cxr14";
  a.checkpoint_sha256 = std::string(64, 'a');
  a.device_observer_uid = "2.25.1234567890";
  a.station_name = "EVAX";
  return a;
}

AlgorithmIdentity lung_model() {
  AlgorithmIdentity a = classifier();
  a.model_name = "EVA-X-S UperNet";
  a.model_task = "lungs";
  a.checkpoint_sha256 = std::string(64, 'b');
  return a;
}

constexpr int kWidth = 320, kHeight = 384;

// A smooth blob per frame, different for each, within 0..1 (both ends reached).
std::vector<float> blob(int width, int height, int index) {
  std::vector<float> values(static_cast<std::size_t>(width) * height);
  const double cx = width * (0.3 + 0.2 * index), cy = height * 0.5;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const double dx = (x - cx) / width, dy = (y - cy) / height;
      values[static_cast<std::size_t>(y) * width + x] = static_cast<float>(std::exp(-(dx * dx + dy * dy) * 20.0));
    }
  values[0] = 0.0f;
  values[1] = 1.0f;
  return values;
}

class AirObjects : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/evax-air-test-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    fs::create_directory(dir_ / "objects");
  }
  void TearDown() override {
    if (!getenv("EVAX_KEEP_TEST_FILES")) fs::remove_all(dir_);
  }

  std::string source(int width = kWidth, int height = kHeight) {
    testing::SyntheticImage image;
    image.study_uid = study_uid_;
    image.width = width;
    image.height = height;
    const std::string path = (dir_ / "source.dcm").string();
    source_sop_uid_ = testing::write_synthetic_dicom(path, image);
    return path;
  }

  ParametricMapRequest pm_request(const std::string& source_path, int downsampling) {
    ParametricMapRequest r;
    r.algorithm = classifier();
    r.source_path = source_path;
    r.downsampling = downsampling;
    const HeatmapSize size = heatmap_size(kWidth, kHeight, downsampling);
    const char* labels[] = {"Effusion", "Cardiomegaly", "Nodule"};
    for (int i = 0; i < 3; ++i) r.frames.push_back({labels[i], blob(size.width, size.height, i)});
    r.series_instance_uid = new_series_uid();
    return r;
  }

  std::string save(const DicomObject& object, const std::string& name) {
    const std::string path = (dir_ / "objects" / name).string();
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(object.bytes.data()),
                                                static_cast<std::streamsize>(object.bytes.size()));
    return path;
  }

  // What highdicom and pydicom read from every object saved so far.
  json read_objects(const ParametricMapRequest* compare = nullptr) {
    std::string arguments = (dir_ / "objects").string();
    if (compare) {
      json maps;
      for (const auto& frame : compare->frames) maps[frame.label] = frame.values;
      std::ofstream(dir_ / "maps.json") << maps.dump();
      arguments += " --compare " + (dir_ / "maps.json").string();
    }
    const std::string out =
        testing::run(std::string(EVAX_TOOLS_PYTHON) + " " EVAX_SOURCE_DIR "/tests/tools/air_objects_check.py " + arguments);
    const json parsed = json::parse(out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(parsed.is_discarded()) << out;
    if (parsed.is_discarded()) return json::object({{"objects", json::array()}, {"errors", json::array()}});
    EXPECT_TRUE(parsed["errors"].empty()) << out;
    return parsed;
  }

  // dciodvfy: the synthetic source has no Study Date, Time or ID a DICOMDIR would want, and
  // Contributing Equipment's Device UID is newer than its tables.
  static std::vector<std::string> iod_warnings() {
    std::vector<std::string> allowed = testing::kDeviceUidWarnings;
    allowed.push_back("Missing attribute or value that would be needed to build DICOMDIR");
    return allowed;
  }
  // dcentvfy: the synthetic source lacks Type 2 attributes the results carry empty; its tables
  // give AccessionNumber to the study in one IOD and to the series in another.
  const std::vector<std::string> entity_warnings_ = {"Attribute present in one instance but not the other",
                                                     "Different information entities for attribute - Element=<AccessionNumber>"};

  fs::path dir_;
  std::string study_uid_ = testing::new_uid(SITE_STUDY_UID_ROOT);
  std::string source_sop_uid_;
};

TEST(DeviceUid, IsAStableUidThatChangesWithTheModel) {
  const AlgorithmIdentity a = classifier();
  const std::string uid = device_uid(a);
  EXPECT_EQ(uid, device_uid(a));
  EXPECT_EQ(uid.rfind("2.25.", 0), 0u) << uid;
  EXPECT_LE(uid.size(), 64u);
  EXPECT_NE(uid[5], '0') << uid;  // no leading zero in a UID component
  EXPECT_EQ(uid.find_first_not_of("0123456789.", 0), std::string::npos) << uid;
  AlgorithmIdentity other = a;
  other.checkpoint_sha256 = std::string(64, 'c');
  EXPECT_NE(device_uid(other), uid);
  other = a;
  other.software_version = "0.2.0";
  EXPECT_NE(device_uid(other), uid);
  other = a;
  other.model_task = "chexpert";
  EXPECT_NE(device_uid(other), uid);
  other = a;
  other.station_name = "ELSEWHERE";  // the same model on another node: the same device
  EXPECT_EQ(device_uid(other), uid);
}

TEST(HeatmapGrid, SizeAndDownsamplingByBlockMeans) {
  EXPECT_EQ(heatmap_size(2048, 2500, kDefaultHeatmapDownsampling).width, 256);
  EXPECT_EQ(heatmap_size(2048, 2500, kDefaultHeatmapDownsampling).height, 313);
  EXPECT_EQ(heatmap_size(5, 3, 2).width, 3);
  EXPECT_EQ(heatmap_size(5, 3, 2).height, 2);
  // 5 x 3 -> 3 x 2: full blocks average 4 pixels, edge blocks fewer.
  const std::vector<float> full = {0, 1, 2, 3, 4,  //
                                   5, 6, 7, 8, 9,  //
                                   10, 11, 12, 13, 14};
  const std::vector<float> expected = {3, 5, 6.5f, 10.5f, 12.5f, 14};
  EXPECT_EQ(downsample_heatmap(full, 5, 3, 2), expected);
  EXPECT_EQ(downsample_heatmap(full, 5, 3, 1), full);
  EXPECT_TRUE(downsample_heatmap(full, 4, 3, 2).empty());  // wrong size: no map
}

TEST_F(AirObjects, ParametricMapPassesTheValidators) {
  const std::string dx = source();
  const auto pm = build_parametric_map(pm_request(dx, 8));
  ASSERT_TRUE(pm) << pm.error();
  EXPECT_EQ(pm->kind, "pmap");
  EXPECT_EQ(pm->reference.sop_class_uid, UID_ParametricMapStorage);
  EXPECT_EQ(pm->reference.study_instance_uid, study_uid_);
  const std::string path = save(*pm, "pm.dcm");

  EXPECT_TRUE(testing::is_clean(testing::dciodvfy(path, "ParametricMap"), iod_warnings()));
  // Not PixelMed: its 2022 IOD tables (Debian 12's pixelmed.jar) have no Parametric Map and
  // answer "IOD (SOP Class) unrecognized".
  EXPECT_TRUE(testing::is_clean(testing::dcentvfy({dx, path}), entity_warnings_));
}

TEST_F(AirObjects, HighdicomReadsTheHeatmapsAsRealWorldValues) {
  const std::string dx = source();
  const ParametricMapRequest request = pm_request(dx, 8);
  const auto pm = build_parametric_map(request);
  ASSERT_TRUE(pm) << pm.error();
  save(*pm, "pm.dcm");
  const json read = read_objects(&request);
  ASSERT_EQ(read["objects"].size(), 1u) << read.dump();
  const json& map = read["objects"][0];
  EXPECT_EQ(map["kind"], "pmap");
  EXPECT_EQ(map["columns"], 40);  // 320 / 8
  EXPECT_EQ(map["rows"], 48);     // 384 / 8
  ASSERT_EQ(map["frames"].size(), 3u) << map.dump();
  const std::vector<std::vector<std::string>> quantities = {{"60046008", "SCT", "Pleural effusion"},
                                                            {"8186001", "SCT", "Cardiomegaly"},
                                                            {"27925004", "SCT", "Nodule"}};
  for (std::size_t i = 0; i < 3; ++i) {
    const json& frame = map["frames"][i];
    EXPECT_EQ(frame["lut_label"], request.frames[i].label);
    EXPECT_EQ(frame["quantity"][0], quantities[i][0]) << frame.dump();
    EXPECT_EQ(frame["quantity"][1], quantities[i][1]) << frame.dump();
    EXPECT_EQ(frame["unit"][0], "1");
    EXPECT_NE(frame["lut_explanation"].get<std::string>().find("HOT_IRON"), std::string::npos);  // the palette hint
    EXPECT_EQ(frame["source_sop_instance_uid"], source_sop_uid_);
    EXPECT_DOUBLE_EQ(frame["min"].get<double>(), 0.0);
    EXPECT_DOUBLE_EQ(frame["max"].get<double>(), 1.0);
    ASSERT_TRUE(frame["max_abs_difference"].is_number()) << frame.dump();
    EXPECT_LT(frame["max_abs_difference"].get<double>(), 1e-3);
  }
}

TEST_F(AirObjects, AFullSizeParametricMapStaysSmall) {
  const std::string dx = source(2048, 2500);
  ParametricMapRequest r;
  r.algorithm = classifier();
  r.source_path = dx;
  const HeatmapSize size = heatmap_size(2048, 2500, r.downsampling);
  for (int i = 0; i < 3; ++i) r.frames.push_back({"Effusion", blob(size.width, size.height, i)});
  const auto pm = build_parametric_map(r);
  ASSERT_TRUE(pm) << pm.error();
  // 3 frames of 256 x 313 floats are 961,536 bytes; the header adds a few kB.
  EXPECT_LT(pm->bytes.size(), 1'000'000u);
  std::printf("Parametric Map of a 2048 x 2500 image, 3 frames, downsampling %d: %zu bytes\n", r.downsampling,
              pm->bytes.size());
}

TEST_F(AirObjects, BadHeatmapsAreRefusedWithAReason) {
  const std::string dx = source();
  auto r = pm_request(dx, 8);
  r.frames[1].values[7] = 1.5f;
  auto pm = build_parametric_map(r);
  ASSERT_FALSE(pm);
  EXPECT_NE(pm.error().find("outside 0..1"), std::string::npos) << pm.error();
  r = pm_request(dx, 8);
  r.frames[0].values.pop_back();
  pm = build_parametric_map(r);
  ASSERT_FALSE(pm);
  EXPECT_NE(pm.error().find("40 x 48"), std::string::npos) << pm.error();
  r = pm_request(dx, 8);
  r.downsampling = 0;
  EXPECT_FALSE(build_parametric_map(r));
  r = pm_request(dx, 8);
  r.frames.clear();
  EXPECT_FALSE(build_parametric_map(r));
  r = pm_request(dx, 8);
  r.source_path = (dir_ / "missing.dcm").string();
  EXPECT_FALSE(build_parametric_map(r));
}

// A whole result set (SR, SC, SEG, PM) made by the real builders, listed by a KOS; every object
// carries one Contributing Equipment item per algorithm that made it.
TEST_F(AirObjects, TheKeyObjectSelectionListsTheResultSetAndEveryObjectNamesItsAlgorithms) {
  const std::string dx = source();
  std::vector<std::uint8_t> lung_mask(static_cast<std::size_t>(kWidth) * kHeight, 0);
  for (int y = 100; y < 300; ++y)
    for (int x = 40; x < 140; ++x) lung_mask[static_cast<std::size_t>(y) * kWidth + x] = 1;

  const auto sr = build_structured_report({classifier(), {{dx, {{"Effusion", 0.8}, {"Nodule", 0.1}}}}});
  ASSERT_TRUE(sr) << sr.error();
  SecondaryCaptureRequest sc_request;
  sc_request.algorithm = classifier();
  sc_request.source_path = dx;
  sc_request.width = kWidth;
  sc_request.height = kHeight;
  sc_request.grey.assign(static_cast<std::size_t>(kWidth) * kHeight, 128);
  sc_request.findings = {{"Effusion", 0.8}};
  sc_request.lungs = {{Laterality::right, lung_mask}};
  sc_request.segmenter = lung_model();
  const auto sc = build_secondary_capture(sc_request);
  ASSERT_TRUE(sc) << sc.error();
  SegmentationRequest seg_request{lung_model(), dx, kWidth, kHeight, {{Laterality::right, lung_mask}}, new_series_uid()};
  const auto seg = build_lung_segmentation(seg_request);
  ASSERT_TRUE(seg) << seg.error();
  const auto pm = build_parametric_map(pm_request(dx, 8));
  ASSERT_TRUE(pm) << pm.error();
  KeyObjectSelectionRequest kos_request{classifier(), dx, {sr->reference, sc->reference, seg->reference, pm->reference}};
  kos_request.segmenter = lung_model();
  const auto kos = build_key_object_selection(kos_request);
  ASSERT_TRUE(kos) << kos.error();
  EXPECT_EQ(kos->kind, "kos");
  EXPECT_EQ(kos->reference.sop_class_uid, UID_KeyObjectSelectionDocumentStorage);
  EXPECT_EQ(kos->reference.study_instance_uid, study_uid_);
  std::vector<std::string> all = {dx};
  for (const auto* object : {&*sr, &*sc, &*seg, &*pm, &*kos}) all.push_back(save(*object, object->kind + ".dcm"));
  const std::string kos_path = (dir_ / "objects" / "kos.dcm").string();

  EXPECT_TRUE(testing::is_clean(testing::dciodvfy(kos_path, "KeyObjectSelectionDocument"), iod_warnings()));
  EXPECT_TRUE(testing::is_clean(testing::pixelmed_kos(kos_path)));
  EXPECT_TRUE(testing::is_clean(testing::dcentvfy(all), entity_warnings_));

  const json read = read_objects();
  ASSERT_EQ(read["objects"].size(), 5u) << read.dump();
  const std::string classifier_uid = device_uid(classifier()), lung_uid = device_uid(lung_model());
  const std::map<std::string, std::vector<std::string>> expected_devices = {
      {"sr", {classifier_uid}}, {"sc", {classifier_uid, lung_uid}}, {"seg", {lung_uid}},
      {"pmap", {classifier_uid}}, {"kos", {classifier_uid, lung_uid}}};
  for (const json& object : read["objects"]) {
    const std::string kind = object["kind"];
    std::vector<std::string> devices;
    for (const json& item : object["contributing_equipment"]) {
      EXPECT_EQ(item["purpose"], json({"Newcode1", "99IHE", "Processing Algorithm"})) << kind;
      EXPECT_EQ(item["manufacturer"], "evax-node") << kind;
      EXPECT_FALSE(item["model_name"].get<std::string>().empty()) << kind;
      EXPECT_EQ(item["software_versions"].size(), 2u) << kind;
      devices.push_back(item["device_uid"]);
    }
    EXPECT_EQ(devices, expected_devices.at(kind)) << kind << ": " << object.dump();
    if (kind == "kos") {
      EXPECT_EQ(object["title"], json({"113000", "DCM", "Of Interest"}));
      const std::vector<std::string> expected = {sr->reference.sop_instance_uid, sc->reference.sop_instance_uid,
                                                 seg->reference.sop_instance_uid, pm->reference.sop_instance_uid};
      EXPECT_EQ(object["referenced"].get<std::vector<std::string>>(), expected);
      EXPECT_EQ(object["evidence"].size(), 4u);
    }
  }
}

TEST_F(AirObjects, AKeyObjectSelectionNeedsCompleteReferencesFromTheStudy) {
  const std::string dx = source();
  KeyObjectSelectionRequest r{classifier(), dx, {}};
  EXPECT_FALSE(build_key_object_selection(r));
  r.objects = {{study_uid_, new_series_uid(), UID_ParametricMapStorage, ""}};
  EXPECT_FALSE(build_key_object_selection(r));
  r.objects = {{"1.2.3.4", new_series_uid(), UID_ParametricMapStorage, "1.2.3.5"}};
  const auto other_study = build_key_object_selection(r);
  ASSERT_FALSE(other_study);
  EXPECT_NE(other_study.error().find("another study"), std::string::npos) << other_study.error();
}

}  // namespace
}  // namespace evax::reporting
