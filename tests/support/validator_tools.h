// Running the validators a PACS vendor would use (dciodvfy, dcentvfy, PixelMed's
// DicomSRValidator) from tests, and reading what they said. A validator that is missing,
// crashes, times out or checks something else must fail the test, not pass it for want of an
// "Error" line: each report says whether the tool ran to its normal end (a marker of its own
// output), and the assertion also wants no errors and only warnings the test allows by name.
// Header-only, so tests that do not link the node (tests/reporting) can use it.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace evax::testing {

struct ToolRun {
  int exit_status = -1;  // -1 when it did not exit normally; 124 timed out; 127 not found
  std::string output;    // stdout and stderr together
};

// `command` through the shell, bounded to 120 s.
inline ToolRun run_tool(const std::string& command) {
  ToolRun result;
  FILE* pipe = ::popen(("timeout 120 " + command + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, "<popen failed>"};
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe)) result.output += buffer.data();
  const int status = ::pclose(pipe);
  result.exit_status = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Output only, for tools whose output the test reads itself (dsrdump, python).
inline std::string run(const std::string& command) { return run_tool(command).output; }

// The lines of `text` that start with `prefix`.
inline std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
  std::vector<std::string> found;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) found.push_back(line);
  return found;
}

struct ValidatorReport {
  std::string command;
  bool ran = false;  // exited normally and printed the marker of a finished check
  ToolRun result;
  std::vector<std::string> errors;    // its "Error" lines
  std::vector<std::string> warnings;  // its "Warning" lines
};

inline ValidatorReport validator_report(const std::string& command, const std::function<bool(const ToolRun&)>& finished) {
  ValidatorReport report{command, false, run_tool(command), {}, {}};
  report.errors = lines_starting(report.result.output, "Error");
  report.warnings = lines_starting(report.result.output, "Warning");
  const bool exited = report.result.exit_status == 0 || report.result.exit_status == 1;  // 1: it found errors
  report.ran = exited && lines_starting(report.result.output, "Abort").empty() && finished(report.result);
  return report;
}

// dicom3tools' IOD check. It prints the name of the IOD it checked on a line of its own
// ("ComprehensiveSR", "Comprehensive3DSR", "Segmentation", "SCImage"): `iod` must be that.
inline ValidatorReport dciodvfy(const std::string& path, const std::string& iod, const std::string& program = "dciodvfy") {
  return validator_report(program + " " + path, [&iod](const ToolRun& r) {
    std::istringstream in(r.output);
    for (std::string line; std::getline(in, line);)
      if (line == iod) return true;
    return false;
  });
}

// dicom3tools' entity check across files (one patient, one study ...). Verbose, so that it
// says "Done processing file" for every file it read.
inline ValidatorReport dcentvfy(const std::vector<std::string>& paths, const std::string& program = "dcentvfy") {
  std::string command = program + " -v";
  for (const auto& path : paths) command += " " + path;
  return validator_report(command, [&paths](const ToolRun& r) {
    std::size_t done = 0;
    for (std::size_t at = 0; (at = r.output.find(" Done processing file for SOPInstanceUID", at)) != std::string::npos; ++at) ++done;
    return done == paths.size();
  });
}

// PixelMed's SR validator (the IHE Connectathon's): the IOD, then the root template. The
// JDK's XPath limits stop its template stylesheet unless lifted.
inline ValidatorReport pixelmed_sr(const std::string& path, const std::string& java = "java") {
  return validator_report(java + " -Djdk.xml.xpathExprOpLimit=0 -Djdk.xml.xpathExprGrpLimit=0 -Djdk.xml.xpathTotalOpLimit=0 "
                                 "-cp /usr/share/java/pixelmed.jar com.pixelmed.validate.DicomSRValidator " + path,
                          [](const ToolRun& r) {
                            return r.output.find("Found Root Template TID_1500") != std::string::npos &&
                                   r.output.find("Root Template Validation Complete") != std::string::npos &&
                                   r.output.find("IOD validation complete") != std::string::npos;
                          });
}

// PixelMed's validator on a Key Object Selection Document: the IOD, then TID 2010.
inline ValidatorReport pixelmed_kos(const std::string& path, const std::string& java = "java") {
  return validator_report(java + " -Djdk.xml.xpathExprOpLimit=0 -Djdk.xml.xpathExprGrpLimit=0 -Djdk.xml.xpathTotalOpLimit=0 "
                                 "-cp /usr/share/java/pixelmed.jar com.pixelmed.validate.DicomSRValidator " + path,
                          [](const ToolRun& r) {
                            return r.output.find("Found Root Template TID_2010") != std::string::npos &&
                                   r.output.find("Root Template Validation Complete") != std::string::npos &&
                                   r.output.find("IOD validation complete") != std::string::npos;
                          });
}

// dicom3tools in Debian 12 predates Device UID (0018,1002) in the Contributing Equipment
// Sequence, which IHE AIR asks every result object to carry: it warns that the attribute is not
// in the IOD, and then that the object is a Standard Extended SOP Class.
inline const std::vector<std::string> kDeviceUidWarnings = {"(0x0018,0x1002) UI Device UID",
                                                            "this is a Standard Extended SOP Class"};

// The validator ran, reported no error, and every warning contains one of `allowed` (each
// entry names a warning the test accepts, and why, at the call).
inline ::testing::AssertionResult is_clean(const ValidatorReport& report, const std::vector<std::string>& allowed = {}) {
  auto failure = [&](const std::string& what) {
    return ::testing::AssertionFailure() << report.command << ": " << what << " (exit status " << report.result.exit_status
                                         << ")\n" << report.result.output;
  };
  if (!report.ran) return failure("did not run to its end");
  if (!report.errors.empty()) return failure(std::to_string(report.errors.size()) + " errors, first: " + report.errors.front());
  for (const auto& warning : report.warnings) {
    bool known = false;
    for (const auto& a : allowed) known = known || warning.find(a) != std::string::npos;
    if (!known) return failure("a warning not allowed: " + warning);
  }
  return ::testing::AssertionSuccess();
}

}  // namespace evax::testing
