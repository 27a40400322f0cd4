// The FHIR R4 form of a study's results: a transaction Bundle of one Observation per finding and
// the DiagnosticReport listing them. References between them are the entries' urn:uuid fullUrls
// (the server resolves them; a sender POSTing the resources one by one rewrites them to the
// ids it is given). The patient and the study are referred to by identifier, not by id: the node
// does not know the server's ids.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "evax/reporting/study_notification.h"

namespace evax::reporting {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kIdentifierSystem = "urn:evax-node:notification";

// A stable name-based UUID (FNV-1a 64 twice) for an entry's fullUrl: the same report id gives
// the same bundle.
std::string entry_uuid(std::string_view key) {
  auto fnv = [](std::string_view text, std::uint64_t hash) {
    for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
    return hash;
  };
  const std::uint64_t high = fnv(key, 14695981039346656037ull), low = fnv(key, high ^ 0x9e3779b97f4a7c15ull);
  char text[40];
  std::snprintf(text, sizeof text, "%08x-%04x-8%03x-%04x-%012llx", static_cast<unsigned>(high >> 32),
                static_cast<unsigned>(high >> 16 & 0xffff), static_cast<unsigned>(high & 0xfff),
                static_cast<unsigned>(0x8000 | (low >> 48 & 0x3fff)), static_cast<unsigned long long>(low & 0xffffffffffffull));
  return std::string("urn:uuid:") + text;
}

std::string code_system(const std::string& scheme) {
  if (scheme == "SCT") return "http://snomed.info/sct";
  if (scheme == "DCM") return "http://dicom.nema.org/resources/ontology/DCM";
  return "urn:evax-node:findings";  // 99EVAX
}

// DICOM PN "Family^Given^Middle^Prefix^Suffix" (its alphabetic group) as one readable name,
// "Prefix Given Middle Family Suffix", for Reference.display.
std::string display_name(const std::string& pn) {
  std::vector<std::string> parts;
  const std::string alphabetic = pn.substr(0, pn.find('='));
  std::size_t start = 0;
  for (;;) {
    const auto caret = alphabetic.find('^', start);
    parts.push_back(alphabetic.substr(start, caret == std::string::npos ? std::string::npos : caret - start));
    if (caret == std::string::npos) break;
    start = caret + 1;
  }
  parts.resize(5);
  std::string out;
  for (const auto* part : {&parts[3], &parts[1], &parts[2], &parts[0], &parts[4]})
    if (!part->empty()) out += (out.empty() ? "" : " ") + *part;
  return out;
}

json subject(const StudyIdentifiers& s) {
  json identifier{{"value", s.patient_id.empty() ? "unknown" : s.patient_id}};
  if (!s.issuer_of_patient_id.empty()) identifier["assigner"] = {{"display", s.issuer_of_patient_id}};
  json out{{"identifier", identifier}};
  if (const std::string name = display_name(s.patient_name); !name.empty()) out["display"] = name;
  return out;
}

json imaging_study(const StudyIdentifiers& s) {
  return {{"type", "ImagingStudy"},
          {"identifier", {{"system", "urn:dicom:uid"}, {"value", "urn:oid:" + s.study_instance_uid}}}};
}

json interpretation(const StudyFinding& f) {
  json codes = json::array();
  const char* system = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
  codes.push_back({{"coding", {{{"system", system}, {"code", f.present ? "POS" : "NEG"},
                                {"display", f.present ? "Positive" : "Negative"}}}}});
  if (f.urgent) codes.push_back({{"coding", {{{"system", system}, {"code", "AA"}, {"display", "Critical abnormal"}}}}});
  return codes;
}

json entry(const std::string& full_url, const char* type, const std::string& identifier, json resource) {
  return {{"fullUrl", full_url},
          {"resource", std::move(resource)},
          {"request", {{"method", "POST"}, {"url", type},
                       {"ifNoneExist", std::string("identifier=") + kIdentifierSystem + "|" + identifier}}}};
}

}  // namespace

