// A finished study's results as the RIS reads them: an HL7 v2.5.1 ORU^R01 message and a FHIR R4
// DiagnosticReport with one Observation per finding. Built from plain values (the study's
// identifiers as received, each analysed image's findings with their operating points), so the
// builders are pure: the same input gives the same bytes. The message carries the patient's
// identifiers (the RIS files the result under them): it is written to the result store and
// sent, never logged. Stateless; thread-safe.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "evax/reporting/result_objects.h"

namespace evax::reporting {

// The patient and study attributes of a received file, as received (DICOM value formats: PN
// "Family^Given^Middle^Prefix^Suffix", DA "YYYYMMDD").
struct StudyIdentifiers {
  std::string patient_id;
  std::string issuer_of_patient_id;
  std::string patient_name;
  std::string patient_birth_date;
  std::string patient_sex;  // M, F, O or empty
  std::string study_instance_uid;
  std::string accession_number;
  std::string study_description;
};

// The identifiers of a received DICOM file, or why it cannot be read.
std::expected<StudyIdentifiers, std::string> read_study_identifiers(const std::string& path);

// One finding at study level: the highest probability among the study's analysed images (a
// study shows a finding when any of its images does), judged against the label's operating point.
struct StudyFinding {
  std::string label;
  std::string code_value, code_scheme, code_meaning;  // the SR's code for the label (SCT, DCM or 99EVAX)
  double probability = 0.0;
  double operating_point = 0.5;
  bool present = false;  // probability >= operating_point
  bool urgent = false;   // present, and the label is in the target's urgent_findings
};

struct StudyNotification {
  StudyIdentifiers study;
  AlgorithmIdentity algorithm;
  std::vector<StudyFinding> findings;  // in the model's head order
  int analysed_images = 0;
  int unanalysed_images = 0;  // skipped or failed: the report is then preliminary
  bool urgent = false;        // any finding urgent
  bool final_report() const { return unanalysed_images == 0; }
};

// Summarises the analysed images' findings (`images`, one list per image, each with its operating
// points) for a target whose urgent labels are `urgent_findings`.
StudyNotification summarise_study(const StudyIdentifiers& study, const AlgorithmIdentity& algorithm,
                                  const std::vector<std::vector<FindingResult>>& images, int unanalysed_images,
                                  const std::vector<std::string>& urgent_findings);

// The ends of an HL7 message (MSH-3..6).
struct Hl7Parties {
  std::string sending_application = "EVAX";
  std::string sending_facility;
  std::string receiving_application;
  std::string receiving_facility;
};

// The disclaimers every notification carries (AI-generated; DEMO MODEL for demo weights).
std::vector<std::string> notification_disclaimers(const AlgorithmIdentity& algorithm);

// `text` with HL7's delimiters and the escape character escaped (\F\ \S\ \T\ \R\ \E\), line
// breaks as \X0D\ / \X0A\ and other control characters dropped: safe in any field or component.
std::string hl7_escape(std::string_view text);

// The ORU^R01 message, segments ended by CR: MSH (control id `control_id`, time `timestamp`
// as YYYYMMDDHHMMSS), PID, ORC, OBR (priority S when urgent), NTE per disclaimer, an OBX with
// the Study Instance UID, then one NM OBX per finding (probability; abnormal flag N, A, or AA
// when urgent; reference range "<operating point"). Every field escaped.
std::string build_oru_r01(const StudyNotification& notification, const Hl7Parties& parties, std::string_view control_id,
                          std::string_view timestamp);

// A FHIR R4 transaction Bundle (JSON): one Observation per finding, then the DiagnosticReport
// that lists them, each with a conditional create (ifNoneExist on its identifier, derived from
// `report_id`) so a resend does not duplicate them. `timestamp` is an ISO 8601 instant.
std::string build_fhir_bundle(const StudyNotification& notification, std::string_view report_id, std::string_view timestamp);

}  // namespace evax::reporting
