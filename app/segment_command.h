// `evax-node segment`: segment the lungs in image files with the EVA-X UperNet and write each
// mask as a PNG, with one JSON summary (lungs, areas, or why a mask was rejected) on stdout.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace evax::app {

inline constexpr const char* kSegmentUsage =
    "evax-node segment --checkpoint FILE|demo [--threshold P] [--input-size N] [--device cpu|cuda|auto]\n"
    "    [--dtype fp32|bf16|fp16] [--batch N] [--threads N] [--min-lung-fraction F] [--max-lungs-fraction F]\n"
    "    [--out DIR] [--probability] IMAGE...";

// Exit status: 0 every image segmented (a rejected mask is a result, not a failure); 1 the
// model could not be loaded or run; 2 bad usage; 3 some images could not be read.
int run_segment(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace evax::app
