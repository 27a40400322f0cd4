// Builds small synthetic DICOM images with DCMTK for tests: a chest-sized DX with the
// attributes under test and no real patient data.
#pragma once

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace evax::testing {

struct SyntheticImage {
  // Identity and the attributes the intake rules read; empty UIDs are generated.
  std::string study_uid;
  std::string series_uid;
  std::string sop_uid;
  std::string sop_class_uid = UID_DigitalXRayImageStorageForPresentation;
  std::string patient_name = "SYNTHETIC^TEST";
  std::string patient_id = "SYN0001";
  std::string modality = "DX";
  std::string body_part = "CHEST";
  std::string view_position = "PA";
  std::string presentation_intent;
  int width = 64;
  int height = 48;
  int bits_stored = 12;                  // 8 gives an 8-bit image
  std::string photometric = "MONOCHROME2";
  std::vector<std::uint16_t> values;     // width * height stored values; empty: a ramp
  std::optional<std::pair<double, double>> window;     // centre, width
  std::optional<std::pair<double, double>> rescale;    // slope, intercept
  std::vector<std::uint16_t> voi_lut;    // LUT data for stored values 0..n-1 (16-bit entries)
  std::optional<std::uint16_t> padding;  // PixelPaddingValue
  bool omit_pixel_data = false;
};

inline std::uint16_t ramp_value(const SyntheticImage& s, int x, int y) {
  const int max_value = (1 << s.bits_stored) - 1;
  return static_cast<std::uint16_t>((static_cast<long>(x + y * s.width) * max_value) / (s.width * s.height - 1));
}

inline std::uint16_t stored_value(const SyntheticImage& s, int x, int y) {
  return s.values.empty() ? ramp_value(s, x, y) : s.values[static_cast<std::size_t>(y) * s.width + x];
}

inline std::string new_uid(const char* root = SITE_INSTANCE_UID_ROOT) {
  char uid[100];
  return dcmGenerateUniqueIdentifier(uid, root);
}

// Fills `d` with the image; returns its SOP Instance UID.
inline std::string fill_synthetic_dataset(DcmDataset* d, const SyntheticImage& s) {
  const std::string sop_uid = s.sop_uid.empty() ? new_uid() : s.sop_uid;
  d->putAndInsertString(DCM_SOPClassUID, s.sop_class_uid.c_str());
  d->putAndInsertString(DCM_SOPInstanceUID, sop_uid.c_str());
  d->putAndInsertString(DCM_StudyInstanceUID, (s.study_uid.empty() ? new_uid(SITE_STUDY_UID_ROOT) : s.study_uid).c_str());
  d->putAndInsertString(DCM_SeriesInstanceUID, (s.series_uid.empty() ? new_uid(SITE_SERIES_UID_ROOT) : s.series_uid).c_str());
  d->putAndInsertString(DCM_Modality, s.modality.c_str());
  d->putAndInsertString(DCM_PatientName, s.patient_name.c_str());
  d->putAndInsertString(DCM_PatientID, s.patient_id.c_str());
  d->putAndInsertString(DCM_BodyPartExamined, s.body_part.c_str());
  d->putAndInsertString(DCM_ViewPosition, s.view_position.c_str());
  if (!s.presentation_intent.empty()) d->putAndInsertString(DCM_PresentationIntentType, s.presentation_intent.c_str());
  d->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  d->putAndInsertString(DCM_PhotometricInterpretation, s.photometric.c_str());
  d->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(s.height));
  d->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(s.width));
  const bool eight_bit = s.bits_stored <= 8;
  d->putAndInsertUint16(DCM_BitsAllocated, eight_bit ? 8 : 16);
  d->putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(s.bits_stored));
  d->putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(s.bits_stored - 1));
  d->putAndInsertUint16(DCM_PixelRepresentation, 0);
  if (s.window) {
    d->putAndInsertString(DCM_WindowCenter, std::to_string(s.window->first).c_str());
    d->putAndInsertString(DCM_WindowWidth, std::to_string(s.window->second).c_str());
  }
  if (s.rescale) {
    d->putAndInsertString(DCM_RescaleSlope, std::to_string(s.rescale->first).c_str());
    d->putAndInsertString(DCM_RescaleIntercept, std::to_string(s.rescale->second).c_str());
    d->putAndInsertString(DCM_RescaleType, "US");
  }
  if (s.padding) d->putAndInsertUint16(DCM_PixelPaddingValue, *s.padding);
  if (!s.voi_lut.empty()) {
    DcmItem* item = nullptr;
    d->findOrCreateSequenceItem(DCM_VOILUTSequence, item, -2);
    const Uint16 descriptor[3] = {static_cast<Uint16>(s.voi_lut.size()), 0, 16};
    item->putAndInsertUint16Array(DCM_LUTDescriptor, descriptor, 3);
    item->putAndInsertUint16Array(DCM_LUTData, s.voi_lut.data(), static_cast<unsigned long>(s.voi_lut.size()));
  }
  if (!s.omit_pixel_data) {
    if (eight_bit) {
      std::vector<Uint8> pixels;
      for (int y = 0; y < s.height; ++y)
        for (int x = 0; x < s.width; ++x) pixels.push_back(static_cast<Uint8>(stored_value(s, x, y)));
      d->putAndInsertUint8Array(DCM_PixelData, pixels.data(), static_cast<unsigned long>(pixels.size()));
    } else {
      std::vector<Uint16> pixels;
      for (int y = 0; y < s.height; ++y)
        for (int x = 0; x < s.width; ++x) pixels.push_back(stored_value(s, x, y));
      d->putAndInsertUint16Array(DCM_PixelData, pixels.data(), static_cast<unsigned long>(pixels.size()));
    }
  }
  return sop_uid;
}

// Writes the image as a DICOM file; returns its SOP Instance UID.
inline std::string write_synthetic_dicom(const std::string& path, const SyntheticImage& s) {
  DcmFileFormat file;
  const std::string sop_uid = fill_synthetic_dataset(file.getDataset(), s);
  file.saveFile(path.c_str(), EXS_LittleEndianExplicit);
  return sop_uid;
}

}  // namespace evax::testing
