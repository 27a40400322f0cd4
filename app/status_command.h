// `evax-node status --config FILE [--job ID] [--limit N]`: what the node did with each study,
// read from its SQLite database: jobs with their state, reason, attempts and per-stage times,
// and each image's decision, reason code and findings. One JSON document on stdout.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace evax::app {

inline constexpr const char* kStatusUsage = "evax-node status --config FILE [--job ID] [--limit N]";

int run_status(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace evax::app