std::string build_fhir_bundle(const StudyNotification& n, std::string_view report_id, std::string_view timestamp) {
  const auto& s = n.study;
  const std::string status = n.final_report() ? "final" : "preliminary";
  const json category = json::array({{{"coding", {{{"system", "http://terminology.hl7.org/CodeSystem/observation-category"},
                                                   {"code", "imaging"}, {"display", "Imaging"}}}}}});
  json entries = json::array(), results = json::array(), conclusion_codes = json::array();
  std::string findings_text;
  for (const auto& f : n.findings) {
    const std::string id = std::string(report_id) + "-" + f.code_scheme + "-" + f.code_value;
    const std::string url = entry_uuid(id);
    const json code{{"coding", {{{"system", code_system(f.code_scheme)}, {"code", f.code_value}, {"display", f.code_meaning}}}},
                    {"text", f.label}};
    char probability[64];
    std::snprintf(probability, sizeof probability, "%.4f (operating point %.4f)", f.probability, f.operating_point);
    json observation{
        {"resourceType", "Observation"},
        {"identifier", {{{"system", kIdentifierSystem}, {"value", id}}}},
        {"status", status},
        {"category", category},
        {"code", code},
        {"subject", subject(s)},
        {"effectiveDateTime", timestamp},
        {"issued", timestamp},
        {"valueQuantity", {{"value", std::round(f.probability * 10000) / 10000},
                           {"unit", "probability"}, {"system", "http://unitsofmeasure.org"}, {"code", "1"}}},
        {"interpretation", interpretation(f)},
        {"note", {{{"text", std::string(f.present ? "Present" : "Absent") + ": probability " + probability}}}},
        {"derivedFrom", {imaging_study(s)}},
        {"device", {{"display", n.algorithm.model_name + " " + n.algorithm.model_task}}}};
    entries.push_back(entry(url, "Observation", id, std::move(observation)));
    results.push_back({{"reference", url}});
    if (f.present) {
      conclusion_codes.push_back(code);
      findings_text += (findings_text.empty() ? "" : ", ") + f.code_meaning + std::string(f.urgent ? " (urgent)" : "");
    }
  }
  std::string conclusion = findings_text.empty() ? "No finding at or above its operating point."
                                                 : "Findings at or above their operating points: " + findings_text + ".";
  for (const auto& text : notification_disclaimers(n.algorithm)) conclusion += " " + text;
  const std::string report_identifier(report_id);
  json report{{"resourceType", "DiagnosticReport"},
              {"identifier", {{{"system", kIdentifierSystem}, {"value", report_identifier}}}},
              {"status", status},
              {"category", {{{"coding", {{{"system", "http://terminology.hl7.org/CodeSystem/v2-0074"}, {"code", "RAD"},
                                          {"display", "Radiology"}}}}}}},
              {"code", {{"coding", {{{"system", "http://loinc.org"}, {"code", "18748-4"}, {"display", "Diagnostic imaging study"}}}},
                        {"text", "EVA-X chest X-ray AI analysis"}}},
              {"subject", subject(s)},
              {"effectiveDateTime", timestamp},
              {"issued", timestamp},
              {"imagingStudy", {imaging_study(s)}},
              {"result", results},
              {"conclusion", conclusion}};
  if (!s.accession_number.empty())
    report["basedOn"] = {{{"type", "ServiceRequest"},
                          {"identifier", {{"type", {{"coding", {{{"system", "http://terminology.hl7.org/CodeSystem/v2-0203"},
                                                                 {"code", "ACSN"}}}}}},
                                          {"value", s.accession_number}}}}};
  if (!conclusion_codes.empty()) report["conclusionCode"] = conclusion_codes;
  if (n.urgent) report["meta"] = {{"tag", {{{"system", "http://terminology.hl7.org/CodeSystem/v3-ActPriority"},
                                            {"code", "S"}, {"display", "stat"}}}}};
  entries.push_back(entry(entry_uuid(report_identifier), "DiagnosticReport", report_identifier, std::move(report)));
  return json{{"resourceType", "Bundle"}, {"type", "transaction"}, {"entry", entries}}.dump(2);
}

}  // namespace evax::reporting
