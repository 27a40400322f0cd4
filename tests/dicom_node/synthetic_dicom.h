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

inline void write_synthetic_dicom(const std::string& path, const SyntheticImage& s) {
  DcmFileFormat file;
  DcmDataset* d = file.getDataset();
  char uid[100];
  d->putAndInsertString(DCM_SOPClassUID, UID_DigitalXRayImageStorageForPresentation);
  d->putAndInsertString(DCM_SOPInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT));
  d->putAndInsertString(DCM_StudyInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_STUDY_UID_ROOT));
  d->putAndInsertString(DCM_SeriesInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_SERIES_UID_ROOT));
  d->putAndInsertString(DCM_Modality, "DX");
  d->putAndInsertString(DCM_PatientName, "SYNTHETIC^TEST");
  d->putAndInsertString(DCM_PatientID, "SYN0001");
  d->putAndInsertString(DCM_BodyPartExamined, "CHEST");
  d->putAndInsertString(DCM_ViewPosition, "PA");
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
  file.saveFile(path.c_str(), EXS_LittleEndianExplicit);
}

}  // namespace evax::testing
