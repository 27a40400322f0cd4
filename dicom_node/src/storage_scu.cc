#include "evax/dicom_node/storage_scu.h"

#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/dul.h>
#include <dcmtk/dcmnet/scu.h>
#include <dcmtk/dcmtls/tlslayer.h>

#include <memory>
#include <set>

#include "requestor_tls.h"
#include "sop_class_alternatives.h"

namespace evax::dicom_node {
namespace {

std::string hex_status(int status) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%04X", static_cast<unsigned>(status));
  return text;
}

// Every file gets the same retryable result: nothing reached the peer.
std::vector<SendResult> all_retryable(std::size_t count, const std::string& detail) {
  return std::vector<SendResult>(count, SendResult{SendOutcome::retryable, std::nullopt, detail});
}

// A requestor-side TLS layer, or why it cannot be made.
std::unique_ptr<DcmTLSTransportLayer> make_tls(const PeerTls& tls, std::string& error) {
  auto layer = std::make_unique<DcmTLSTransportLayer>(NET_REQUESTOR, nullptr, OFTrue);
  auto ok = [&](const OFCondition& c, const std::string& what) {
    if (c.good()) return true;
    error = what + ": " + c.text();
    return false;
  };
  if (!ok(layer->setTLSProfile(TSP_Profile_BCP195), "TLS profile") || !ok(layer->activateCipherSuites(), "cipher suites"))
    return nullptr;
  if (!tls.certificate.empty()) {
    if (!ok(layer->setPrivateKeyFile(tls.private_key.c_str(), DCF_Filetype_PEM), "private key " + tls.private_key) ||
        !ok(layer->setCertificateFile(tls.certificate.c_str(), DCF_Filetype_PEM), "certificate " + tls.certificate))
      return nullptr;
    if (!layer->checkPrivateKeyMatchesCertificate()) {
      error = "the private key does not match the certificate";
      return nullptr;
    }
  }
  for (const auto& trusted : tls.trusted_certificates)
    if (!ok(layer->addTrustedCertificateFile(trusted.c_str(), DCF_Filetype_PEM), "trusted certificate " + trusted)) return nullptr;
  layer->setCertificateVerification(tls.verify_peer ? DCV_requireCertificate : DCV_ignoreCertificate);
  return layer;
}

// The result for a file whose SOP class the peer refused at negotiation (`why_no_alternative`:
// why the alternative form was not sent, if there is one).
SendResult refused(const OutgoingFile& f, const std::string& why_no_alternative) {
  SendResult r{SendOutcome::permanent, std::nullopt,
               "the destination refused SOP class " + sop_class_name(f.sop_class_uid) + " at association negotiation"};
  if (!why_no_alternative.empty()) r.detail += "; no alternative sent: " + why_no_alternative;
  r.refused_sop_class = true;
  return r;
}

// DcmSCU keeps the TLS hook for its subclasses; the layer must be set after initNetwork().
class Scu : public DcmSCU {
 public:
  using DcmSCU::useSecureConnection;
};

}  // namespace

std::unique_ptr<DcmTLSTransportLayer> make_requestor_tls(const PeerTls& tls, std::string& error) { return make_tls(tls, error); }

std::string check_peer_tls(const PeerTls& tls) {
  std::string error;
  return make_tls(tls, error) ? "" : error;
}

SendOutcome classify_store_status(int status) {
  // Success, and the warnings "coercion of data elements" (B000), "elements discarded"
  // (B007) and "data set does not match SOP class" (B006): the peer kept the object.
  if (status == 0x0000 || (status & 0xF000) == 0xB000) return SendOutcome::delivered;
  if ((status & 0xFF00) == 0xA700) return SendOutcome::retryable;  // out of resources: later may work
  if ((status & 0xFF00) == 0xA900 || (status & 0xF000) == 0xC000) return SendOutcome::permanent;
  // 0x0122 SOP class not supported, 0x0124 not authorized: the same object will fail again.
  if (status == 0x0122 || status == 0x0124) return SendOutcome::permanent;
  return SendOutcome::retryable;  // 0x0110 processing failure, 0x0211 and anything unknown
}

