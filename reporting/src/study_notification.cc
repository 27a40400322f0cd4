// The study-level summary both notification messages are built from, and the identifiers read
// from a received file.
#include "evax/reporting/study_notification.h"

#include <dcmtk/dcmdata/dcdeftag.h>

#include <algorithm>

#include "dicom_file.h"
#include "finding_codes.h"

namespace evax::reporting {

std::expected<StudyIdentifiers, std::string> read_study_identifiers(const std::string& path) {
  auto file = load_source(path);
  if (!file) return std::unexpected(file.error());
  DcmItem& data = *(*file)->getDataset();
  StudyIdentifiers ids;
  ids.patient_id = element_string(data, DCM_PatientID);
  ids.issuer_of_patient_id = element_string(data, DCM_IssuerOfPatientID);
  ids.patient_name = element_string(data, DCM_PatientName);
  ids.patient_birth_date = element_string(data, DCM_PatientBirthDate);
  ids.patient_sex = element_string(data, DCM_PatientSex);
  ids.study_instance_uid = element_string(data, DCM_StudyInstanceUID);
  ids.accession_number = element_string(data, DCM_AccessionNumber);
  ids.study_description = element_string(data, DCM_StudyDescription);
  if (ids.study_instance_uid.empty()) return std::unexpected(std::string("the file has no StudyInstanceUID"));
  return ids;
}

StudyNotification summarise_study(const StudyIdentifiers& study, const AlgorithmIdentity& algorithm,
                                  const std::vector<std::vector<FindingResult>>& images, int unanalysed_images,
                                  const std::vector<std::string>& urgent_findings) {
  StudyNotification out{study, algorithm, {}, static_cast<int>(images.size()), unanalysed_images, false};
  for (const auto& image : images) {
    for (const auto& finding : image) {
      auto it = std::find_if(out.findings.begin(), out.findings.end(),
                             [&](const StudyFinding& f) { return f.label == finding.label; });
      if (it == out.findings.end()) {
        const auto codes = finding_codes(finding.label);
        out.findings.push_back({finding.label, codes.finding.value, codes.finding.scheme, codes.finding.meaning,
                                finding.probability, finding.operating_point});
        it = std::prev(out.findings.end());
      }
      it->probability = std::max(it->probability, finding.probability);
    }
  }
  for (auto& f : out.findings) {
    f.present = f.probability >= f.operating_point;
    f.urgent = f.present && std::find(urgent_findings.begin(), urgent_findings.end(), f.label) != urgent_findings.end();
    out.urgent = out.urgent || f.urgent;
  }
  return out;
}

std::vector<std::string> notification_disclaimers(const AlgorithmIdentity& algorithm) {
  std::vector<std::string> out;
  if (algorithm.demo) out.push_back("DEMO MODEL - UNTRAINED WEIGHTS: results carry no clinical meaning.");
  out.push_back("AI-GENERATED - NOT FOR DIAGNOSTIC USE. Findings of " + model_description(algorithm) +
                ", probabilities with operating points; not verified by a physician.");
  return out;
}

}  // namespace evax::reporting
