// `evax-node serve --config FILE`: runs the node until SIGTERM or SIGINT, and
// `evax-node check-config FILE`: validates a config, explaining each error with its key path.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace evax::app {

inline constexpr const char* kServeUsage = "evax-node serve --config FILE";
inline constexpr const char* kCheckConfigUsage = "evax-node check-config FILE";

// Exit status: 0 after a clean stop; 1 when the node could not start; 2 bad usage or config.
int run_serve(const std::vector<std::string>& args, std::ostream& err);
// Exit status: 0 valid; 1 invalid (each error on its own line of `out`); 2 bad usage.
int run_check_config(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace evax::app
