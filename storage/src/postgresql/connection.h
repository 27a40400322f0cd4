// Connection: one libpq connection to PostgreSQL, with parameterised statements, RAII
// transactions and session advisory locks. Internal to the storage module (its PostgreSQL
// backend); libpq's types stay in this folder.
// Thread-safety: none. One Connection per thread (or a pool that hands each out to one user).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

struct pg_conn;    // libpq's PGconn
struct pg_result;  // libpq's PGresult

namespace evax::storage::postgresql {

// A failed connection or statement. When connection_lost() is true the connection is gone (or
// the server is shutting down or not accepting connections yet): open a new Connection and
// retry the whole transaction from its start, with backoff.
class PostgresError : public std::runtime_error {
 public:
  PostgresError(const std::string& message, std::string sqlstate, bool connection_lost)
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)), connection_lost_(connection_lost) {}
  const std::string& sqlstate() const { return sqlstate_; }  // "" when the server sent none
  bool connection_lost() const { return connection_lost_; }

 private:
  std::string sqlstate_;
  bool connection_lost_;
};

// A statement parameter, sent as text (the server infers or casts its type: write `$1::bigint`
// where it cannot); std::nullopt is SQL NULL, which is not the empty string.
struct Param {
  Param(std::int64_t value) : text(std::to_string(value)) {}
  Param(int value) : text(std::to_string(value)) {}
  Param(std::string value) : text(std::move(value)) {}
  Param(const char* value) : text(std::string(value)) {}
  Param(std::nullopt_t) {}
  Param(const std::optional<std::int64_t>& value) {
    if (value) text = std::to_string(*value);
  }
  Param(std::optional<std::string> value) : text(std::move(value)) {}

  std::optional<std::string> text;
};

// The rows of one statement. Accessors take a row and a column index (from 0) and throw
// std::out_of_range outside rows() x columns().
class Result {
 public:
  explicit Result(pg_result* result) : result_(result) {}  // takes ownership
  ~Result();
  Result(Result&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  Result& operator=(Result&& other) noexcept;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  int rows() const;
  int columns() const;
  // Rows an INSERT, UPDATE or DELETE touched (0 for other statements).
  std::int64_t affected_rows() const;

  std::int64_t integer(int row, int column) const;  // throws std::runtime_error for NULL or non-integers
  std::string text(int row, int column) const;      // "" for NULL
  bool is_null(int row, int column) const;

 private:
  void check(int row, int column) const;
  pg_result* result_;
};

class Connection {
 public:
  // Connects (blocking) with a DSN in keyword/value form ("host=... dbname=... sslmode=...") or
  // URI form ("postgresql://user@host:5432/db?sslmode=verify-full"). Unless the DSN sets
  // connect_timeout, an unreachable server fails after kDefaultConnectTimeoutS. The server's
  // notices (warnings sent to the client) are dropped rather than printed on stderr.
  // Throws PostgresError (connection_lost true); its message shows the DSN redacted.
  explicit Connection(const std::string& dsn);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  static constexpr int kDefaultConnectTimeoutS = 10;

  // One statement with $1, $2, ... parameters. Throws PostgresError.
  Result execute(const std::string& sql, const std::vector<Param>& params = {});
  // Several statements without parameters (a migration), in one round trip. Throws PostgresError.
  void execute_script(const std::string& sql);

  // Session-level advisory locks: held until unlocked or until the connection closes (so a dead
  // node's locks go with it). try_advisory_lock never waits; advisory_unlock returns false when
  // this session did not hold the lock.
  bool try_advisory_lock(std::int64_t key);
  bool advisory_unlock(std::int64_t key);

  // True once the connection is gone (it stays so: open a new Connection).
  bool broken() const;
  // True inside a transaction one of whose statements failed (only ROLLBACK is accepted).
  bool in_failed_transaction() const;

 private:
  [[noreturn]] void fail(pg_result* result, const std::string& what);
  pg_conn* conn_ = nullptr;
};

enum class Isolation { read_committed, repeatable_read, serializable };

// BEGIN on construction; ROLLBACK in the destructor unless commit() ran. A commit that fails
// with connection_lost has an unknown outcome: what a transaction writes must be safe to redo.
class Transaction {
 public:
  explicit Transaction(Connection& connection, Isolation isolation = Isolation::read_committed);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  // Throws PostgresError, also (SQLSTATE 25P02) when a statement of this transaction failed:
  // PostgreSQL would silently turn that COMMIT into a ROLLBACK.
  void commit();

 private:
  Connection& connection_;
  bool done_ = false;
};

// The DSN with every password (password=, sslpassword=, quoted or not; a URI's user:password@
// and ?password=) replaced by ***, for logs and error messages. A keyword/value DSN it cannot
// parse is cut where parsing failed, so nothing after that point can leak.
std::string redact_dsn(const std::string& dsn);

}  // namespace evax::storage::postgresql
