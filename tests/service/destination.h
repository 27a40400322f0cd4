// A DICOM destination for the node's results, on a loopback port of its own: DCMTK's storescp
// (a well-behaved PACS) or evax-test-scp (one that answers what the test chooses). Started and
// stopped at will so a test can take the destination down and bring it back on the same port.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "process.h"

namespace evax::testing {

class Destination {
 public:
  explicit Destination(const std::filesystem::path& parent, std::string ae_title = "RESULTS")
      : ae_title_(std::move(ae_title)), port_(free_tcp_port()), dir_(parent / ("dest-" + std::to_string(port_))) {
    std::filesystem::create_directories(dir_ / "received");
  }
  ~Destination() { stop(); }

  // DCMTK's storescp accepting every storage SOP class; `options` go before the port
  // (e.g. "+tls", KEY, CERT, "-ic" for TLS).
  void start_storescp(const std::vector<std::string>& options = {}) {
    std::vector<std::string> argv{"/usr/bin/storescp", "-aet", ae_title_, "--promiscuous", "-od", (dir_ / "received").string(),
                                  "-uf"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(std::to_string(port_));
    start(argv);
  }
  // evax-test-scp with its options ("--statuses", "A700,0000", "--delay-ms", "3000", "--refuse").
  void start_test_scp(const std::vector<std::string>& options = {}) {
    std::vector<std::string> argv{EVAX_TEST_SCP_BINARY, std::to_string(port_), ae_title_, (dir_ / "received").string(),
                                  (dir_ / "received.log").string()};
    argv.insert(argv.end(), options.begin(), options.end());
    start(argv);
  }
  void stop() {
    if (!process_.running()) return;
    process_.signal(SIGKILL);
    process_.wait(std::chrono::seconds(10));
  }

  const std::string& ae_title() const { return ae_title_; }
  int port() const { return port_; }
  std::filesystem::path received_dir() const { return dir_ / "received"; }

  // evax-test-scp's log: how many C-STOREs arrived per SOP Instance UID, and their statuses.
  std::map<std::string, int> receipts() const {
    std::map<std::string, int> count;
    std::ifstream in(dir_ / "received.log");
    for (std::string uid, status; in >> uid >> status;) ++count[uid];
    return count;
  }
  std::vector<std::string> statuses() const {
    std::vector<std::string> out;
    std::ifstream in(dir_ / "received.log");
    for (std::string uid, status; in >> uid >> status;) out.push_back(status);
    return out;
  }
  std::vector<std::filesystem::path> received_files() const {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(received_dir()))
      if (e.is_regular_file()) files.push_back(e.path());
    return files;
  }

  // The entry for the node's config.
  nlohmann::json config_entry(const std::string& name = "pacs") const {
    return {{"name", name}, {"ae_title", ae_title_}, {"host", "127.0.0.1"}, {"port", port_}};
  }

 private:
  void start(const std::vector<std::string>& argv) {
    stop();
    process_.start(argv, (dir_ / "destination.log").string());
    for (int i = 0; i < 200 && process_.running() && !accepts_connections(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  bool accepts_connections() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port_));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool open = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return open;
  }

  std::string ae_title_;
  int port_;
  std::filesystem::path dir_;
  BackgroundProcess process_;
};

}  // namespace evax::testing
