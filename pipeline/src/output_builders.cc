#include "evax/pipeline/output_builders.h"

#include <algorithm>

#include "outputs/output_kinds.h"

namespace evax::pipeline {
namespace {

struct OutputKind {
  const char* name;
  std::unique_ptr<OutputBuilder> (*make)(const ResultSettings&);
};

// Build order. A new kind is one adapter in outputs/ and one line here, placed after every kind
// it refers to (the Key Object Selection, listing every object, last).
constexpr OutputKind kOutputKinds[] = {
    {"seg", make_segmentation_output},
    {"sr", make_structured_report_output},
    {"sc", make_secondary_capture_output},
    {"pmap", make_parametric_map_output},
    {"kos", make_key_object_selection_output},
};

}  // namespace

std::vector<std::string> known_output_kinds() {
  std::vector<std::string> out;
  for (const auto& kind : kOutputKinds) out.emplace_back(kind.name);
  return out;
}

std::expected<std::vector<std::unique_ptr<OutputBuilder>>, std::string> make_output_builders(
    const std::vector<std::string>& kinds, const ResultSettings& settings) {
  const auto known = known_output_kinds();
  for (const auto& kind : kinds)
    if (std::find(known.begin(), known.end(), kind) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      return std::unexpected("reporting.outputs: unknown output \"" + kind + "\" (known: " + list + ")");
    }
  std::vector<std::unique_ptr<OutputBuilder>> out;
  for (const auto& kind : kOutputKinds)
    if (std::find(kinds.begin(), kinds.end(), kind.name) != kinds.end()) out.push_back(kind.make(settings));
  return out;
}

}  // namespace evax::pipeline
