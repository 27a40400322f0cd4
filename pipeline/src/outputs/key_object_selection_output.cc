// "kos": one Key Object Selection per study listing every object built before it (the whole
// result set), so a viewer opens them as one. Runs last.
#include <algorithm>

#include "evax/reporting/key_object_selection.h"
#include "output_kinds.h"

namespace evax::pipeline {
namespace {

class KeyObjectSelectionOutput final : public OutputBuilder {
 public:
  explicit KeyObjectSelectionOutput(const ResultSettings& settings) : settings_(settings) {}
  std::string_view kind() const override { return "kos"; }

  std::expected<std::vector<BuiltObject>, std::string> build(const OutputInput& input) const override {
    std::vector<BuiltObject> out;
    if (input.built_before.empty() || input.images.empty()) return out;  // nothing to list
    reporting::KeyObjectSelectionRequest request;
    request.algorithm = settings_.algorithm;
    request.source_path = input.images.front().source_path;
    for (const auto& built : input.built_before) request.objects.push_back(built.object.reference);
    const bool lungs_in_set = std::any_of(input.built_before.begin(), input.built_before.end(),
                                          [](const BuiltObject& b) { return b.object.kind == "seg"; });
    if (lungs_in_set) request.segmenter = settings_.segmenter;
    auto kos = reporting::build_key_object_selection(request);
    if (!kos) return std::unexpected(kos.error());
    out.push_back({std::move(*kos), std::nullopt});
    return out;
  }

 private:
  const ResultSettings settings_;
};

}  // namespace

std::unique_ptr<OutputBuilder> make_key_object_selection_output(const ResultSettings& settings) {
  return std::make_unique<KeyObjectSelectionOutput>(settings);
}

}  // namespace evax::pipeline
