#include <cstdlib>

#include "evax/dicom_node/storage_scp.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmnet/assoc.h>
#include <dcmtk/dcmnet/dcmtrans.h>
#include <dcmtk/dcmnet/dimse.h>
#include <dcmtk/dcmnet/dul.h>
#include <dcmtk/dcmnet/dulstruc.h>
#include <dcmtk/dcmtls/tlslayer.h>
#include <dcmtk/oflog/oflog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "connection_gate.h"
#include "evax/dicom_node/received_file.h"
#include "storage_syntaxes.h"

namespace evax::dicom_node {
namespace {

const char* kVerificationSyntaxes[] = {UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax};
const char* kStorageClasses[] = {UID_ComputedRadiographyImageStorage, UID_DigitalXRayImageStorageForPresentation,
                                       UID_DigitalXRayImageStorageForProcessing};
const char* kVerificationClass[] = {UID_VerificationSOPClass};

std::string trimmed(const char* text) {
  std::string out = text ? text : "";
  const auto first = out.find_first_not_of(' ');
  const auto last = out.find_last_not_of(' ');
  return first == std::string::npos ? "" : out.substr(first, last - first + 1);
}

std::uint16_t dimse_status(StoreStatus status) {
  switch (status) {
    case StoreStatus::success: return STATUS_Success;
    case StoreStatus::out_of_resources: return STATUS_STORE_Refused_OutOfResources;
    case StoreStatus::cannot_understand: return STATUS_STORE_Error_CannotUnderstand;
    case StoreStatus::processing_failure: return 0x0110;  // Processing failure
  }
  return 0x0110;
}

void remove_quietly(const std::string& path) {
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
}

std::string status_hex(std::uint16_t status) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%04X", status);
  return text;
}

// PS3.7 9.1.1 and PS3.4 B.2.3: the command's SOP class must be one this node stores and the
// abstract syntax of the presentation context it came on; otherwise 0x0122, whatever the
// dataset. (That the dataset's own SOP class matches the command's is checked once it is read.)
std::optional<Refusal> presentation_context_refusal(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                                                    const T_DIMSE_C_StoreRQ& request) {
  const std::string sop_class = trimmed(request.AffectedSOPClassUID);
  T_ASC_PresentationContext context;
  if (ASC_findAcceptedPresentationContext(assoc->params, pres_id, &context).bad())
    return Refusal{RefusalCode::sop_class_not_supported, "no accepted presentation context " + std::to_string(pres_id)};
  if (!stored_sop_class(sop_class))
    return Refusal{RefusalCode::sop_class_not_supported, "SOP class " + sop_class + " is not stored here (CR and DX only)"};
  const std::string abstract_syntax = trimmed(context.abstractSyntax);
  if (abstract_syntax != sop_class)
    return Refusal{RefusalCode::sop_class_not_supported,
                   "the C-STORE's SOP class " + sop_class + " differs from its presentation context's " + abstract_syntax};
  return std::nullopt;
}

}  // namespace

void configure_dcmtk_globals() {
  OFLog::configure(OFLogger::ERROR_LOG_LEVEL);
  dcmDisableGethostbyaddr.set(OFTrue);
  // Outgoing associations (the storage SCU) too: without TCP_NODELAY each C-STORE waits out
  // Nagle's 40 ms. DCMTK reads this variable when it connects; set once, before any thread.
  ::setenv("TCP_NODELAY", "1", 0);
}

struct StorageScp::Impl {
  config::DicomSettings settings;
  const PriorityRules priority;
  StoreHandler& handler;
  logging::Logger& log;
  logging::AuditLog* audit;
  T_ASC_Network* network = nullptr;
  std::unique_ptr<DcmTLSTransportLayer> tls;
  std::unique_ptr<ConnectionGate> gate;
  std::mutex handoff;                // one connection handed to DCMTK at a time (a global)
  std::vector<std::thread> sessions; // serve one association each at a time
  std::atomic<bool> stopping{false};
  std::atomic<int> active{0};
  std::atomic<std::uint64_t> accepted{0}, refused{0}, instances{0}, bytes{0};
  std::once_flag stopped;

  Impl(const config::DicomSettings& s, PriorityRules p, StoreHandler& h, logging::Logger& l, logging::AuditLog* a)
      : settings(s), priority(std::move(p)), handler(h), log(l), audit(a) {}

