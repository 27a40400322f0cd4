// Running real programs from tests: shell commands with a time bound, and background
// processes (the node) that a test can stop, kill -9 and wait for.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace evax::testing {

struct CommandResult {
  int status = -1;     // exit status; -1 when it did not exit normally (killed, timed out)
  std::string output;  // stdout and stderr together
};

// Runs `command` with /bin/sh, killed after `timeout`.
CommandResult run_command(const std::string& command, std::chrono::seconds timeout = std::chrono::seconds(120));

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_tcp_port();

class BackgroundProcess {
 public:
  BackgroundProcess() = default;
  // Starts argv[0] with stdout and stderr appended to `log_path`; `environment` adds
  // NAME=VALUE entries to the inherited environment.
  void start(const std::vector<std::string>& argv, const std::string& log_path,
             const std::vector<std::string>& environment = {});
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  bool running();
  pid_t pid() const { return pid_; }
  void signal(int signal_number);
  // Waits for exit; the exit status, or -1 if it was killed by a signal or is still running
  // after `timeout` (then it is killed).
  int wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

}  // namespace evax::testing
