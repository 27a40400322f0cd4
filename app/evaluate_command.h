// `evax-node evaluate`: run the configured model over a labelled set of images and report how
// well it does on them (AUROC with DeLong CIs, metrics at the operating points, recommended
// operating points, calibration) as report.html and report.json. Resumable: scores are kept
// in a cache per image content and model, so a rerun after an interruption computes only the rest.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace evax::app {

inline constexpr const char* kEvaluateUsage =
    "evax-node evaluate (--config FILE | --checkpoint FILE|demo:tiny [--task T] [--dtype D] [--input-size N])\n"
    "    (--labels FILE --format cxr14|chexpert|csv [--test-list FILE] [--uncertain ones|zeros|ignore]\n"
    "     (--images DIR | --stored --from DATE --to DATE)\n"
    "     | --format feedback [--stored] [--from DATE] [--to DATE]) --out DIR [--cache DIR]\n"
    "    [--target-sensitivity X | --target-specificity X] [--write-operating-points FILE]\n"
    "    [--calibration-bins N] [--batch N] [--threads N] [--device cpu|cuda|auto]";

// Exit status: 0 report written; 1 the model, the cache or the store failed; 2 bad usage or bad
// labels; 3 report written without some images that could not be read (stderr names them);
// 130 stopped by SIGINT/SIGTERM (what was scored is kept: rerun to continue).
int run_evaluate(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace evax::app