  void session_loop();
  void serve(T_ASC_Association* assoc);
  bool admit(T_ASC_Association* assoc, const std::string& calling, const std::string& peer);
  // False when the association had to be aborted.
  bool handle_store(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id, T_DIMSE_C_StoreRQ& request,
                    const storage::Provenance& from);
  void reject(T_ASC_Association* assoc, T_ASC_RejectParametersResult result, T_ASC_RejectParametersSource source,
              T_ASC_RejectParametersReason reason, const std::string& why, const std::string& calling, const std::string& peer);
};

// What the C-STORE callback needs to finish a store once the dataset is complete.
struct StoreContext {
  StoreHandler& handler;
  const PriorityRules& priority;
  std::atomic<std::uint64_t>& instances;
  std::atomic<std::uint64_t>& bytes;
  std::string temp_path;
  bool had_space;
  storage::Provenance from;
  std::optional<Refusal> refusal;  // decided from the command alone: the dataset is read and dropped
  std::string why;                 // for the log and the audit log when the answer is not success
  bool handled = false;            // the handler answered (and audited) the store
  std::string sop_instance_uid;    // from the dataset once read, for the audit log
  std::uint16_t answer = 0;        // the status the callback set
};

namespace {

// Answers one store whose dataset has fully arrived in ctx.temp_path.
void finish_store(StoreContext& ctx, const T_DIMSE_C_StoreRQ* request, T_DIMSE_C_StoreRSP* response) {
  if (ctx.refusal) {
    response->DimseStatus = refusal_status(ctx.refusal->code);
    ctx.why = ctx.refusal->why;
    return;
  }
  if (!ctx.had_space) {
    response->DimseStatus = STATUS_STORE_Refused_OutOfResources;
    ctx.why = "free space below the watermark";
    return;
  }
  if (response->DimseStatus != STATUS_Success) {  // DCMTK could not write the file (disk full)
    remove_quietly(ctx.temp_path);
    ctx.why = "the dataset could not be written (disk full?)";
    return;
  }
  // The dataset's own identity must be the one the C-STORE request announced.
  auto attributes = inspect_received_file(
      ctx.temp_path, {trimmed(request->AffectedSOPClassUID), trimmed(request->AffectedSOPInstanceUID), ""}, ctx.priority);
  if (!attributes) {
    remove_quietly(ctx.temp_path);
    response->DimseStatus = refusal_status(attributes.error().code);
    ctx.why = std::move(attributes.error().why);
    return;
  }
  ctx.sop_instance_uid = attributes->sop_instance_uid;
  std::error_code ignored;
  const auto size = std::filesystem::file_size(ctx.temp_path, ignored);
  const StoreStatus status = ctx.handler.handle({ctx.temp_path, *attributes, ctx.from});
  ctx.handled = true;
  response->DimseStatus = dimse_status(status);
  if (status == StoreStatus::success) {
    ctx.instances++;
    ctx.bytes += size;
  } else {
    ctx.why = "the store handler refused it";
  }
}

// DCMTK's callback, and the exception boundary of a store: whatever throws below (the handler,
// the parser, an allocation) becomes 0xA700, so that the sender keeps the image and retries,
// and the association and the node go on.
void store_callback(void* data, T_DIMSE_StoreProgress* progress, T_DIMSE_C_StoreRQ* request, char* /*file*/,
                    DcmDataset** /*dataset*/, T_DIMSE_C_StoreRSP* response, DcmDataset** /*detail*/) {
  if (progress->state != DIMSE_StoreEnd) return;
  auto& ctx = *static_cast<StoreContext*>(data);
  try {
    finish_store(ctx, request, response);
    ctx.answer = response->DimseStatus;
    return;
  } catch (const std::exception& e) {
    ctx.why = std::string("internal error: ") + e.what();
  } catch (...) {
    ctx.why = "internal error (unknown exception)";
  }
  ctx.handled = false;
  if (ctx.temp_path != NULL_DEVICE_NAME) remove_quietly(ctx.temp_path);
  response->DimseStatus = STATUS_STORE_Refused_OutOfResources;
  ctx.answer = response->DimseStatus;
}

}  // namespace

