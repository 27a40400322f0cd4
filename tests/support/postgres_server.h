// PostgresServer: a throwaway PostgreSQL server for tests, with its own cluster in a fresh
// temporary directory, on a free loopback TCP port (unix socket inside the directory), fsync on,
// trust authentication for the superuser `evax`. PostgreSQL refuses to run as root: as root the
// server runs as the system user `evax-pgtest` (scripts/install-deps.sh creates it).
// Thread-safety: none; one test thread drives it.
#pragma once

#include <filesystem>
#include <string>

namespace evax::testing {

class PostgresServer {
 public:
  // Finds the server binaries (`pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin),
  // runs initdb, starts the server and creates `database`. Every pg_ctl wait is bounded (30 s).
  // Throws std::runtime_error naming a missing binary or user, or with the server's log.
  explicit PostgresServer(std::string database = "evax_test");
  // Stops the server at once (immediate, then SIGKILL) and removes the directory.
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // "host=127.0.0.1 port=N dbname=... user=evax" (no password: trust on loopback).
  std::string dsn() const;
  // Creates another, empty database on the same server and returns its DSN (a test that needs a
  // fresh database each time does not pay for a new server).
  std::string create_database(const std::string& name);
  int port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_; }

  // Turns TLS on (a self-signed certificate for 127.0.0.1, made with openssl) and restarts;
  // returns the certificate's path, for a client's sslrootcert with sslmode=verify-full.
  std::filesystem::path enable_tls();
  void stop();               // pg_ctl stop -m fast: clients are disconnected, a clean shutdown
  void start();              // on the same port
  void restart_immediate();  // pg_ctl restart -m immediate: a crash, recovered from the WAL on start
  std::string log() const;   // the server's log so far

 private:
  // Runs a server binary as the server's user; throws with its output (and the log) on failure.
  std::string run(const std::string& binary, const std::string& arguments, const std::string& what);
  void kill_now();

  std::filesystem::path bindir_;
  std::filesystem::path dir_;
  std::string run_as_prefix_;  // "runuser -u evax-pgtest -- " as root, else ""
  std::string database_;
  int port_ = 0;
};

}  // namespace evax::testing
