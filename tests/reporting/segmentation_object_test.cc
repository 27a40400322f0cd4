// The lung SEG as a PACS and its validators see it: dciodvfy, dcentvfy, pydicom, and the frames
// decoded bit by bit. Sources are synthetic DX files (no Frame of Reference, like real CR/DX).
#include <gtest/gtest.h>
#include <unistd.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "evax/reporting/segmentation_object.h"
#include "synthetic_dicom.h"
#include "validator_tools.h"

namespace evax::reporting {
namespace {

namespace fs = std::filesystem;
using testing::dcentvfy;
using testing::dciodvfy;
using testing::is_clean;
using testing::run;

// The validator warnings the SEG is known to draw; any other fails the test. dciodvfy: the
// synthetic source has no Study Date, Time or ID, which a DICOMDIR would want. dcentvfy: the
// source lacks Type 2 attributes the SEG carries empty.
// dciodvfy's tables predate Contributing Equipment's Device UID (kDeviceUidWarnings).
const std::vector<std::string> kIodWarnings = {"Missing attribute or value that would be needed to build DICOMDIR",
                                               "(0x0018,0x1002) UI Device UID", "this is a Standard Extended SOP Class"};
const std::vector<std::string> kEntityWarnings = {"Attribute present in one instance but not the other"};

AlgorithmIdentity segmenter(bool demo) {
  AlgorithmIdentity a;
  a.software_version = "0.1.0";
  a.model_name = "EVA-X-S UperNet";
  a.model_task = "lungs";
  a.checkpoint_sha256 = demo ? "" : std::string(64, 'b');
  a.demo = demo;
  a.device_observer_uid = "2.25.1234567890";
  a.station_name = "EVAX";
  return a;
}

// An ellipse on the patient's right or left half (image left is the patient's right on a PA
// view), with a few scattered pixels so every bit position of a byte is exercised.
std::vector<std::uint8_t> lung_mask(int width, int height, Laterality side) {
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(width) * height, 0);
  const double cx = side == Laterality::right ? width * 0.3 : width * 0.7, cy = height * 0.5;
  const double rx = width * 0.18, ry = height * 0.35;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const double dx = (x - cx) / rx, dy = (y - cy) / ry;
      const bool scattered = (x * 7 + y * 13) % 29 == (side == Laterality::right ? 3 : 17);
      mask[static_cast<std::size_t>(y) * width + x] = (dx * dx + dy * dy <= 1.0 || scattered) ? 1 : 0;
    }
  mask.back() = 1;  // the frame's last bit: the one DCMTK 3.6.7 loses first
  return mask;
}

class LungSegmentation : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/evax-seg-test-XXXXXX";
    dir_ = ::mkdtemp(pattern);
  }
  void TearDown() override {
    if (!getenv("EVAX_KEEP_TEST_FILES")) fs::remove_all(dir_);
  }

  std::string source(int width, int height, testing::SyntheticImage image = {}) {
    image.study_uid = study_uid_;
    image.width = width;
    image.height = height;
    const std::string path = (dir_ / "source.dcm").string();
    source_sop_uid_ = testing::write_synthetic_dicom(path, image);
    return path;
  }

  SegmentationRequest request(const std::string& source_path, int width, int height, bool demo = false) {
    SegmentationRequest r;
    r.algorithm = segmenter(demo);
    r.source_path = source_path;
    r.width = width;
    r.height = height;
    r.lungs = {{Laterality::right, lung_mask(width, height, Laterality::right)},
               {Laterality::left, lung_mask(width, height, Laterality::left)}};
    r.series_instance_uid = new_series_uid();
    return r;
  }

  std::string save(const DicomObject& object, const std::string& name) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(object.bytes.data()),
                                                static_cast<std::streamsize>(object.bytes.size()));
    return path;
  }

  // Runs a Python script (written to the test directory) with pydicom.
  std::string python(const std::string& script, const std::string& arguments) {
    const std::string path = (dir_ / "check.py").string();
    std::ofstream(path) << script;
    return run(std::string(EVAX_PYTHON) + " " + path + " " + arguments);
  }

  fs::path dir_;
  std::string study_uid_ = testing::new_uid(SITE_STUDY_UID_ROOT);
  std::string source_sop_uid_;
};

TEST_F(LungSegmentation, PassesDciodvfyAndBelongsToTheSourceStudy) {
  const std::string dx = source(320, 384);
  const auto seg = build_lung_segmentation(request(dx, 320, 384));
  ASSERT_TRUE(seg) << seg.error();
  EXPECT_EQ(seg->kind, "seg");
  EXPECT_EQ(seg->reference.sop_class_uid, UID_SegmentationStorage);
  EXPECT_EQ(seg->reference.study_instance_uid, study_uid_);
  EXPECT_FALSE(seg->reference.sop_instance_uid.empty());
  const std::string path = save(*seg, "seg.dcm");

  EXPECT_TRUE(is_clean(dciodvfy(path, "Segmentation"), kIodWarnings));
  EXPECT_TRUE(is_clean(dcentvfy({dx, path}), kEntityWarnings));
}