StorageScp::StorageScp(const config::DicomSettings& settings, StoreHandler& handler, logging::Logger& log,
                       logging::AuditLog* audit, PriorityRules priority)
    : impl_(std::make_unique<Impl>(settings, std::move(priority), handler, log, audit)) {
  Impl& s = *impl_;
  // Socket timeouts bound reads and writes inside a PDU (a peer stalled mid-PDU).
  dcmSocketReceiveTimeout.set(settings.dimse_timeout_s);
  dcmSocketSendTimeout.set(settings.dimse_timeout_s);

  // The gate owns the listening socket; DCMTK's network object is told it has an external
  // socket so that it does not open a listener of its own.
  s.gate = std::make_unique<ConnectionGate>(settings.port, settings.max_pending_associations,
                                            std::chrono::seconds(settings.acse_timeout_s), settings.tls.has_value(), log);
  {
    std::lock_guard lock(s.handoff);
    dcmExternalSocketHandle.set(s.gate->listen_socket());
    const OFCondition cond = ASC_initializeNetwork(NET_ACCEPTOR, settings.port, settings.acse_timeout_s, &s.network);
    dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
    if (cond.bad()) throw std::runtime_error(std::string("cannot set up DICOM networking: ") + cond.text());
  }

  if (settings.tls) {
    s.tls = std::make_unique<DcmTLSTransportLayer>(NET_ACCEPTOR, nullptr, OFTrue);
    auto check = [&](OFCondition c, const std::string& what) {
      if (c.bad()) throw std::runtime_error("TLS: " + what + ": " + c.text());
    };
    check(s.tls->setTLSProfile(TSP_Profile_BCP195), "profile");
    check(s.tls->activateCipherSuites(), "cipher suites");
    check(s.tls->setPrivateKeyFile(settings.tls->private_key.c_str(), DCF_Filetype_PEM), "private key " + settings.tls->private_key);
    check(s.tls->setCertificateFile(settings.tls->certificate.c_str(), DCF_Filetype_PEM), "certificate " + settings.tls->certificate);
    if (!s.tls->checkPrivateKeyMatchesCertificate()) throw std::runtime_error("TLS: the private key does not match the certificate");
    for (const auto& trusted : settings.tls->trusted_certificates)
      check(s.tls->addTrustedCertificateFile(trusted.c_str(), DCF_Filetype_PEM), "trusted certificate " + trusted);
    s.tls->setCertificateVerification(settings.tls->require_peer_certificate ? DCV_requireCertificate : DCV_ignoreCertificate);
    check(ASC_setTransportLayer(s.network, s.tls.get(), 0), "transport layer");
  }

  // Two more than the limit, so that there is always a thread free to refuse the next one.
  for (int i = 0; i < settings.max_associations + 2; ++i) s.sessions.emplace_back([&s] { s.session_loop(); });
  s.gate->start();
  log.info("scp", "listening", "DICOM listener started",
           {{"ae_title", settings.ae_title}, {"port", std::to_string(settings.port)}, {"tls", settings.tls ? "on" : "off"},
            {"max_associations", std::to_string(settings.max_associations)}});
}

StorageScp::~StorageScp() { stop(); }

void StorageScp::stop() {
  Impl& s = *impl_;
  std::call_once(s.stopped, [&s] {
    s.stopping = true;
    s.gate->stop();  // no new connections; wakes idle sessions
    for (auto& t : s.sessions) t.join();
    ASC_dropNetwork(&s.network);
    s.log.info("scp", "stopped", "DICOM listener stopped");
  });
}

StorageScp::Stats StorageScp::stats() const {
  const Impl& s = *impl_;
  return {s.accepted.load(), s.refused.load(), s.instances.load(), s.bytes.load(), s.active.load()};
}

void StorageScp::Impl::session_loop() {
  while (auto fd = gate->next_ready()) {
    T_ASC_Association* assoc = nullptr;
    OFCondition cond;
    {
      // DCMTK takes an already-connected socket through a process-wide setting; its request
      // is already buffered (the gate waited for it), so this hand-over is quick.
      std::lock_guard lock(handoff);
      dcmExternalSocketHandle.set(*fd);
      cond = ASC_receiveAssociation(network, &assoc, settings.max_pdu, nullptr, nullptr, tls ? OFTrue : OFFalse, DUL_BLOCK, 0);
      dcmExternalSocketHandle.set(DCMNET_INVALID_SOCKET);
    }
    if (cond.good()) {
      // The exception boundary of a session: the association ends, the node goes on.
      try {
        serve(assoc);
      } catch (const std::exception& e) {
        log.error("scp", "session-failed", std::string("association ended by an internal error: ") + e.what());
        ASC_abortAssociation(assoc);
      } catch (...) {
        log.error("scp", "session-failed", "association ended by an unknown internal error");
        ASC_abortAssociation(assoc);
      }
    } else {
      log.debug("scp", "association-request-failed", cond.text());
      if (assoc) ASC_dropAssociation(assoc);
    }
    if (assoc) ASC_destroyAssociation(&assoc);
  }
}

