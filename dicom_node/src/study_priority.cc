#include "evax/dicom_node/study_priority.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dctag.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "dataset_priority.h"

namespace evax::dicom_node {
namespace {

// Values longer than this are cut before a rule sees them: no rule needs more, and an
// expression's work stays bounded whatever a sender puts in a long text attribute.
constexpr std::size_t kMaxRuleValue = 1024;
// A request with more items than this is not a chest X-ray's; the first ones decide.
constexpr int kMaxRequestItems = 64;

std::string upper_trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(' ');
  const auto last = text.find_last_not_of(' ');
  std::string out(first == std::string_view::npos ? std::string_view() : text.substr(first, last - first + 1));
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::optional<PriorityRules::Tag> parse_tag(const std::string& text) {
  unsigned group = 0, element = 0;
  char close = 0;
  if (std::sscanf(text.c_str(), "(%4x,%4x%c", &group, &element, &close) == 3 && close == ')')
    return PriorityRules::Tag{static_cast<std::uint16_t>(group), static_cast<std::uint16_t>(element)};
  DcmTag tag;
  if (DcmTag::findTagFromName(text.c_str(), tag).bad()) return std::nullopt;
  return PriorityRules::Tag{tag.getGroup(), tag.getElement()};
}

std::optional<std::string> text_of(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return std::nullopt;
  std::string out(value.c_str(), std::min<std::size_t>(value.length(), kMaxRuleValue));
  return out;
}

}  // namespace

storage::Priority requested_priority(std::string_view value) {
  const std::string v = upper_trimmed(value);
  if (v == "STAT") return storage::Priority::stat;
  if (v == "HIGH") return storage::Priority::high;
  return storage::Priority::routine;
}

std::expected<PriorityRules, config::ConfigError> PriorityRules::create(const config::PrioritySettings& settings) {
  PriorityRules out;
  out.read_requested_ = settings.requested_procedure_priority;
  for (std::size_t i = 0; i < settings.rules.size(); ++i) {
    const config::PriorityRule& r = settings.rules[i];
    const std::string path = "priority.rules[" + std::to_string(i) + "]";
    const auto tag = parse_tag(r.tag);
    if (!tag) {
      const bool dictionary = dcmDataDict.isDictionaryLoaded();
      return std::unexpected(config::ConfigError{
          path + ".tag", "\"" + r.tag + "\" is not a DICOM keyword" +
                             (dictionary ? std::string(" (write the tag as (gggg,eeee) for a private one)")
                                         : std::string(" (DCMTK's data dictionary is not loaded: write the tag as (gggg,eeee))"))});
    }
    Rule rule{*tag, nullptr, upper_trimmed(r.equals), storage::parse_priority(r.priority).value_or(storage::Priority::routine)};
    if (!r.matches.empty()) {
      try {
        rule.pattern = std::make_shared<const std::regex>(r.matches, std::regex::ECMAScript | std::regex::icase);
      } catch (const std::regex_error& e) {
        return std::unexpected(config::ConfigError{path + ".matches", std::string("is not a valid regular expression: ") + e.what()});
      }
    }
    out.rules_.push_back(std::move(rule));
  }
  return out;
}

storage::Priority PriorityRules::decide(const std::vector<std::string>& requested, const ValueOf& value_of) const {
  storage::Priority out = storage::Priority::routine;
  if (read_requested_)
    for (const auto& value : requested) out = std::max(out, requested_priority(value));
  for (const Rule& rule : rules_) {
    if (rule.priority <= out) continue;  // cannot raise it further
    const auto value = value_of(rule.tag);
    if (!value) continue;
    const bool hit = rule.pattern ? std::regex_search(*value, *rule.pattern) : upper_trimmed(*value) == rule.equals;
    if (hit) out = rule.priority;
  }
  return out;
}

storage::Priority read_priority(DcmItem& dataset, const PriorityRules& rules) {
  std::vector<std::string> requested;
  if (rules.reads_requested_priority()) {
    if (auto value = text_of(dataset, DCM_RequestedProcedurePriority)) requested.push_back(*value);
    DcmItem* item = nullptr;
    for (int i = 0; i < kMaxRequestItems && dataset.findAndGetSequenceItem(DCM_RequestAttributesSequence, item, i).good() && item;
         ++i)
      if (auto value = text_of(*item, DCM_RequestedProcedurePriority)) requested.push_back(*value);
  }
  return rules.decide(requested, [&](PriorityRules::Tag tag) { return text_of(dataset, DcmTagKey(tag.group, tag.element)); });
}

}  // namespace evax::dicom_node