TEST_F(LungSegmentation, PydicomSeesCodedLungsDerivedFromTheSource) {
  const std::string dx = source(320, 384);
  auto r = request(dx, 320, 384);
  r.series_number = 9903;
  const auto seg = build_lung_segmentation(r);
  ASSERT_TRUE(seg) << seg.error();
  const std::string out = python(R"(import pydicom, sys
d = pydicom.dcmread(sys.argv[1])
print('header', d.SOPClassUID, d.Modality, d.SegmentationType, d.ContentLabel, d.Manufacturer, d.SeriesNumber,
      d.SeriesInstanceUID == sys.argv[2], d.BitsAllocated, d.NumberOfFrames, 'FrameOfReferenceUID' in d)
for s in d.SegmentSequence:
    c, t, m = s.SegmentedPropertyCategoryCodeSequence[0], s.SegmentedPropertyTypeCodeSequence[0], \
        s.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence[0]
    a = s.SegmentationAlgorithmIdentificationSequence[0]
    print('segment', s.SegmentNumber, s.SegmentLabel, c.CodeValue, c.CodingSchemeDesignator, t.CodeValue, t.CodingSchemeDesignator,
          m.CodeValue, m.CodeMeaning, s.SegmentAlgorithmType, s.SegmentAlgorithmName, '|', a.AlgorithmFamilyCodeSequence[0].CodeValue,
          a.AlgorithmName, a.AlgorithmVersion)
for f in d.PerFrameFunctionalGroupsSequence:
    src = f.DerivationImageSequence[0]
    print('derivation', src.DerivationCodeSequence[0].CodeValue, src.SourceImageSequence[0].ReferencedSOPClassUID,
          src.SourceImageSequence[0].ReferencedSOPInstanceUID == sys.argv[3],
          src.SourceImageSequence[0].PurposeOfReferenceCodeSequence[0].CodeValue,
          src.SourceImageSequence[0].PurposeOfReferenceCodeSequence[0].CodeMeaning, src.SourceImageSequence[0].SpatialLocationsPreserved)
shared = d.SharedFunctionalGroupsSequence[0]
print('shared', 'DerivationImageSequence' in shared, [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient],
      'PixelMeasuresSequence' in shared, 'PlanePositionSequence' in shared)
print('frames', [int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber) for f in d.PerFrameFunctionalGroupsSequence],
      [str(f.FrameContentSequence[0].DimensionIndexValues) for f in d.PerFrameFunctionalGroupsSequence])
print('referenced', d.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == sys.argv[3])
)",
                                 save(*seg, "seg.dcm") + " " + r.series_instance_uid + " " + source_sop_uid_);
  // Its own Frame of Reference, for the plane orientation OHIF needs (see segmentation_object.cc).
  EXPECT_NE(out.find("header 1.2.840.10008.5.1.4.1.1.66.4 SEG BINARY LUNGS evax-node 9903 True 1 2 True"), std::string::npos)
      << out;
  EXPECT_NE(out.find("segment 1 Right lung 91723000 SCT 39607008 SCT 24028007 Right AUTOMATIC EVA-X-S UperNet | "
                     "123110 EVA-X-S UperNet 0.1.0 sha256:bbbbbbbbbbbbbbbb"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("segment 2 Left lung 91723000 SCT 39607008 SCT 7771000 Left AUTOMATIC EVA-X-S UperNet"), std::string::npos)
      << out;
  // Every frame names its source image, pixel for pixel; the identity orientation is shared.
  const std::string derivation = "derivation 113076 1.2.840.10008.5.1.4.1.1.1.1 True 121322 Source image for image processing operation YES";
  const auto first = out.find(derivation);
  ASSERT_NE(first, std::string::npos) << out;
  EXPECT_NE(out.find(derivation, first + 1), std::string::npos) << "one per frame\n" << out;
  EXPECT_NE(out.find("shared False [1.0, 0.0, 0.0, 0.0, 1.0, 0.0] False False"), std::string::npos) << out;
  EXPECT_NE(out.find("frames [1, 2] ['1', '2']"), std::string::npos) << out;
  EXPECT_NE(out.find("referenced True"), std::string::npos) << out;
}