void StorageScp::Impl::reject(T_ASC_Association* assoc, T_ASC_RejectParametersResult result,
                              T_ASC_RejectParametersSource source, T_ASC_RejectParametersReason reason, const std::string& why,
                              const std::string& calling, const std::string& peer) {
  T_ASC_RejectParameters parameters{result, source, reason};
  ASC_rejectAssociation(assoc, &parameters);
  refused++;
  log.warn("scp", "association-refused", why, {{"calling_ae", calling}, {"peer", peer}, {"security", "true"}});
  if (audit) audit->record("association", calling + "@" + peer, "refused", {{"reason", why}});
}

bool StorageScp::Impl::admit(T_ASC_Association* assoc, const std::string& calling, const std::string& peer) {
  const std::string called = trimmed(assoc->params->DULparams.calledAPTitle);
  if (called != settings.ae_title) {
    reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_CALLEDAETITLENOTRECOGNIZED,
           "called AE title '" + called + "' is not this node's", calling, peer);
    return false;
  }
  if (!settings.allowed_peers.empty()) {
    bool allowed = false;
    for (const auto& p : settings.allowed_peers)
      allowed = allowed || ((p.ae_title.empty() || p.ae_title == calling) && (p.host.empty() || p.host == peer));
    if (!allowed) {
      reject(assoc, ASC_RESULT_REJECTEDPERMANENT, ASC_SOURCE_SERVICEUSER, ASC_REASON_SU_CALLINGAETITLENOTRECOGNIZED,
             "calling AE title and peer address are not on the allow-list", calling, peer);
      return false;
    }
  }
  if (active.fetch_add(1) >= settings.max_associations) {
    active--;
    reject(assoc, ASC_RESULT_REJECTEDTRANSIENT, ASC_SOURCE_SERVICEPROVIDER_PRESENTATION_RELATED,
           ASC_REASON_SP_PRES_LOCALLIMITEXCEEDED, "too many associations", calling, peer);
    return false;
  }
  return true;
}

void StorageScp::Impl::serve(T_ASC_Association* assoc) {
  const std::string calling = trimmed(assoc->params->DULparams.callingAPTitle);
  std::string peer = trimmed(assoc->params->DULparams.callingPresentationAddress);
  if (auto colon = peer.rfind(':'); colon != std::string::npos && peer.find(':') == colon) peer.resize(colon);
  if (!admit(assoc, calling, peer)) return;
  struct ActiveSlot {  // admit() took one; given back however the session ends
    std::atomic<int>& count;
    ~ActiveSlot() { count--; }
  } slot{active};

  ASC_acceptContextsWithPreferredTransferSyntaxes(assoc->params, kVerificationClass, 1, kVerificationSyntaxes, 2);
  ASC_acceptContextsWithPreferredTransferSyntaxes(assoc->params, kStorageClasses, 3, kStorageSyntaxes,
                                                  static_cast<int>(std::size(kStorageSyntaxes)));
  if (ASC_acknowledgeAssociation(assoc).bad()) return;
  accepted++;
  log.debug("scp", "association-accepted", "association accepted", {{"calling_ae", calling}, {"peer", peer}});
  if (audit) audit->record("association", calling + "@" + peer, "accepted");

  const storage::Provenance from{calling, peer};
  for (;;) {
    T_DIMSE_Message message;
    T_ASC_PresentationContextID pres_id = 0;
    const OFCondition cond = DIMSE_receiveCommand(assoc, DIMSE_NONBLOCKING, settings.dimse_timeout_s, &pres_id, &message, nullptr);
    if (cond == DUL_PEERREQUESTEDRELEASE) {
      ASC_acknowledgeRelease(assoc);
      break;
    }
    if (cond.bad()) {
      // Aborted by the peer, a DIMSE timeout, or garbage: end the association.
      if (cond != DUL_PEERABORTEDASSOCIATION) {
        log.info("scp", "association-aborted", cond.text(), {{"calling_ae", calling}, {"peer", peer}});
        ASC_abortAssociation(assoc);
      }
      break;
    }
    if (message.CommandField == DIMSE_C_ECHO_RQ) {
      DIMSE_sendEchoResponse(assoc, pres_id, &message.msg.CEchoRQ, STATUS_Success, nullptr);
    } else if (message.CommandField == DIMSE_C_STORE_RQ) {
      if (!handle_store(assoc, pres_id, message.msg.CStoreRQ, from)) break;
    } else {
      log.warn("scp", "unsupported-command", "only C-ECHO and C-STORE are served; aborting",
               {{"calling_ae", calling}, {"command", std::to_string(message.CommandField)}});
      ASC_abortAssociation(assoc);
      break;
    }
  }
  ASC_dropSCPAssociation(assoc);
}

