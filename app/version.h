// The node's version, from the CMake project (shown by --version and written into results).
#pragma once

namespace evax::app {

inline constexpr const char* kVersion = EVAX_VERSION;

}  // namespace evax::app
