// DicomCodecs: registers DCMTK's JPEG, JPEG-LS and RLE decoders for as long as it lives.
// DCMTK keeps its codec list in process-wide state, so create exactly one, in main (or in a
// test fixture), before decoding and keep it alive until decoding ends. Not copyable.
#pragma once

namespace evax::dicom_node {

class DicomCodecs {
 public:
  DicomCodecs();
  ~DicomCodecs();
  DicomCodecs(const DicomCodecs&) = delete;
  DicomCodecs& operator=(const DicomCodecs&) = delete;
};

}  // namespace evax::dicom_node
