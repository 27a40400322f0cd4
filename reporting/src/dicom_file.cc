#include "dicom_file.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcvrda.h>
#include <dcmtk/dcmdata/dcvrtm.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/ofstd/ofdatime.h>

namespace evax::reporting {

std::expected<std::unique_ptr<DcmFileFormat>, std::string> load_source(const std::string& path) {
  auto file = std::make_unique<DcmFileFormat>();
  const OFCondition status = file->loadFile(path.c_str());
  if (status.bad()) return std::unexpected("cannot read the received file: " + std::string(status.text()));
  return file;
}

void copy_patient_and_study(DcmItem& source, DcmItem& target) {
  static const DcmTagKey kCopied[] = {
      DCM_SpecificCharacterSet, DCM_PatientName, DCM_PatientID, DCM_IssuerOfPatientID, DCM_PatientBirthDate,
      DCM_PatientSex, DCM_StudyInstanceUID, DCM_StudyDate, DCM_StudyTime, DCM_ReferringPhysicianName,
      DCM_StudyID, DCM_AccessionNumber, DCM_StudyDescription};
  // Type 2 in the Patient and General Study modules: present even when unknown.
  static const DcmTagKey kRequiredEmpty[] = {DCM_PatientName, DCM_PatientID, DCM_PatientBirthDate, DCM_PatientSex,
                                             DCM_StudyDate, DCM_StudyTime, DCM_ReferringPhysicianName, DCM_StudyID,
                                             DCM_AccessionNumber};
  for (const auto& tag : kCopied) {
    DcmElement* element = nullptr;
    if (source.findAndGetElement(tag, element).good() && element) {
      target.insert(static_cast<DcmElement*>(element->clone()), /*replaceOld=*/true);
    }
  }
  for (const auto& tag : kRequiredEmpty)
    if (!target.tagExists(tag)) target.insertEmptyElement(tag);
}

std::string model_description(const AlgorithmIdentity& algorithm) {
  std::string text = algorithm.model_name + " " + algorithm.model_task;
  if (algorithm.demo) text += " (DEMO MODEL - UNTRAINED WEIGHTS)";
  return text;
}

std::string software_versions(const AlgorithmIdentity& algorithm) {
  return algorithm.manufacturer + " " + algorithm.software_version + "\\" + model_description(algorithm);
}

void put_equipment(const AlgorithmIdentity& algorithm, DcmItem& target, const AlgorithmIdentity* lung_model) {
  target.putAndInsertString(DCM_Manufacturer, algorithm.manufacturer.c_str());
  target.putAndInsertString(DCM_ManufacturerModelName, (algorithm.model_name + " " + algorithm.model_task).c_str());
  if (!algorithm.station_name.empty()) target.putAndInsertString(DCM_StationName, algorithm.station_name.c_str());
  target.putAndInsertString(DCM_SoftwareVersions, software_versions(algorithm).c_str());
  put_contributing_equipment({&algorithm, lung_model}, target);
  OFString date, time;
  DcmDate::getCurrentDate(date);
  DcmTime::getCurrentTime(time);
  target.putAndInsertString(DCM_InstanceCreationDate, date.c_str());
  target.putAndInsertString(DCM_InstanceCreationTime, time.c_str());
  target.putAndInsertString(DCM_SeriesDate, date.c_str());
  target.putAndInsertString(DCM_SeriesTime, time.c_str());
  target.putAndInsertString(DCM_ContentDate, date.c_str());
  target.putAndInsertString(DCM_ContentTime, time.c_str());
}

std::string new_uid(const char* root) {
  char uid[100];
  return dcmGenerateUniqueIdentifier(uid, root);
}

std::string new_series_uid() { return new_uid(SITE_SERIES_UID_ROOT); }

std::expected<std::vector<std::uint8_t>, std::string> to_part10(DcmFileFormat& file) {
  const E_TransferSyntax xfer = EXS_LittleEndianExplicit;
  file.getMetaInfo()->clear();  // rebuilt from the dataset by validateMetaInfo
  OFCondition status = file.validateMetaInfo(xfer);
  if (status.bad()) return std::unexpected("cannot build the meta header: " + std::string(status.text()));
  file.removeInvalidGroups();
  const Uint32 length = file.calcElementLength(xfer, EET_ExplicitLength) + 128 + 4 + 1024;
  std::vector<std::uint8_t> bytes(length);
  DcmOutputBufferStream stream(bytes.data(), length);
  file.transferInit();
  status = file.write(stream, xfer, EET_ExplicitLength, nullptr);
  file.transferEnd();
  if (status.bad()) return std::unexpected("cannot encode the object: " + std::string(status.text()));
  void* written = nullptr;
  offile_off_t written_length = 0;
  stream.flushBuffer(written, written_length);
  bytes.resize(static_cast<std::size_t>(written_length));
  return bytes;
}

std::expected<std::unique_ptr<DcmFileFormat>, std::string> parse_part10(const std::vector<std::uint8_t>& bytes) {
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  auto file = std::make_unique<DcmFileFormat>();
  file->transferInit();
  const OFCondition status = file->read(stream, EXS_Unknown, EGL_noChange);
  file->transferEnd();
  if (status.bad()) return std::unexpected("cannot parse the written object: " + std::string(status.text()));
  return file;
}

std::string element_string(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return {};
  return value.c_str();
}

}  // namespace evax::reporting
