#include "node_harness.h"

#include <unistd.h>

#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

namespace evax::testing {
namespace fs = std::filesystem;
namespace {

// Start-ups in a log: lines of the "node ready" event, in text or JSON format (a text line
// says it twice: "node ready: node ready").
std::size_t ready_lines(const std::string& log) {
  std::size_t count = 0;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);)
    if (line.find("node ready") != std::string::npos) ++count;
  return count;
}

}  // namespace

NodeHarness::NodeHarness() {
  char pattern[] = "/tmp/evax-node-test-XXXXXX";
  dir_ = ::mkdtemp(pattern);
  config_ = {
      {"dicom", {{"ae_title", "EVAX"}, {"port", free_tcp_port()}, {"acse_timeout_s", 5}, {"dimse_timeout_s", 20}}},
      {"storage", {{"data_dir", (dir_ / "data").string()}, {"min_free_mb", 16}}},
      {"study", {{"quiet_period_s", 1}}},
      {"model", {{"classifier", {{"checkpoint", "demo:tiny"}}}, {"device", "cpu"}, {"cam_top_k", 1}}},
      {"workers", {{"count", 1}, {"retry_initial_s", 1}, {"retry_max_s", 2}}},
      // SEG, SR and SC: the tests of delivery, recovery and the page count these; the tests of
      // the whole result set (AirResults, ConformanceStatement) erase this for the default.
      {"reporting", {{"outputs", {"seg", "sr", "sc"}}}},
      {"http", {{"port", free_tcp_port()}}},
      {"logging", {{"level", "debug"}}},
  };
}

NodeHarness::~NodeHarness() {
  if (process_.running()) kill9();
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

void NodeHarness::start(const std::vector<std::string>& environment, std::chrono::seconds timeout) {
  std::ofstream(config_path()) << config_.dump(2);
  const std::string log_path = (dir_ / "node.log").string();
  const std::size_t ready_before = ready_lines(log());
  process_.start({EVAX_NODE_BINARY, "serve", "--config", config_path()}, log_path, environment);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const std::string text = log();
    if (ready_lines(text) > ready_before) return;
    if (!process_.running()) throw std::runtime_error("evax-node exited during start-up:\n" + text);
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("evax-node did not become ready:\n" + text);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int NodeHarness::stop(std::chrono::seconds timeout) {
  process_.signal(SIGTERM);
  return process_.wait(timeout);
}

void NodeHarness::kill9() {
  process_.signal(SIGKILL);
  process_.wait(std::chrono::seconds(10));
}

std::string NodeHarness::log() const {
  std::ifstream in(dir_ / "node.log");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::json NodeHarness::status() const {
  const auto result = run_command(std::string(EVAX_NODE_BINARY) + " status --limit 1000 --config " + config_path() + " 2>/dev/null");
  if (result.status != 0) throw std::runtime_error("evax-node status failed: " + result.output);
  return nlohmann::json::parse(result.output);
}

nlohmann::json NodeHarness::wait_for(const std::function<bool(const nlohmann::json&)>& done, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  nlohmann::json last = status();
  while (!done(last) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    last = status();
  }
  return last;
}

CommandResult NodeHarness::storescu(const std::vector<std::string>& files, const std::string& extra) const {
  std::string command = "storescu -v -to 30 -ta 30 -td 30 -aec " + ae_title() + " " + extra + " 127.0.0.1 " + std::to_string(port());
  for (const auto& f : files) command += " " + f;
  return run_command(command);
}

CommandResult NodeHarness::echoscu(const std::string& extra) const {
  return run_command("echoscu -to 10 -ta 10 -td 10 -aec " + ae_title() + " " + extra + " 127.0.0.1 " + std::to_string(port()));
}

std::string NodeHarness::sql(const std::string& query) const {
  const auto result = run_command("sqlite3 -readonly " + (data_dir() / "evax-node.sqlite").string() + " \"" + query + "\"");
  if (result.status != 0) throw std::runtime_error("sqlite3 failed: " + result.output);
  std::string out = result.output;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

int store_successes(const std::string& output) {
  int count = 0;
  for (std::size_t at = 0; (at = output.find("Received Store Response (Success)", at)) != std::string::npos; ++at) ++count;
  return count;
}

}  // namespace evax::testing
