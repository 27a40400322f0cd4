// NodeHarness: a real `evax-node serve` for a test, in its own temporary directory with its own
// port and data directory, plus the DCMTK tools to talk to it and the status to read back.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "process.h"

namespace evax::testing {

class NodeHarness {
 public:
  NodeHarness();
  ~NodeHarness();
  NodeHarness(const NodeHarness&) = delete;
  NodeHarness& operator=(const NodeHarness&) = delete;

  // The config the node will start with (small and fast by default: demo:tiny, 1 s quiet
  // period, one worker, debug logging); change it before start().
  nlohmann::json& config() { return config_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path data_dir() const { return config_["storage"]["data_dir"].get<std::string>(); }
  std::string config_path() const { return (dir_ / "config.json").string(); }
  int port() const { return config_["dicom"]["port"].get<int>(); }
  std::string ae_title() const { return config_["dicom"]["ae_title"].get<std::string>(); }

  // Writes the config, starts the node and waits for its "node ready" line.
  void start(const std::vector<std::string>& environment = {}, std::chrono::seconds timeout = std::chrono::seconds(60));
  // SIGTERM and wait; the exit status.
  int stop(std::chrono::seconds timeout = std::chrono::seconds(60));
  void kill9();
  bool running() { return process_.running(); }
  pid_t pid() const { return process_.pid(); }

  std::string log() const;
  // `evax-node status` as JSON (all recent jobs).
  nlohmann::json status() const;
  // Polls status until `done` says so or `timeout` passes; the last status either way.
  nlohmann::json wait_for(const std::function<bool(const nlohmann::json&)>& done, std::chrono::seconds timeout);

  // storescu to the node (calling AE STORESCU unless `extra` says otherwise).
  CommandResult storescu(const std::vector<std::string>& files, const std::string& extra = "") const;
  CommandResult echoscu(const std::string& extra = "") const;

  // Runs a read-only SQL query against the node's database with the sqlite3 tool.
  std::string sql(const std::string& query) const;

 private:
  std::filesystem::path dir_;
  nlohmann::json config_;
  BackgroundProcess process_;
};

// How many "Received Store Response (Success)" lines a storescu -v output holds.
int store_successes(const std::string& storescu_output);

}  // namespace evax::testing
