#include "evax/dicom_node/codecs.h"

#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>

namespace evax::dicom_node {

DicomCodecs::DicomCodecs() {
  DJDecoderRegistration::registerCodecs();    // JPEG baseline, extended, lossless
  DJLSDecoderRegistration::registerCodecs();  // JPEG-LS
  DcmRLEDecoderRegistration::registerCodecs();
}

DicomCodecs::~DicomCodecs() {
  DcmRLEDecoderRegistration::cleanup();
  DJLSDecoderRegistration::cleanup();
  DJDecoderRegistration::cleanup();
}

}  // namespace evax::dicom_node
