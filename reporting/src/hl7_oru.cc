// The HL7 v2.5.1 ORU^R01 message of a study's results (unsolicited observation, one order).
// Segment by segment:
//   MSH  ^~\& delimiters, MSH-9 ORU^R01^ORU_R01, MSH-10 the control id, MSH-11 P, MSH-12 2.5.1
//   PID  PID-3 patient id (^^^issuer), PID-5 name (DICOM PN reordered to XPN), PID-7, PID-8
//   ORC  ORC-1 RE, ORC-2 placer order = accession number, ORC-3 filler order = StudyInstanceUID
//   OBR  the same order numbers, OBR-4 the analysis, OBR-5 "S" (stat) when urgent,
//        OBR-7 / OBR-22 the time, OBR-24 RAD, OBR-25 F (every image analysed) or P
//   NTE  one per disclaimer
//   OBX  ST 110180^Study Instance UID^DCM
//   OBX  NM per finding: OBX-3 its code, OBX-5 the probability, OBX-6 1^^UCUM, OBX-7 "<op",
//        OBX-8 N (absent), A (present) or AA (present and urgent), OBX-11 F or P
#include <cstdio>

#include "evax/reporting/study_notification.h"

namespace evax::reporting {
namespace {

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4f", value);
  return text;
}

// DICOM PN "Family^Given^Middle^Prefix^Suffix" (first component group) as HL7 XPN
// "Family^Given^Middle^Suffix^Prefix", each component escaped.
std::string person_name(const std::string& pn) {
  const std::string alphabetic = pn.substr(0, pn.find('='));
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto caret = alphabetic.find('^', start);
    parts.push_back(alphabetic.substr(start, caret == std::string::npos ? std::string::npos : caret - start));
    if (caret == std::string::npos) break;
    start = caret + 1;
  }
  parts.resize(5);
  std::string out = hl7_escape(parts[0]) + "^" + hl7_escape(parts[1]) + "^" + hl7_escape(parts[2]) + "^" +
                    hl7_escape(parts[4]) + "^" + hl7_escape(parts[3]);
  while (!out.empty() && out.back() == '^') out.pop_back();
  return out;
}

std::string sex(const std::string& dicom) { return dicom == "M" || dicom == "F" || dicom == "O" ? dicom : "U"; }

}  // namespace

std::string hl7_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    switch (c) {
      case '|': out += "\\F\\"; break;
      case '^': out += "\\S\\"; break;
      case '&': out += "\\T\\"; break;
      case '~': out += "\\R\\"; break;
      case '\\': out += "\\E\\"; break;
      case '\r': out += "\\X0D\\"; break;
      case '\n': out += "\\X0A\\"; break;
      default:
        if (c >= 0x20 && c != 0x7f) out += static_cast<char>(c);
    }
  }
  return out;
}

std::string build_oru_r01(const StudyNotification& n, const Hl7Parties& parties, std::string_view control_id,
                          std::string_view timestamp) {
  const auto& s = n.study;
  const std::string time = hl7_escape(timestamp);
  const std::string status = n.final_report() ? "F" : "P";
  const std::string placer = hl7_escape(s.accession_number);
  const std::string filler = hl7_escape(s.study_instance_uid) + "^EVAX";
  const std::string procedure = "EVAX-CXR^" + hl7_escape(s.study_description.empty() ? "Chest X-ray AI analysis"
                                                                                       : s.study_description) + "^99EVAX";
  std::string m;
  auto segment = [&m](const std::string& text) { m += text + "\r"; };
  segment("MSH|^~\\&|" + hl7_escape(parties.sending_application) + "|" + hl7_escape(parties.sending_facility) + "|" +
          hl7_escape(parties.receiving_application) + "|" + hl7_escape(parties.receiving_facility) + "|" + time +
          "||ORU^R01^ORU_R01|" + hl7_escape(control_id) + "|P|2.5.1");
  std::string patient_id = hl7_escape(s.patient_id);
  if (!s.issuer_of_patient_id.empty()) patient_id += "^^^" + hl7_escape(s.issuer_of_patient_id);
  segment("PID|1||" + patient_id + "||" + person_name(s.patient_name) + "||" + hl7_escape(s.patient_birth_date) + "|" +
          sex(s.patient_sex));
  segment("ORC|RE|" + placer + "|" + filler + "||CM");
  segment("OBR|1|" + placer + "|" + filler + "|" + procedure + "|" + (n.urgent ? "S" : "") + "||" + time +
          "|||||||||||||||" + time + "||RAD|" + status);
  int nte = 0;
  for (const auto& text : notification_disclaimers(n.algorithm))
    segment("NTE|" + std::to_string(++nte) + "|L|" + hl7_escape(text));
  int obx = 0;
  segment("OBX|" + std::to_string(++obx) + "|ST|110180^Study Instance UID^DCM||" + hl7_escape(s.study_instance_uid) +
          "||||||" + status + "|||" + time);
  for (const auto& f : n.findings) {
    const std::string flag = !f.present ? "N" : f.urgent ? "AA" : "A";
    ++obx;
    segment("OBX|" + std::to_string(obx) + "|NM|" + hl7_escape(f.code_value) + "^" + hl7_escape(f.code_meaning) + "^" +
            hl7_escape(f.code_scheme) + "|" + std::to_string(obx) + "|" + number(f.probability) + "|1^^UCUM|<" +
            number(f.operating_point) + "|" + flag + "|||" + status + "|||" + time);
  }
  return m;
}

}  // namespace evax::reporting
