#include "postgres_server.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <vector>

#include "process.h"

namespace evax::testing {
namespace fs = std::filesystem;
namespace {

constexpr const char* kServerUser = "evax-pgtest";
constexpr const char* kSuperuser = "evax";
constexpr auto kCommandTimeout = std::chrono::seconds(60);  // above pg_ctl's own -t 30
constexpr int kStartAttempts = 3;

std::string shell_quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool has_server_binaries(const fs::path& bindir) {
  return fs::exists(bindir / "initdb") && fs::exists(bindir / "pg_ctl") && fs::exists(bindir / "postgres");
}

// pg_config's (the version libpq-dev belongs to) when it has the server, else the newest installed.
fs::path find_bindir() {
  const CommandResult pg_config = run_command("pg_config --bindir", std::chrono::seconds(10));
  if (pg_config.status == 0) {
    std::string path = pg_config.output;
    while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.pop_back();
    if (has_server_binaries(path)) return path;
  }
  std::vector<std::pair<int, fs::path>> installed;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", error)) {
    const std::string version = entry.path().filename().string();
    if (!version.empty() && std::all_of(version.begin(), version.end(), ::isdigit) && has_server_binaries(entry.path() / "bin"))
      installed.emplace_back(std::stoi(version), entry.path() / "bin");
  }
  if (installed.empty())
    throw std::runtime_error(
        "PostgresServer: no PostgreSQL server binaries (initdb, pg_ctl, postgres) in `pg_config --bindir` or "
        "/usr/lib/postgresql/*/bin: install Debian's postgresql package (scripts/install-deps.sh)");
  return std::max_element(installed.begin(), installed.end())->second;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

PostgresServer::PostgresServer(std::string database) : database_(std::move(database)) {
  bindir_ = find_bindir();
  char pattern[] = "/tmp/evax-pg-XXXXXX";
  if (!::mkdtemp(pattern)) throw std::runtime_error("PostgresServer: mkdtemp failed");
  dir_ = pattern;
  try {
    if (::geteuid() == 0) {
      const passwd* user = ::getpwnam(kServerUser);
      if (!user)
        throw std::runtime_error(std::string("PostgresServer: running as root, PostgreSQL needs the system user ") +
                                 kServerUser + " to run as: run scripts/install-deps.sh as root");
      if (::chown(dir_.c_str(), user->pw_uid, user->pw_gid) != 0)
        throw std::runtime_error("PostgresServer: cannot chown " + dir_.string() + " to " + kServerUser);
      run_as_prefix_ = std::string("runuser -u ") + kServerUser + " -- ";
    }
    // --no-sync: initdb's own files only; the server itself runs with fsync on.
    run("initdb", "-D " + shell_quoted((dir_ / "data").string()) + " -U " + kSuperuser +
                      " --auth=trust --encoding=UTF8 --locale=C --no-sync",
        "initdb");
    for (int attempt = 1;; ++attempt) {
      // The port was free a moment ago; if another process takes it first, start fails: retry.
      port_ = free_tcp_port();
      std::ofstream conf(dir_ / "data" / "postgresql.conf", std::ios::app);
      conf << "\n# PostgresServer (tests)\n"
           << "listen_addresses = '127.0.0.1'\n"
           << "port = " << port_ << "\n"
           << "unix_socket_directories = '" << dir_.string() << "'\n"
           << "fsync = on\nsynchronous_commit = on\n"
           << "shared_buffers = 16MB\nmax_connections = 30\n";
      conf.close();
      try {
        start();
        break;
      } catch (const std::runtime_error&) {
        if (attempt == kStartAttempts) throw;
      }
    }
    run("createdb", "-h 127.0.0.1 -p " + std::to_string(port_) + " -U " + kSuperuser + " " + shell_quoted(database_),
        "createdb");
  } catch (...) {
    kill_now();
    fs::remove_all(dir_);
    throw;
  }
}

PostgresServer::~PostgresServer() {
  kill_now();
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

std::string PostgresServer::dsn() const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + database_ + " user=" + kSuperuser;
}

std::string PostgresServer::create_database(const std::string& name) {
  run("createdb", "-h 127.0.0.1 -p " + std::to_string(port_) + " -U " + kSuperuser + " " + shell_quoted(name), "createdb");
  return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + name + " user=" + kSuperuser;
}

std::string PostgresServer::run(const std::string& binary, const std::string& arguments, const std::string& what) {
  const fs::path path = bindir_ / binary;
  if (!fs::exists(path)) throw std::runtime_error("PostgresServer: " + path.string() + " is missing");
  // From inside the directory: the server's user may not be allowed into the test's directory.
  const CommandResult result =
      run_command("cd " + shell_quoted(dir_.string()) + " && " + run_as_prefix_ + shell_quoted(path.string()) + " " + arguments,
                  kCommandTimeout);
  if (result.status != 0)
    throw std::runtime_error("PostgresServer: " + what + " failed (status " + std::to_string(result.status) +
                             "): " + result.output + "\nserver log:\n" + log());
  return result.output;
}

fs::path PostgresServer::enable_tls() {
  const fs::path data = dir_ / "data";
  const CommandResult made = run_command(
      "cd " + shell_quoted(data.string()) + " && " + run_as_prefix_ +
          "openssl req -x509 -newkey rsa:2048 -nodes -keyout server.key -out server.crt -days 1 -subj /CN=127.0.0.1 "
          "-addext subjectAltName=IP:127.0.0.1 2>&1 && chmod 600 server.key",
      kCommandTimeout);
  if (made.status != 0) throw std::runtime_error("PostgresServer: openssl failed: " + made.output);
  std::ofstream conf(data / "postgresql.conf", std::ios::app);
  conf << "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n";
  conf.close();
  stop();
  start();
  return data / "server.crt";
}

void PostgresServer::start() {
  run("pg_ctl", "-D " + shell_quoted((dir_ / "data").string()) + " -l " + shell_quoted((dir_ / "server.log").string()) +
                    " -w -t 30 start",
      "pg_ctl start");
}

void PostgresServer::stop() {
  run("pg_ctl", "-D " + shell_quoted((dir_ / "data").string()) + " -m fast -w -t 30 stop", "pg_ctl stop");
}

void PostgresServer::restart_immediate() {
  run("pg_ctl", "-D " + shell_quoted((dir_ / "data").string()) + " -l " + shell_quoted((dir_ / "server.log").string()) +
                    " -m immediate -w -t 30 restart",
      "pg_ctl restart");
}

std::string PostgresServer::log() const { return read_file(dir_ / "server.log"); }

void PostgresServer::kill_now() {
  const fs::path pid_file = dir_ / "data" / "postmaster.pid";
  if (!fs::exists(pid_file)) return;
  try {
    run("pg_ctl", "-D " + shell_quoted((dir_ / "data").string()) + " -m immediate -w -t 10 stop", "pg_ctl stop");
  } catch (const std::runtime_error&) {
    std::ifstream in(pid_file);
    pid_t pid = 0;
    if (in >> pid && pid > 0) ::kill(pid, SIGKILL);
  }
}

}  // namespace evax::testing
