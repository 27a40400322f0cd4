// The C-STORE transport: one association per batch through dicom_node's storage SCU.
#include <algorithm>

#include "evax/pipeline/object_transport.h"

namespace evax::pipeline {
namespace {

TransportOutcome outcome_of(dicom_node::SendOutcome outcome) {
  switch (outcome) {
    case dicom_node::SendOutcome::delivered: return TransportOutcome::sent;
    case dicom_node::SendOutcome::permanent: return TransportOutcome::permanent;
    case dicom_node::SendOutcome::retryable: break;
  }
  return TransportOutcome::retryable;
}

ObjectResult result_of(const dicom_node::SendResult& r) {
  return {outcome_of(r.outcome), r.dimse_status, r.detail, r.refused_sop_class, r.substitution, r.sent_sop_instance_uid};
}

class DicomTransport final : public ObjectTransport {
 public:
  DicomTransport(const dicom_node::ScuSettings& scu, const config::Destination& destination)
      : scu_(scu), peer_(peer_of(destination)) {}

  BatchResult send(const std::vector<storage::Delivery>& batch,
                   const std::function<void(std::size_t, const ObjectResult&)>& on_sent) override {
    std::vector<dicom_node::OutgoingFile> files;
    files.reserve(batch.size());
    for (const auto& d : batch) files.push_back({d.output.file_path, d.output.sop_class_uid, d.output.sop_instance_uid});
    const auto results = dicom_node::send_files(scu_, peer_, files, [&](std::size_t k, const dicom_node::SendResult& r) {
      if (on_sent) on_sent(k, result_of(r));
    });
    BatchResult out;
    for (const auto& r : results) out.objects.push_back(result_of(r));
    // No response at all for any file: the association was never made (or died at once).
    out.answered = !std::all_of(results.begin(), results.end(), [](const auto& r) {
      return r.outcome == dicom_node::SendOutcome::retryable && !r.dimse_status;
    });
    return out;
  }

  std::string address() const override { return peer_.ae_title + "@" + peer_.host + ":" + std::to_string(peer_.port); }

 private:
  const dicom_node::ScuSettings scu_;
  const dicom_node::Peer peer_;
};

}  // namespace

dicom_node::Peer peer_of(const config::Destination& destination) {
  dicom_node::Peer peer{destination.ae_title, destination.host, destination.port, std::nullopt};
  if (destination.tls)
    peer.tls = dicom_node::PeerTls{destination.tls->trusted_certificates, destination.tls->certificate,
                                   destination.tls->private_key, destination.tls->verify_peer};
  return peer;
}

std::unique_ptr<ObjectTransport> make_dicom_transport(const dicom_node::ScuSettings& scu,
                                                      const config::Destination& destination) {
  return std::make_unique<DicomTransport>(scu, destination);
}

}  // namespace evax::pipeline
