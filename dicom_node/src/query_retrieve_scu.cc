#include "evax/dicom_node/query_retrieve_scu.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/diutil.h>
#include <dcmtk/dcmnet/scu.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <set>

#include "dataset_attributes.h"
#include "evax/dicom_node/received_file.h"
#include "requestor_tls.h"

namespace evax::dicom_node {
namespace {

std::string hex_status(int status) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%04X", static_cast<unsigned>(status));
  return text;
}

std::string upper(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string text_of(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  item.findAndGetOFStringArray(tag, value);
  return value.c_str();
}

// DcmSCU's response lists own their entries; this deletes them however the call ends.
template <class Response>
struct ResponseList {
  OFList<Response*> list;
  ~ResponseList() {
    for (Response* r : list) delete r;
  }
};

// The instances a C-GET brings, checked and handed to the node's StoreHandler.
class Scu : public DcmSCU {
 public:
  using DcmSCU::useSecureConnection;
  StoreHandler* handler = nullptr;

 protected:
  OFCondition handleSTORERequest(const T_ASC_PresentationContextID, DcmDataset* incoming, OFBool& continue_session,
                                 Uint16& status) override {
    std::unique_ptr<DcmDataset> dataset(incoming);  // ours to delete (DcmSCU's contract)
    continue_session = OFTrue;
    status = store(*dataset);
    return EC_Normal;
  }

 private:
  Uint16 store(DcmDataset& dataset) {
    if (!handler) return STATUS_STORE_Refused_SOPClassNotSupported;
    if (!handler->has_space()) return STATUS_STORE_Refused_OutOfResources;
    const E_TransferSyntax xfer = dataset.getOriginalXfer();
    const std::string path = handler->new_temp_path();
    std::error_code ignored;
    DcmFileFormat file(&dataset);
    if (file.saveFile(path.c_str(), xfer == EXS_Unknown ? EXS_LittleEndianExplicit : xfer).bad()) {
      std::filesystem::remove(path, ignored);
      return STATUS_STORE_Refused_OutOfResources;
    }
    // The same inspection as the storage SCP's and STOW-RS's (nesting, parse, UIDs, pixel
    // data, SOP class, transfer syntax), and it must be the study that was asked for.
    // RequestedProcedurePriority is read; the configured priority rules are the SCP's (C-MOVE).
    auto attributes = inspect_received_file(path, {"", "", study_instance_uid});
    if (!attributes) {
      std::filesystem::remove(path, ignored);
      return refusal_status(attributes.error().code);
    }
    storage::Provenance from{peer_ae, peer_host};
    switch (handler->handle({path, *attributes, from})) {
      case StoreStatus::success: return STATUS_Success;
      case StoreStatus::out_of_resources: return STATUS_STORE_Refused_OutOfResources;
      case StoreStatus::cannot_understand: return STATUS_STORE_Error_CannotUnderstand;
      case StoreStatus::processing_failure: return 0x0110;
    }
    return 0x0110;
  }

 public:
  std::string peer_ae, peer_host;
  std::string study_instance_uid;  // the study the C-GET asked for
};

const OFList<OFString>& plain_syntaxes() {
  static const OFList<OFString> syntaxes{UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax};
  return syntaxes;
}

// Sets up and negotiates the association; "" when it is up, else why not.
std::string connect(Scu& scu, std::unique_ptr<DcmTLSTransportLayer>& tls, const ScuSettings& settings, const Peer& peer) {
  scu.setAETitle(settings.calling_ae_title.c_str());
  scu.setPeerAETitle(peer.ae_title.c_str());
  scu.setPeerHostName(peer.host.c_str());
  scu.setPeerPort(static_cast<Uint16>(peer.port));
  scu.setMaxReceivePDULength(static_cast<Uint32>(settings.max_pdu));
  scu.setConnectionTimeout(settings.connect_timeout_s);
  scu.setACSETimeout(static_cast<Uint32>(settings.connect_timeout_s));
  scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
  scu.setDIMSETimeout(static_cast<Uint32>(settings.dimse_timeout_s));
  scu.peer_ae = peer.ae_title;
  scu.peer_host = peer.host;
  OFCondition status = scu.initNetwork();
  if (status.bad()) return std::string("cannot set up the network: ") + status.text();
  if (peer.tls) {
    std::string error;
    tls = make_requestor_tls(*peer.tls, error);
    if (!tls) return "TLS setup failed: " + error;
    status = scu.useSecureConnection(tls.get());
    if (status.bad()) return std::string("TLS setup failed: ") + status.text();
  }
  status = scu.negotiateAssociation();
  if (status == DUL_ASSOCIATIONREJECTED) return "association rejected by " + peer.ae_title;
  if (status.bad()) return "cannot reach " + peer.ae_title + " at " + peer.host + ":" + std::to_string(peer.port) + ": " + status.text();
  return "";
}

void end(Scu& scu, bool clean) {
  if (!scu.isConnected()) return;
  if (clean) scu.releaseAssociation();
  else scu.abortAssociation();
}

DcmDataset study_keys(const std::string& study_instance_uid) {
  DcmDataset keys;
  keys.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  keys.putAndInsertString(DCM_StudyInstanceUID, study_instance_uid.c_str());
  return keys;
}

RetrieveOutcome outcome_of(const OFCondition& sent, OFList<RetrieveResponse*>& responses, const std::string& verb) {
  RetrieveOutcome out;
  if (sent.bad() && responses.empty()) {
    out.detail = verb + " failed: " + sent.text();
    return out;
  }
  if (responses.empty()) {
    out.detail = verb + ": the PACS sent no response";
    return out;
  }
  const RetrieveResponse& last = *responses.back();
  out.completed = last.m_numberOfCompletedSubops;
  out.failed = last.m_numberOfFailedSubops;
  out.warning = last.m_numberOfWarningSubops;
  if (last.m_status == STATUS_Success) {
    out.ok = sent.good();
    if (!out.ok) out.detail = verb + " ended early: " + std::string(sent.text());
  } else if ((last.m_status & 0xF000) == 0xB000) {
    out.ok = sent.good();
    out.detail = verb + " answered " + hex_status(last.m_status) + " (" + std::to_string(out.failed) + " sub-operations failed)";
  } else {
    out.detail = verb + " answered " + hex_status(last.m_status);
    if (last.m_status == 0xA801) out.detail += " (move destination unknown: the PACS does not know this node's AE title)";
    else if ((last.m_status & 0xFF00) == 0xA700) out.detail += " (the PACS is out of resources)";
    else if (last.m_status == 0xA900 || (last.m_status & 0xF000) == 0xC000) out.detail += " (the PACS refused the request)";
  }
  return out;
}

}  // namespace

std::expected<std::vector<FoundStudy>, std::string> find_studies(const ScuSettings& settings, const Peer& peer,
                                                                 const StudyQuery& query) {
  std::unique_ptr<DcmTLSTransportLayer> tls;  // declared first: outlives the SCU
  Scu scu;
  scu.addPresentationContext(UID_FINDStudyRootQueryRetrieveInformationModel, plain_syntaxes());
  if (auto why = connect(scu, tls, settings, peer); !why.empty()) return std::unexpected(why);
  const T_ASC_PresentationContextID context = scu.findPresentationContextID(UID_FINDStudyRootQueryRetrieveInformationModel, "");
  if (context == 0) {
    end(scu, true);
    return std::unexpected(peer.ae_title + " does not accept Study Root C-FIND");
  }
  DcmDataset keys;
  keys.putAndInsertString(DCM_QueryRetrieveLevel, "STUDY");
  keys.putAndInsertString(DCM_StudyInstanceUID, query.study_instance_uid.c_str());
  keys.putAndInsertString(DCM_AccessionNumber, query.accession_number.c_str());
  std::string modalities;
  for (const auto& m : query.modalities) modalities += (modalities.empty() ? "" : "\\") + m;
  keys.putAndInsertString(DCM_ModalitiesInStudy, modalities.c_str());
  keys.putAndInsertString(DCM_BodyPartExamined, query.body_part.c_str());
  std::string dates;
  if (!query.date_from.empty() || !query.date_to.empty()) dates = query.date_from + "-" + query.date_to;
  keys.putAndInsertString(DCM_StudyDate, dates.c_str());
  ResponseList<QRResponse> responses;
  const OFCondition sent = scu.sendFINDRequest(context, &keys, &responses.list);
  if (sent.bad()) {
    end(scu, false);
    return std::unexpected(std::string("C-FIND failed: ") + sent.text());
  }
  end(scu, true);
  if (responses.list.empty()) return std::unexpected("C-FIND: the PACS sent no response");
  const Uint16 final_status = responses.list.back()->m_status;
  if (final_status != STATUS_Success) return std::unexpected("C-FIND answered " + hex_status(final_status));

  std::vector<FoundStudy> found;
  std::set<std::string> seen;
  for (QRResponse* r : responses.list) {
    if (!r->m_dataset || !DICOM_PENDING_STATUS(r->m_status)) continue;
    FoundStudy s{text_of(*r->m_dataset, DCM_StudyInstanceUID), text_of(*r->m_dataset, DCM_AccessionNumber),
                 text_of(*r->m_dataset, DCM_StudyDate), text_of(*r->m_dataset, DCM_ModalitiesInStudy),
                 text_of(*r->m_dataset, DCM_BodyPartExamined)};
    if (s.study_instance_uid.empty() || !seen.insert(s.study_instance_uid).second) continue;
    if (!query.body_part.empty() && !s.body_part.empty() && upper(s.body_part) != upper(query.body_part)) continue;
    found.push_back(std::move(s));
  }
  return found;
}

RetrieveOutcome move_study(const ScuSettings& settings, const Peer& peer, const std::string& study_instance_uid,
                           const std::string& destination_ae) {
  std::unique_ptr<DcmTLSTransportLayer> tls;
  Scu scu;
  scu.addPresentationContext(UID_MOVEStudyRootQueryRetrieveInformationModel, plain_syntaxes());
  if (auto why = connect(scu, tls, settings, peer); !why.empty()) return {false, 0, 0, 0, why};
  const T_ASC_PresentationContextID context = scu.findPresentationContextID(UID_MOVEStudyRootQueryRetrieveInformationModel, "");
  if (context == 0) {
    end(scu, true);
    return {false, 0, 0, 0, peer.ae_title + " does not accept Study Root C-MOVE"};
  }
  DcmDataset keys = study_keys(study_instance_uid);
  ResponseList<RetrieveResponse> responses;
  const OFCondition sent = scu.sendMOVERequest(context, destination_ae.c_str(), &keys, &responses.list);
  end(scu, sent.good());
  return outcome_of(sent, responses.list, "C-MOVE");
}

RetrieveOutcome get_study(const ScuSettings& settings, const Peer& peer, const std::string& study_instance_uid,
                          StoreHandler& handler) {
  std::unique_ptr<DcmTLSTransportLayer> tls;
  Scu scu;
  scu.handler = &handler;
  scu.study_instance_uid = study_instance_uid;
  scu.addPresentationContext(UID_GETStudyRootQueryRetrieveInformationModel, plain_syntaxes());
  // The classes the node analyses, offered in the SCP role: the PACS sends them back on this
  // association (PS3.4 C.4.3). Others are refused by the PACS's sub-operations (counted failed).
  for (const char* sop_class : {UID_ComputedRadiographyImageStorage, UID_DigitalXRayImageStorageForPresentation,
                                UID_DigitalXRayImageStorageForProcessing})
    scu.addPresentationContext(sop_class, plain_syntaxes(), ASC_SC_ROLE_SCP);
  if (auto why = connect(scu, tls, settings, peer); !why.empty()) return {false, 0, 0, 0, why};
  const T_ASC_PresentationContextID context = scu.findPresentationContextID(UID_GETStudyRootQueryRetrieveInformationModel, "");
  if (context == 0) {
    end(scu, true);
    return {false, 0, 0, 0, peer.ae_title + " does not accept Study Root C-GET"};
  }
  DcmDataset keys = study_keys(study_instance_uid);
  ResponseList<RetrieveResponse> responses;
  const OFCondition sent = scu.sendCGETRequest(context, &keys, &responses.list);
  end(scu, sent.good());
  return outcome_of(sent, responses.list, "C-GET");
}

}  // namespace evax::dicom_node