// highdicom, an independent reader, maps both frames onto the source image through their
// derivation references and finds each lung's pixels where the mask has them.
TEST_F(LungSegmentation, HighdicomMapsBothLungsOntoTheSourceImage) {
  const std::string dx = source(320, 384);
  const auto r = request(dx, 320, 384);
  const auto seg = build_lung_segmentation(r);
  ASSERT_TRUE(seg) << seg.error();
  const std::string path = save(*seg, "seg.dcm");
  const std::string script = (dir_ / "highdicom_check.py").string();
  std::ofstream(script) << R"(import sys, highdicom as hd
seg = hd.seg.segread(sys.argv[1])
pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=[sys.argv[2]], segment_numbers=[1, 2])
print('highdicom', seg.number_of_segments, pixels.shape, int(pixels[..., 0].sum()), int(pixels[..., 1].sum()))
)";
  const std::string out = run(std::string(EVAX_TOOLS_PYTHON) + " " + script + " " + path + " " + source_sop_uid_);
  const auto count = [](const std::vector<std::uint8_t>& mask) { return std::count(mask.begin(), mask.end(), 1); };
  const std::string expected = "highdicom 2 (1, 384, 320, 2) " + std::to_string(count(r.lungs[0].mask)) + " " +
                               std::to_string(count(r.lungs[1].mask));
  EXPECT_NE(out.find(expected), std::string::npos) << expected << "\n" << out;
}

// The frames as a receiver decodes them: each bit of the written Pixel Data against the mask,
// once by hand from the file's bytes and once by pydicom. DCMTK 3.6.7's own packing gets all
// three odd sizes wrong: it clears the last frame's final bits (101 x 77: 1 bit used in a
// frame's last byte), and with 7 or 5 used bits (99 x 77, 101 x 81) the second frame also spills
// past the bytes DCMTK shifts it in. 64 x 48 fills whole bytes.
class LungSegmentationSizes : public LungSegmentation, public ::testing::WithParamInterface<std::pair<int, int>> {};

TEST_P(LungSegmentationSizes, FramesAreBitExact) {
  const auto [width, height] = GetParam();
  const std::string dx = source(width, height);
  const auto r = request(dx, width, height);
  const auto seg = build_lung_segmentation(r);
  ASSERT_TRUE(seg) << seg.error();
  const std::string path = save(*seg, "seg.dcm");

  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(path.c_str()).good());
  const Uint8* bits = nullptr;
  unsigned long length = 0;
  ASSERT_TRUE(file.getDataset()->findAndGetUint8Array(DCM_PixelData, bits, &length).good());
  const std::size_t pixels = static_cast<std::size_t>(width) * height;
  ASSERT_GE(length * 8, 2 * pixels);
  for (std::size_t frame = 0; frame < 2; ++frame) {
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < pixels; ++i) {
      const std::size_t bit = frame * pixels + i;
      wrong += ((bits[bit / 8] >> (bit % 8)) & 1u) != r.lungs[frame].mask[i];
    }
    EXPECT_EQ(wrong, 0u) << "frame " << frame + 1 << " of " << width << "x" << height;
  }
  for (std::size_t bit = 2 * pixels; bit < length * 8; ++bit) EXPECT_EQ((bits[bit / 8] >> (bit % 8)) & 1u, 0u) << "padding bit";

  std::ofstream(dir_ / "masks.raw", std::ios::binary)
      .write(reinterpret_cast<const char*>(r.lungs[0].mask.data()), static_cast<std::streamsize>(pixels))
      .write(reinterpret_cast<const char*>(r.lungs[1].mask.data()), static_cast<std::streamsize>(pixels));
  const std::string out = python(R"(import numpy, pydicom, sys
d = pydicom.dcmread(sys.argv[1])
masks = numpy.fromfile(sys.argv[2], dtype=numpy.uint8).reshape(d.pixel_array.shape)
print('pydicom', d.pixel_array.shape, [int((d.pixel_array[f] != masks[f]).sum()) for f in range(2)])
)",
                                 path + " " + (dir_ / "masks.raw").string());
  const std::string expected = "pydicom (2, " + std::to_string(height) + ", " + std::to_string(width) + ") [0, 0]";
  EXPECT_NE(out.find(expected), std::string::npos) << out;
}

INSTANTIATE_TEST_SUITE_P(OddAndEvenSizes, LungSegmentationSizes,
                         ::testing::Values(std::pair{101, 77}, std::pair{99, 77}, std::pair{101, 81}, std::pair{64, 48}),
                         [](const auto& info) { return std::to_string(info.param.first) + "x" + std::to_string(info.param.second); });

