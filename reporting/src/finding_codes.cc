#include "finding_codes.h"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>

namespace evax::reporting {
namespace {

const Code kLung{"39607008", "SCT", "Lung structure"};
const Code kHeart{"80891009", "SCT", "Heart structure"};
const Code kPleura{"3120008", "SCT", "Pleural membrane structure"};
const Code kChest{"816094009", "SCT", "Thoracic structure"};

// ChestX-ray14, CheXpert and COVIDx labels as the heads spell them.
const std::map<std::string, FindingCodes>& table() {
  static const std::map<std::string, FindingCodes> codes{
      {"Atelectasis", {{"46621007", "SCT", "Atelectasis"}, kLung}},
      {"Cardiomegaly", {{"8186001", "SCT", "Cardiomegaly"}, kHeart}},
      {"Effusion", {{"60046008", "SCT", "Pleural effusion"}, kPleura}},
      {"Pleural Effusion", {{"60046008", "SCT", "Pleural effusion"}, kPleura}},
      {"Infiltration", {{"112121", "DCM", "Infiltrate"}, kLung}},
      {"Mass", {{"4147007", "SCT", "Mass"}, kLung}},
      {"Nodule", {{"27925004", "SCT", "Nodule"}, kLung}},
      {"Pneumonia", {{"233604007", "SCT", "Pneumonia"}, kLung}},
      {"pneumonia", {{"233604007", "SCT", "Pneumonia"}, kLung}},
      {"Pneumothorax", {{"36118008", "SCT", "Pneumothorax"}, kPleura}},
      {"Consolidation", {{"95436008", "SCT", "Lung consolidation"}, kLung}},
      {"Edema", {{"19242006", "SCT", "Pulmonary edema"}, kLung}},
      {"Emphysema", {{"87433001", "SCT", "Pulmonary emphysema"}, kLung}},
      {"Fibrosis", {{"112674009", "SCT", "Fibrosis"}, kLung}},
      {"Hernia", {{"84089009", "SCT", "Hiatal hernia"}, kChest}},
      // The SNOMED synonym: the full name is 65 characters, one over what Code Meaning holds.
      {"COVID-19", {{"840539006", "SCT", "COVID-19"}, kLung}},
      // No standard concept fits the model's meaning exactly: private, documented in docs/results.md.
      // Code values stay within 16 characters (SH), so no receiver meets a Long Code Value.
      {"Pleural_Thickening", {{"PLEURAL-THICK", kPrivateScheme, "Pleural thickening"}, kPleura}},
      {"normal", {{"COVIDX-NORMAL", kPrivateScheme, "No pneumonia (COVIDx normal)"}, kLung}},
      {"negative", {{"COVIDX-NEGATIVE", kPrivateScheme, "COVID-19 negative (COVIDx)"}, kLung}},
      {"positive", {{"COVIDX-POSITIVE", kPrivateScheme, "COVID-19 positive (COVIDx)"}, kLung}},
  };
  return codes;
}

}  // namespace

std::string printable_label(const std::string& label) {
  std::string out;
  for (unsigned char c : label)
    if (c >= 0x20 && c < 0x7f && c != '\\' && out.size() < 64) out += static_cast<char>(c);
  return out.empty() ? "unnamed label" : out;
}

Code probability_concept(const Code& finding, bool present) {
  std::uint32_t hash = 2166136261u;  // FNV-1a of "scheme:value": stable, fits SH's 16 characters
  for (unsigned char c : finding.scheme + ":" + finding.value) hash = (hash ^ c) * 16777619u;
  char value[16];
  std::snprintf(value, sizeof value, "P%c%08X", present ? '+' : '-', hash);
  const std::string state = present ? " (present)" : " (absent)";
  return {value, kPrivateScheme, finding.meaning.substr(0, 64 - state.size()) + state};
}

FindingCodes finding_codes(const std::string& label) {
  const auto it = table().find(label);
  if (it != table().end()) return it->second;
  // Code values are SH (16 characters); the label itself goes into the meaning.
  return {{"LABEL-" + std::to_string(std::hash<std::string>{}(label) % 1000000000), kPrivateScheme, printable_label(label)},
          kChest};
}

}  // namespace evax::reporting
