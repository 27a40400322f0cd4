#include "evax/dicom_node/intake_rules.h"

#include <algorithm>
#include <cctype>

namespace evax::dicom_node {
namespace {

std::string upper_trimmed(std::string text) {
  const auto first = text.find_first_not_of(' ');
  const auto last = text.find_last_not_of(' ');
  text = first == std::string::npos ? "" : text.substr(first, last - first + 1);
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

IntakeDecision skip(std::string code, std::string detail) { return {false, std::move(code), std::move(detail)}; }

}  // namespace

IntakeDecision decide_intake(const storage::InstanceAttributes& image, const IntakeSettings& settings) {
  const std::string modality = upper_trimmed(image.modality);
  if (modality != "CR" && modality != "DX") return skip("not-cr-dx", "Modality is '" + image.modality + "'");
  if (upper_trimmed(image.manufacturer) == upper_trimmed(settings.own_manufacturer))
    return skip("own-output", "made by this node");
  if (image.sop_class_uid == kDxForProcessing || upper_trimmed(image.presentation_intent) == "FOR PROCESSING")
    return skip("for-processing", "a For Processing image (raw detector data)");

  const std::string body_part = upper_trimmed(image.body_part_examined);
  if (!(body_part == "CHEST" || (body_part.empty() && settings.accept_empty_body_part)))
    return skip("not-chest", body_part.empty() ? "BodyPartExamined is empty" : "BodyPartExamined is '" + image.body_part_examined + "'");

  const std::string view = upper_trimmed(image.view_position);
  if (view == "PA" || view == "AP") return {true, "", ""};
  if (view == "LL" || view == "RL" || view == "LATERAL" || view == "LAT")
    return skip("lateral-view", "ViewPosition is '" + image.view_position + "'");
  if (view == "LLD" || view == "RLD" || view == "LD" || view == "RD" || view == "DECUBITUS")
    return skip("decubitus-view", "ViewPosition is '" + image.view_position + "'");

  // ViewCodeSequence (SNOMED CT): the view when ViewPosition is empty or unusual.
  const std::string& code = image.view_code;
  if (code == "399348003" || code == "272479007") return {true, "", ""};  // antero-posterior, postero-anterior
  if (code == "399173006" || code == "399198007") return skip("lateral-view", "ViewCodeSequence says lateral (" + code + ")");
  return skip("view-unknown", "neither ViewPosition ('" + image.view_position + "') nor ViewCodeSequence ('" + code +
                                  "') names a frontal view");
}

}  // namespace evax::dicom_node
