// The node as a Query/Retrieve SCU (DCMTK's DcmSCU) against a PACS: C-FIND at STUDY level
// (Study Root), then C-MOVE of a study to the node's own AE title (the PACS opens its own
// association to the node's listener, so the instances arrive as any push does) or C-GET (the
// instances arrive on this association and go to the StoreHandler the listener uses).
// Stateless; call from any thread (each call has its own association). Each call is bounded
// by the settings' timeouts.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "evax/dicom_node/storage_scu.h"
#include "evax/dicom_node/store_handler.h"

namespace evax::dicom_node {

// STUDY-level matching keys; empty ones are not matched on. Dates are YYYYMMDD.
struct StudyQuery {
  std::string study_instance_uid;
  std::string accession_number;
  std::vector<std::string> modalities;  // ModalitiesInStudy: any of them
  std::string body_part;                // BodyPartExamined, where the PACS answers it (see find_studies)
  std::string date_from, date_to;       // StudyDate range, either end may be open
};

struct FoundStudy {
  std::string study_instance_uid;
  std::string accession_number;
  std::string study_date;
  std::string modalities;  // ModalitiesInStudy as answered, e.g. "CR\DX"
  std::string body_part;   // "" when the PACS did not answer it
};

// The matching studies, in the order the PACS answered them, at most one per Study Instance
// UID. BodyPartExamined is not a STUDY-level key of the standard: it is sent, and a study whose
// answer carries another body part is dropped here; one whose answer leaves it empty is kept
// (the intake rules judge its images once they arrive). An error (cannot connect, refused, a
// failed C-FIND) is a readable sentence.
std::expected<std::vector<FoundStudy>, std::string> find_studies(const ScuSettings& settings, const Peer& peer,
                                                                 const StudyQuery& query);

struct RetrieveOutcome {
  bool ok = false;           // the PACS ended the retrieval with success or warning
  int completed = 0, failed = 0, warning = 0;  // sub-operations, from the final response
  std::string detail;        // why not ok, or the warning
};

// C-MOVE of one study to `destination_ae` (the node's own AE title).
RetrieveOutcome move_study(const ScuSettings& settings, const Peer& peer, const std::string& study_instance_uid,
                           const std::string& destination_ae);

// C-GET of one study: each instance is written to a file `handler` names, checked as the
// listener checks what it receives (parsed, its attributes read, its UIDs matched against the
// C-STORE request) and handed to `handler`, whose answer is the C-STORE status.
RetrieveOutcome get_study(const ScuSettings& settings, const Peer& peer, const std::string& study_instance_uid,
                          StoreHandler& handler);

}  // namespace evax::dicom_node