std::vector<SendResult> send_files(const ScuSettings& settings, const Peer& peer, const std::vector<OutgoingFile>& files,
                                   const std::function<void(std::size_t, const SendResult&)>& on_delivered) {
  if (files.empty()) return {};
  std::unique_ptr<DcmTLSTransportLayer> tls;  // declared first: outlives the SCU and its network
  Scu scu;
  scu.setAETitle(settings.calling_ae_title.c_str());
  scu.setPeerAETitle(peer.ae_title.c_str());
  scu.setPeerHostName(peer.host.c_str());
  scu.setPeerPort(static_cast<Uint16>(peer.port));
  scu.setMaxReceivePDULength(static_cast<Uint32>(settings.max_pdu));
  scu.setConnectionTimeout(settings.connect_timeout_s);
  scu.setACSETimeout(static_cast<Uint32>(settings.connect_timeout_s));
  scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  scu.setDIMSETimeout(static_cast<Uint32>(settings.dimse_timeout_s));
  scu.setVerbosePCMode(OFTrue);
  const OFList<OFString> transfer_syntaxes{UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax};
  // Each file's SOP class, and the alternative's for a peer that refuses it. Verification too:
  // a peer refusing every class of the batch then still accepts the association, and each file
  // gets a clear "refused" instead of a retried association rejection.
  scu.addPresentationContext(UID_VerificationSOPClass, transfer_syntaxes);
  std::set<std::string> classes;
  for (const auto& f : files) {
    if (classes.insert(f.sop_class_uid).second) scu.addPresentationContext(f.sop_class_uid.c_str(), transfer_syntaxes);
    const auto alternative = alternative_sop_class(f.sop_class_uid);
    if (alternative && classes.insert(*alternative).second) scu.addPresentationContext(alternative->c_str(), transfer_syntaxes);
  }

  OFCondition status = scu.initNetwork();
  if (status.bad()) return all_retryable(files.size(), std::string("cannot set up the network: ") + status.text());
  if (peer.tls) {
    std::string error;
    tls = make_tls(*peer.tls, error);
    if (!tls) return all_retryable(files.size(), "TLS setup failed: " + error);
    status = scu.useSecureConnection(tls.get());
    if (status.bad()) return all_retryable(files.size(), std::string("TLS setup failed: ") + status.text());
  }
  status = scu.negotiateAssociation();
  if (status == NET_EC_NoAcceptablePresentationContexts) {
    // The peer accepts the association but none of the SOP classes (nor alternatives).
    if (scu.isConnected()) scu.abortAssociation();
    std::vector<SendResult> results;
    for (const auto& f : files)
      results.push_back(refused(f, alternative_sop_class(f.sop_class_uid) ? "the destination refused it too" : ""));
    return results;
  }
  if (status.bad()) {
    std::string detail = std::string("association failed: ") + status.text();
    if (status == DUL_ASSOCIATIONREJECTED) detail = "association rejected by the peer";
    return all_retryable(files.size(), detail);
  }

  std::vector<SendResult> results;
  results.reserve(files.size());
  bool connection_lost = false;
  for (const auto& f : files) {
    if (connection_lost) {
      results.push_back({SendOutcome::retryable, std::nullopt, "not sent: the association ended early"});
      continue;
    }
    T_ASC_PresentationContextID context = scu.findPresentationContextID(f.sop_class_uid.c_str(), "");
    std::unique_ptr<DcmFileFormat> alternative_file;
    SendResult result;  // with the substitution, if any
    if (context == 0) {
      const auto alternative = alternative_sop_class(f.sop_class_uid);
      if (!alternative) {
        results.push_back(refused(f, ""));
        continue;
      }
      context = scu.findPresentationContextID(alternative->c_str(), "");
      if (context == 0) {
        results.push_back(refused(f, "the destination refused " + sop_class_name(*alternative) + " too"));
        continue;
      }
      auto loaded = load_as_alternative(f.path, *alternative);
      if (auto* why = std::get_if<std::string>(&loaded)) {
        results.push_back(refused(f, "cannot be sent as " + sop_class_name(*alternative) + ": " + *why));
        continue;
      }
      alternative_file = std::move(std::get<std::unique_ptr<DcmFileFormat>>(loaded));
      result.sent_sop_class_uid = *alternative;
      result.sent_sop_instance_uid = alternative_instance_uid(f.sop_instance_uid, *alternative);
      result.substitution = "sent as " + sop_class_name(*alternative) + ", SOP Instance UID " + result.sent_sop_instance_uid +
                             ": the destination refused " + sop_class_name(f.sop_class_uid) + " at association negotiation";
    }
    Uint16 response = 0;
    status = alternative_file ? scu.sendSTORERequest(context, "", alternative_file->getDataset(), response)
                              : scu.sendSTORERequest(context, f.path.c_str(), nullptr, response);
    if (status.bad()) {
      // The network failed or timed out: the peer may or may not have kept it; sending the
      // same SOP Instance UID again is safe.
      connection_lost = true;
      results.push_back({SendOutcome::retryable, std::nullopt, std::string("C-STORE failed: ") + status.text()});
      continue;
    }
    const SendOutcome outcome = classify_store_status(response);
    result.outcome = outcome;
    result.dimse_status = static_cast<int>(response);
    result.detail = outcome == SendOutcome::delivered ? "" : "C-STORE answered " + hex_status(response);
    results.push_back(std::move(result));
    if (outcome == SendOutcome::delivered && on_delivered) on_delivered(results.size() - 1, results.back());
  }
  if (connection_lost) scu.abortAssociation();
  else scu.releaseAssociation();
  return results;
}

}  // namespace evax::dicom_node
