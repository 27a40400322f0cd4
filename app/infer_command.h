// `evax-node infer`: classify image files with an EVA-X model and print one JSON document.
#pragma once

#include <expected>
#include <ostream>
#include <string>
#include <vector>

#include "command_line.h"
#include "evax/inference/engine.h"

namespace evax::app {

inline constexpr const char* kInferUsage =
    "evax-node infer --checkpoint FILE|demo:tiny|demo:small|demo:base\n"
    "    [--task cxr14|chexpert|covidx3|covidx4|features] [--device cpu|cuda|auto] [--dtype fp32|bf16|fp16]\n"
    "    [--input-size N] [--legacy-pos-embed] [--batch N] [--threads N]\n"
    "    [--cam] [--cam-classes LABEL|INDEX,...] [--cam-dir DIR] IMAGE...";

// The model options of `infer` (and `evaluate`): --checkpoint, --task, --device, --dtype,
// --input-size, --legacy-pos-embed. An error names the flag.
std::expected<inference::EngineOptions, std::string> engine_options_from(const CommandLine& cl);

// Exit status: 0 all images classified; 1 the model could not be loaded or run; 2 bad usage;
// 3 some images could not be read (the JSON says which, the others have results).
int run_infer(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace evax::app
