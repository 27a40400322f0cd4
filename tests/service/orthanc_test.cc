// End to end with a real PACS: Orthanc sends a chest X-ray study to the node over DICOM, the
// node sends its SR and Secondary Capture back, and Orthanc files them in the same study.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcfilefo.h>

#include <thread>

#include "orthanc_peer.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(Orthanc, ResultsLandInTheSourceStudyWithItsPatientAndStudyAttributes) {
  NodeHarness node;
  // Orthanc knows the node as a modality; the node knows Orthanc as its destination. The
  // node's DICOM port is fixed by the harness config, so Orthanc can be configured first.
  OrthancPeer pacs({{"evax", node.ae_title(), "127.0.0.1", node.port()}});
  node.config()["destinations"] = json::array({{{"name", "orthanc"}, {"ae_title", pacs.ae_title()},
                                                {"host", "127.0.0.1"}, {"port", pacs.dicom_port()}}});
  node.start();

  const std::string study = new_uid(SITE_STUDY_UID_ROOT);
  SyntheticImage pa = frontal(study, "PA");
  pa.patient_name = "ORTHANC^ROUNDTRIP";
  pa.patient_id = "ORT-0042";
  SyntheticImage lateral = frontal(study, "LL");
  lateral.patient_name = pa.patient_name;
  lateral.patient_id = pa.patient_id;
  lateral.series_uid = new_uid(SITE_SERIES_UID_ROOT);
  const auto files = write_images(node.dir(), "orthanc", {pa, lateral});
  for (const auto& f : files) {  // the study attributes a modality fills in
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile(f.c_str()).good());
    file.loadAllDataIntoMemory();  // it is saved over itself
    DcmDataset* d = file.getDataset();
    d->putAndInsertString(DCM_PatientBirthDate, "19700101");
    d->putAndInsertString(DCM_PatientSex, "O");
    d->putAndInsertString(DCM_StudyDate, "20261128");
    d->putAndInsertString(DCM_StudyTime, "101500");
    d->putAndInsertString(DCM_StudyID, "S42");
    d->putAndInsertString(DCM_AccessionNumber, "ACC-42");
    d->putAndInsertString(DCM_ReferringPhysicianName, "REFERRER^TEST");
    ASSERT_TRUE(file.saveFile(f.c_str(), EXS_LittleEndianExplicit).good());
  }
  std::vector<std::string> ids;
  for (const auto& f : files) ids.push_back(pacs.upload(f));
  ASSERT_EQ(pacs.study_instances_tags(study).size(), 2u);

  try {
    pacs.send_to_modality("evax", ids);  // Orthanc's C-STORE to the node
  } catch (const std::exception& e) {
    FAIL() << e.what() << "\nnode log:\n" << node.log() << "\nOrthanc log:\n" << pacs.log();
  }

  const json status = node.wait_for([](const json& s) {
    return !s["jobs"].empty() && !s["jobs"][0]["times"]["delivered"].is_null();
  }, 120s);
  ASSERT_FALSE(status["jobs"].empty()) << node.log();
  ASSERT_FALSE(status["jobs"][0]["times"]["delivered"].is_null()) << status.dump(2) << "\n" << pacs.log();

  std::vector<json> instances;
  for (int i = 0; i < 100 && (instances = pacs.study_instances_tags(study)).size() < 4; ++i)
    std::this_thread::sleep_for(100ms);
  ASSERT_EQ(instances.size(), 4u) << json(instances).dump(2);  // PA, lateral, SR, SC

  json source, sr, sc;
  for (const auto& tags : instances) {
    if (tags["SOPInstanceUID"] == status["jobs"][0]["images"][0]["sop_instance_uid"]) source = tags;
    if (tags["Modality"] == "SR") sr = tags;
    if (tags["Modality"] == "OT") sc = tags;
  }
  ASSERT_FALSE(source.is_null());
  ASSERT_FALSE(sr.is_null()) << json(instances).dump(2);
  ASSERT_FALSE(sc.is_null()) << json(instances).dump(2);
  EXPECT_EQ(sr["SOPClassUID"], UID_Comprehensive3DSRStorage);
  EXPECT_EQ(sc["SOPClassUID"], UID_SecondaryCaptureImageStorage);
  for (const char* key : {"PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                          "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName"}) {
    EXPECT_EQ(sr.value(key, json()), source.value(key, json())) << key;
    EXPECT_EQ(sc.value(key, json()), source.value(key, json())) << key;
  }
  EXPECT_EQ(sr["PatientName"], "ORTHANC^ROUNDTRIP");
  EXPECT_EQ(sc["AccessionNumber"], "ACC-42");
  EXPECT_NE(sr["SeriesInstanceUID"], sc["SeriesInstanceUID"]);  // each in its own new series
  EXPECT_NE(sr["SeriesInstanceUID"], source["SeriesInstanceUID"]);
  EXPECT_EQ(sr["VerificationFlag"], "UNVERIFIED");
  // Orthanc filed everything under one patient and one study.
  EXPECT_EQ(pacs.get("/patients").size(), 1u);
  EXPECT_EQ(pacs.get("/studies").size(), 1u);
  // The node did not analyse its own results when they passed through Orthanc: one job.
  EXPECT_EQ(node.status()["jobs"].size(), 1u);
}

}  // namespace
}  // namespace evax::testing