bool StorageScp::Impl::handle_store(T_ASC_Association* assoc, T_ASC_PresentationContextID pres_id,
                                    T_DIMSE_C_StoreRQ& request, const storage::Provenance& from) {
  StoreContext ctx{handler, priority, instances, bytes, "", true, from};
  ctx.refusal = presentation_context_refusal(assoc, pres_id, request);
  if (!ctx.refusal) ctx.had_space = handler.has_space();
  // A refused dataset is still read off the wire (so the association stays in step), into nothing.
  const bool writes_file = !ctx.refusal && ctx.had_space;
  ctx.temp_path = writes_file ? handler.new_temp_path() : std::string(NULL_DEVICE_NAME);
  const std::string peer = from.calling_ae_title + "@" + from.peer_address;
  // `status`: the answer sent, or "none" when the association was ended instead.
  const auto audit_unhandled = [&](const std::string& status, const std::string& outcome, const std::string& why) {
    if (!audit) return;
    logging::Fields fields{{"status", status}, {"reason", why}, {"sop_class_uid", trimmed(request.AffectedSOPClassUID)}};
    fields.push_back({"sop_instance_uid", ctx.sop_instance_uid.empty() ? trimmed(request.AffectedSOPInstanceUID) : ctx.sop_instance_uid});
    audit->record("store", peer, outcome, fields);
  };
  const OFCondition cond = DIMSE_storeProvider(assoc, pres_id, &request, ctx.temp_path.c_str(), OFTrue, nullptr,
                                               store_callback, &ctx, DIMSE_NONBLOCKING, settings.dimse_timeout_s);
  if (cond.code() == DIMSEC_OUTOFRESOURCES && cond.module() == OFM_dcmnet) {
    // The disk filled up while writing; DCMTK has read the rest of the dataset, so the
    // association goes on after an "out of resources" answer.
    if (writes_file) remove_quietly(ctx.temp_path);
    T_DIMSE_C_StoreRSP response{};
    response.DimseStatus = STATUS_STORE_Refused_OutOfResources;
    response.MessageIDBeingRespondedTo = request.MessageID;
    response.DataSetType = DIMSE_DATASET_NULL;
    OFStandard::strlcpy(response.AffectedSOPClassUID, request.AffectedSOPClassUID, sizeof response.AffectedSOPClassUID);
    OFStandard::strlcpy(response.AffectedSOPInstanceUID, request.AffectedSOPInstanceUID, sizeof response.AffectedSOPInstanceUID);
    response.opts = O_STORE_AFFECTEDSOPCLASSUID | O_STORE_AFFECTEDSOPINSTANCEUID;
    log.warn("scp", "out-of-space", cond.text(), {{"calling_ae", from.calling_ae_title}, {"peer", from.peer_address}});
    audit_unhandled(status_hex(STATUS_STORE_Refused_OutOfResources), "out-of-space", cond.text());
    if (DIMSE_sendStoreResponse(assoc, pres_id, &request, &response, nullptr).good()) return true;
    ASC_abortAssociation(assoc);
    return false;
  }
  if (cond.bad()) {
    // The dataset never arrived whole (timeout, abort, malformed PDVs): nothing is kept, and
    // the association cannot go on in a known state.
    if (writes_file) remove_quietly(ctx.temp_path);
    log.warn("scp", "store-failed", cond.text(), {{"calling_ae", from.calling_ae_title}, {"peer", from.peer_address}});
    audit_unhandled("none", "incomplete", cond.text());
    ASC_abortAssociation(assoc);
    return false;
  }
  if (!ctx.why.empty())
    log.warn("scp", "store-refused", ctx.why, {{"calling_ae", from.calling_ae_title}, {"peer", from.peer_address}});
  // Stores the handler answered are audited there, with the outcome it knows; the rest here.
  if (!ctx.handled) audit_unhandled(status_hex(ctx.answer), "refused", ctx.why);
  return true;
}

}  // namespace evax::dicom_node
