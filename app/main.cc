// evax-node: the EVA-X chest X-ray AI node. This file only dispatches subcommands and is the
// one boundary where an unexpected exception becomes a message and an exit status.
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "evax/dicom_node/pixel_decoder.h"
#include "evax/inference/benchmark.h"
#include "evax/inference/compute_backend.h"
#include "evax/inference/engine.h"
#include "evaluate_command.h"
#include "infer_command.h"
#include "segment_command.h"
#include "serve_command.h"
#include "status_command.h"
#include "version.h"

using evax::app::kVersion;

namespace {


void print_help(std::ostream& out) {
  out << "evax-node " << kVersion << ": EVA-X chest X-ray models for PACS\n\n"
      << "commands:\n"
      << "  " << evax::app::kInferUsage << "\n"
      << "      classify DICOM or 8-bit grey PNG images; prints JSON to stdout\n"
      << "  " << evax::app::kSegmentUsage << "\n"
      << "      segment the lungs (UperNet on EVA-X); mask PNGs and JSON with areas\n"
      << "  evax-node benchmark " << evax::inference::kBenchmarkUsage << "\n"
      << "      time the engine on synthetic input; prints JSON\n"
      << "  " << evax::app::kEvaluateUsage << "\n"
      << "      measure the model on a labelled set (AUROC, CIs, operating points, calibration); report.html/json\n"
      << "  " << evax::app::kServeUsage << "\n"
      << "      run the DICOM node until SIGTERM or SIGINT\n"
      << "  " << evax::app::kCheckConfigUsage << "\n"
      << "      validate a config file; each error names its key\n"
      << "  " << evax::app::kStatusUsage << "\n"
      << "      jobs, decisions and findings from the node's database, as JSON\n"
      << "  evax-node --version\n";
}

int run_benchmark_command(const std::vector<std::string>& args) {
  auto options = evax::inference::parse_benchmark_args(args);
  if (!options) {
    std::cerr << "evax-node benchmark: " << options.error() << "\nusage: evax-node benchmark "
              << evax::inference::kBenchmarkUsage << "\n";
    return 2;
  }
  auto report = evax::inference::run_benchmark(*options);
  if (!report) {
    std::cerr << "evax-node benchmark: " << report.error() << "\n";
    return 1;
  }
  std::cout << evax::inference::to_json(*report) << "\n";
  return 0;
}

int dispatch(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    print_help(args.empty() ? std::cerr : std::cout);
    return args.empty() ? 2 : 0;
  }
  const std::string& command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "--version" || command == "version") {
    // First line: what was built. Second, for a CUDA build: whether this machine's GPU can be used.
    const evax::inference::ComputeBackend backend = evax::inference::probe_compute_backend();
    std::cout << "evax-node " << kVersion << " (" << evax::inference::describe_libtorch(backend) << "; DCMTK "
              << evax::dicom_node::dcmtk_version() << ")\n";
    if (backend.cuda_version) {
      if (backend.cuda_usable()) std::cout << "cuda: " << backend.cuda_devices << " device(s) usable\n";
      else std::cout << "cuda: not usable here: " << backend.cuda_unusable_reason << "\n";
    }
    return 0;
  }
  if (command == "infer") return evax::app::run_infer(rest, std::cout, std::cerr);
  if (command == "segment") return evax::app::run_segment(rest, std::cout, std::cerr);
  if (command == "evaluate") return evax::app::run_evaluate(rest, std::cout, std::cerr);
  if (command == "benchmark") return run_benchmark_command(rest);
  if (command == "serve") return evax::app::run_serve(rest, std::cerr);
  if (command == "check-config") return evax::app::run_check_config(rest, std::cout, std::cerr);
  if (command == "status") return evax::app::run_status(rest, std::cout, std::cerr);
  std::cerr << "evax-node: unknown command '" << command << "'\n";
  print_help(std::cerr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return dispatch(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "evax-node: unexpected error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "evax-node: unexpected error\n";
  }
  return 1;
}
