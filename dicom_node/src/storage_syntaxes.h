// The transfer syntaxes the node stores, shared by the SCP's negotiation and the inspection of
// a received file. Internal to dicom_node.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcuid.h>

namespace evax::dicom_node {

// Transfer syntaxes DCMTK decodes here, preferred first. JPEG 2000 is left out on purpose: a
// PACS then falls back to one of these.
inline const char* kStorageSyntaxes[] = {
    UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax,
    UID_DeflatedExplicitVRLittleEndianTransferSyntax, UID_JPEGProcess14SV1TransferSyntax,
    UID_JPEGProcess14TransferSyntax, UID_JPEGProcess1TransferSyntax, UID_JPEGProcess2_4TransferSyntax,
    UID_JPEGLSLosslessTransferSyntax, UID_JPEGLSLossyTransferSyntax, UID_RLELosslessTransferSyntax,
    UID_BigEndianExplicitTransferSyntax,
};

}  // namespace evax::dicom_node
