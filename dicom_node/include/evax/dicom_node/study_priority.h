// Study priority: how urgently a received image's study is analysed. It comes from the
// request's RequestedProcedurePriority (0040,1003), read at the top level of the dataset and in
// every RequestAttributesSequence (0040,0275) item, and from configured rules on any top-level
// attribute (priority.rules). The highest of them wins; nothing said means routine.
// DICOM's values map as STAT -> stat, HIGH -> high, and ROUTINE, MEDIUM, LOW (or anything else)
// -> routine: the node has no level below routine, and MEDIUM and LOW are not urgent.
// Built once from the validated config; immutable afterwards and thread-safe.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "evax/config/node_config.h"
#include "evax/storage/records.h"

namespace evax::dicom_node {

// A RequestedProcedurePriority value (any case, padded or not) as the node's priority.
storage::Priority requested_priority(std::string_view value);

class PriorityRules {
 public:
  // An attribute at the top level of a dataset.
  struct Tag {
    std::uint16_t group = 0;
    std::uint16_t element = 0;
  };
  // A top-level attribute's value as text (multiple values joined by backslashes), or nullopt
  // when the dataset does not hold it.
  using ValueOf = std::function<std::optional<std::string>(Tag)>;

  // RequestedProcedurePriority only, no rules.
  PriorityRules() = default;
  // Resolves keywords against DCMTK's data dictionary and compiles the expressions; an error
  // names the rule's key path ("priority.rules[1].tag: ...").
  static std::expected<PriorityRules, config::ConfigError> create(const config::PrioritySettings& settings);

  // The priority of a dataset whose RequestedProcedurePriority values (top level and request
  // items, possibly none) are `requested`, and whose other attributes `value_of` reads.
  storage::Priority decide(const std::vector<std::string>& requested, const ValueOf& value_of) const;

  bool reads_requested_priority() const { return read_requested_; }

 private:
  struct Rule {
    Tag tag;
    std::shared_ptr<const std::regex> pattern;  // matches: searched in the value
    std::string equals;                         // equals: upper-cased, trimmed
    storage::Priority priority = storage::Priority::routine;
  };
  bool read_requested_ = true;
  std::vector<Rule> rules_;
};

}  // namespace evax::dicom_node