TEST_F(LungSegmentation, SaysWhenTheModelIsADemo) {
  const std::string dx = source(64, 48);
  for (const bool demo : {true, false}) {
    const auto seg = build_lung_segmentation(request(dx, 64, 48, demo));
    ASSERT_TRUE(seg) << seg.error();
    const std::string out = python(R"(import pydicom, sys
d = pydicom.dcmread(sys.argv[1])
print('content:', d.ContentDescription)
print('series:', d.SeriesDescription)
print('version:', d.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0].AlgorithmVersion)
print('software:', '|'.join(d.SoftwareVersions))
)",
                                   save(*seg, "seg.dcm"));
    EXPECT_NE(out.find("content: AI-GENERATED"), std::string::npos) << out;
    EXPECT_EQ(out.find("content: AI-GENERATED lung segmentation. DEMO MODEL - UNTRAINED WEIGHTS") != std::string::npos, demo) << out;
    EXPECT_EQ(out.find("series: EVA-X AI lung segmentation (DEMO MODEL)") != std::string::npos, demo) << out;
    EXPECT_EQ(out.find("version: 0.1.0 demo") != std::string::npos, demo) << out;
    EXPECT_EQ(out.find("DEMO MODEL - UNTRAINED WEIGHTS") != std::string::npos, demo) << out;
  }
}

TEST_F(LungSegmentation, OneLungGivesOneSegmentAndPatientBytesAreCopied) {
  testing::SyntheticImage image;
  image.patient_name = "M\xE9lanie^Test";  // é in Latin-1
  const std::string dx = source(101, 77, image);  // a lone frame with a partly used last byte
  {
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(dx.c_str()).good());
    file.loadAllDataIntoMemory();  // it is saved over itself
    file.getDataset()->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 100");
    ASSERT_TRUE(file.saveFile(dx.c_str(), EXS_LittleEndianExplicit).good());
  }
  auto r = request(dx, 101, 77);
  r.lungs.erase(r.lungs.begin());  // the left lung only
  const auto seg = build_lung_segmentation(r);
  ASSERT_TRUE(seg) << seg.error();
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(save(*seg, "seg.dcm").c_str()).good());
  OFString name, charset, label;
  file.getDataset()->findAndGetOFString(DCM_PatientName, name);
  file.getDataset()->findAndGetOFString(DCM_SpecificCharacterSet, charset);
  file.getDataset()->findAndGetOFString(DCM_SegmentLabel, label, 0, OFTrue);
  EXPECT_EQ(std::string(name.c_str()), "M\xE9lanie^Test");
  EXPECT_EQ(std::string(charset.c_str()), "ISO_IR 100");
  EXPECT_EQ(std::string(label.c_str()), "Left lung");
  Sint32 frames = 0;
  file.getDataset()->findAndGetSint32(DCM_NumberOfFrames, frames);
  EXPECT_EQ(frames, 1);
  EXPECT_TRUE(is_clean(dciodvfy(save(*seg, "one.dcm"), "Segmentation"), kIodWarnings));
}

TEST_F(LungSegmentation, BadInputIsAnErrorNotACrash) {
  const std::string dx = source(64, 48);
  const auto error_of = [](const SegmentationRequest& r) {
    const auto seg = build_lung_segmentation(r);
    return seg ? std::string("<no error>") : seg.error();
  };
  auto r = request(dx, 64, 48);
  r.lungs.clear();
  EXPECT_NE(error_of(r).find("no lung"), std::string::npos) << error_of(r);
  r = request(dx, 64, 48);
  r.lungs.push_back(r.lungs.front());
  EXPECT_NE(error_of(r).find("more than two"), std::string::npos) << error_of(r);
  r = request(dx, 64, 48);
  r.lungs[1].laterality = Laterality::right;
  EXPECT_NE(error_of(r).find("same lung"), std::string::npos) << error_of(r);
  r = request(dx, 64, 48);
  r.lungs[0].mask.pop_back();
  EXPECT_NE(error_of(r).find("does not match the image size"), std::string::npos) << error_of(r);
  r = request(dx, 64, 48);
  std::ranges::fill(r.lungs[1].mask, 0);
  EXPECT_NE(error_of(r).find("empty"), std::string::npos) << error_of(r);
  r = request(dx, 48, 64);  // masks consistent with their size, but not the source's
  EXPECT_NE(error_of(r).find("source image's size"), std::string::npos) << error_of(r);
  r = request(dx, 64, 48);
  r.width = 0;
  EXPECT_NE(error_of(r).find("not a DICOM image size"), std::string::npos) << error_of(r);
  r = request((dir_ / "gone.dcm").string(), 64, 48);
  EXPECT_NE(error_of(r).find("cannot read the received file"), std::string::npos) << error_of(r);
}

}  // namespace
}  // namespace evax::reporting
