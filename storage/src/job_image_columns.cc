#include "job_image_columns.h"

#include <stdexcept>

namespace evax::storage {

JobImage job_image_from_row(JobImageRow row) {
  auto analysis = results::decode_columns(row.results);
  if (!analysis)
    throw std::runtime_error("job " + std::to_string(row.job_id) + ", instance " + std::to_string(row.instance_id) +
                             ": the stored results do not decode: " + analysis.error());
  return {row.job_id,
          {row.instance_id, std::move(row.sop_instance_uid), std::move(row.decision), std::move(row.reason_code),
           std::move(row.detail), std::move(*analysis)}};
}

void add_finding_probabilities(const std::string& probabilities_json, std::map<std::string, std::vector<double>>& by_finding) {
  const auto analysis = results::decode_columns({probabilities_json, ""});
  if (!analysis || !*analysis) return;
  for (const auto& finding : (*analysis)->findings) by_finding[finding.label].push_back(finding.probability);
}

}  // namespace evax::storage
