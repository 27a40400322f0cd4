// The output adapters, one per kind, each over a reporting builder. Internal to the pipeline;
// listed in build order in output_builders.cc.
#pragma once

#include <memory>

#include "evax/pipeline/output_builder.h"
#include "evax/pipeline/result_settings.h"

namespace evax::pipeline {

std::unique_ptr<OutputBuilder> make_segmentation_output(const ResultSettings& settings);       // "seg"
std::unique_ptr<OutputBuilder> make_structured_report_output(const ResultSettings& settings);  // "sr"
std::unique_ptr<OutputBuilder> make_secondary_capture_output(const ResultSettings& settings);  // "sc"
std::unique_ptr<OutputBuilder> make_parametric_map_output(const ResultSettings& settings);     // "pmap"
std::unique_ptr<OutputBuilder> make_key_object_selection_output(const ResultSettings& settings);  // "kos"

}  // namespace evax::pipeline
