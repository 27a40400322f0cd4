// The requestor side's TLS layer (BCP 195), shared by the storage SCU and the query/retrieve
// SCU. Internal to dicom_node.
#pragma once

#include <dcmtk/dcmtls/tlslayer.h>

#include <memory>
#include <string>

#include "evax/dicom_node/storage_scu.h"

namespace evax::dicom_node {

// A layer for `tls`, or nullptr with `error` saying why not.
std::unique_ptr<DcmTLSTransportLayer> make_requestor_tls(const PeerTls& tls, std::string& error);

}  // namespace evax::dicom_node
