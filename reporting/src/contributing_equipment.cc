// The Contributing Equipment Sequence every result object carries (IHE AIR: one item per
// algorithm that made it) and the Device UID that names one model and checkpoint.
#include <dcmtk/dcmdata/dcdeftag.h>

#include "dicom_file.h"

namespace evax::reporting {

std::string device_uid(const AlgorithmIdentity& algorithm) {
  // Demo weights have no checkpoint digest; they are the same for one model name and task.
  const std::string checkpoint = algorithm.checkpoint_sha256.empty() ? "demo-weights" : algorithm.checkpoint_sha256;
  const std::string key = algorithm.model_name + "\n" + algorithm.model_task + "\n" + checkpoint + "\n" + algorithm.software_version;
  return uid_from_key(key);
}

void put_contributing_equipment(const std::vector<const AlgorithmIdentity*>& algorithms, DcmItem& target) {
  target.findAndDeleteElement(DCM_ContributingEquipmentSequence);
  long index = 0;
  for (const AlgorithmIdentity* algorithm : algorithms) {
    if (!algorithm) continue;
    DcmItem* item = nullptr;
    if (target.findOrCreateSequenceItem(DCM_ContributingEquipmentSequence, item, index++).bad() || !item) continue;
    DcmItem* purpose = nullptr;
    item->findOrCreateSequenceItem(DCM_PurposeOfReferenceCodeSequence, purpose, 0);
    purpose->putAndInsertString(DCM_CodeValue, "Newcode1");
    purpose->putAndInsertString(DCM_CodingSchemeDesignator, "99IHE");
    purpose->putAndInsertString(DCM_CodeMeaning, "Processing Algorithm");
    item->putAndInsertString(DCM_Manufacturer, algorithm->manufacturer.c_str());
    item->putAndInsertString(DCM_ManufacturerModelName, (algorithm->model_name + " " + algorithm->model_task).c_str());
    item->putAndInsertString(DCM_SoftwareVersions, software_versions(*algorithm).c_str());
    item->putAndInsertString(DCM_DeviceUID, device_uid(*algorithm).c_str());
    item->putAndInsertString(DCM_ContributionDescription, ("AI analysis by " + model_description(*algorithm)).c_str());
  }
}

}  // namespace evax::reporting
