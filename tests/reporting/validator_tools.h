// Running the validators a PACS vendor would use (dciodvfy, dcentvfy, dsrdump, PixelMed,
// pydicom) from the reporting tests and reading their output.
#pragma once

#include <array>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace evax::reporting {

// stdout and stderr of `command`, bounded to 120 s.
inline std::string run(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(("timeout 120 " + command + " 2>&1").c_str(), "r");
  if (!pipe) return "<popen failed>";
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe)) output += buffer.data();
  ::pclose(pipe);
  return output;
}

// The lines of `text` that start with `prefix`.
inline std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
  std::vector<std::string> found;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) found.push_back(line);
  return found;
}

}  // namespace evax::reporting
