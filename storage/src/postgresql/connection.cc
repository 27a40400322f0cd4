#include "connection.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

namespace evax::storage::postgresql {
namespace {

void drop_notice(void*, const char*) {}

// The connection is unusable, or the server is going down or not up yet: retry elsewhere/later.
bool means_connection_lost(PGconn* conn, const std::string& sqlstate) {
  return PQstatus(conn) == CONNECTION_BAD || sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" ||
         sqlstate == "57P02" || sqlstate == "57P03";
}

std::string trimmed(const char* message) {
  std::string text = message ? message : "";
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

bool is_password_key(const std::string& key) {
  return key == "password" || key == "sslpassword";
}

// postgresql://[user[:password]@][hosts][/dbname][?key=value&...]
std::string redact_uri(const std::string& uri, std::size_t scheme_end) {
  std::string out = uri;
  // The last '@' before the query: a password with a stray '/' or '@' is still covered (at
  // worst more than the password is hidden).
  const std::size_t at = out.rfind('@', std::min(out.find('?', scheme_end), out.size()));
  if (at != std::string::npos && at >= scheme_end) {
    const std::size_t colon = out.find(':', scheme_end);
    if (colon < at) out.replace(colon + 1, at - colon - 1, "***");
  }
  const std::size_t query = out.find('?', scheme_end);
  if (query == std::string::npos) return out;
  for (std::size_t start = query + 1; start < out.size();) {
    std::size_t end = out.find('&', start);
    if (end == std::string::npos) end = out.size();
    const std::size_t equals = out.find('=', start);
    if (equals < end && is_password_key(out.substr(start, equals - start))) {
      out.replace(equals + 1, end - equals - 1, "***");
      end = equals + 4;
    }
    start = end + 1;
  }
  return out;
}

// key = value pairs separated by spaces; a value is bare or in single quotes, with \ escapes.
std::string redact_keywords(const std::string& dsn) {
  std::string out;
  std::size_t i = 0;
  const auto skip_space = [&] {
    while (i < dsn.size() && std::isspace(static_cast<unsigned char>(dsn[i]))) out += dsn[i++];
  };
  for (;;) {
    skip_space();
    if (i == dsn.size()) return out;
    const std::size_t pair_start = out.size();
    const std::size_t key_start = i;
    while (i < dsn.size() && dsn[i] != '=' && !std::isspace(static_cast<unsigned char>(dsn[i]))) ++i;
    const std::string key = dsn.substr(key_start, i - key_start);
    out += key;
    skip_space();
    // Malformed (no "=", an unterminated quote): cut before this pair, it may hold a password.
    if (i == dsn.size() || dsn[i] != '=' || key.empty()) return out.substr(0, pair_start) + "***";
    out += dsn[i++];
    skip_space();
    const std::size_t value_start = i;
    if (i < dsn.size() && dsn[i] == '\'') {
      for (++i; i < dsn.size() && dsn[i] != '\''; ++i)
        if (dsn[i] == '\\') ++i;
      if (i >= dsn.size()) return out.substr(0, pair_start) + "***";
      ++i;
    } else {
      for (; i < dsn.size() && !std::isspace(static_cast<unsigned char>(dsn[i])); ++i)
        if (dsn[i] == '\\' && i + 1 < dsn.size()) ++i;  // libpq unescapes bare values too: a\ b
    }
    out += is_password_key(key) ? std::string("***") : dsn.substr(value_start, i - value_start);
  }
}

}  // namespace

std::string redact_dsn(const std::string& dsn) {
  for (const char* scheme : {"postgresql://", "postgres://"})
    if (dsn.rfind(scheme, 0) == 0) return redact_uri(dsn, std::strlen(scheme));
  return redact_keywords(dsn);
}

// --- Result -----------------------------------------------------------------------------------

Result::~Result() { PQclear(result_); }

Result& Result::operator=(Result&& other) noexcept {
  if (this != &other) {
    PQclear(result_);
    result_ = other.result_;
    other.result_ = nullptr;
  }
  return *this;
}

int Result::rows() const { return PQntuples(result_); }
int Result::columns() const { return PQnfields(result_); }

std::int64_t Result::affected_rows() const {
  const char* count = PQcmdTuples(result_);
  std::int64_t value = 0;
  std::from_chars(count, count + std::strlen(count), value);
  return value;
}

void Result::check(int row, int column) const {
  if (row < 0 || row >= rows() || column < 0 || column >= columns())
    throw std::out_of_range("no row " + std::to_string(row) + ", column " + std::to_string(column) + " in a result of " +
                            std::to_string(rows()) + " x " + std::to_string(columns()));
}

std::int64_t Result::integer(int row, int column) const {
  check(row, column);
  const char* value = PQgetvalue(result_, row, column);
  const char* end = value + PQgetlength(result_, row, column);
  std::int64_t number = 0;
  const auto [stop, error] = std::from_chars(value, end, number);
  if (is_null(row, column) || error != std::errc() || stop != end)
    throw std::runtime_error(std::string("column ") + PQfname(result_, column) + " is not an integer: " +
                             (is_null(row, column) ? "NULL" : "'" + std::string(value, end) + "'"));
  return number;
}

std::string Result::text(int row, int column) const {
  check(row, column);
  return std::string(PQgetvalue(result_, row, column), static_cast<std::size_t>(PQgetlength(result_, row, column)));
}

bool Result::is_null(int row, int column) const {
  check(row, column);
  return PQgetisnull(result_, row, column) == 1;
}

// --- Connection -------------------------------------------------------------------------------

Connection::Connection(const std::string& dsn) {
  // Later entries override earlier ones, and expand_dbname expands the DSN in place: the DSN's
  // own connect_timeout wins over the default.
  const std::string timeout = std::to_string(kDefaultConnectTimeoutS);
  const char* const keywords[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* const values[] = {timeout.c_str(), "evax-node", dsn.c_str(), nullptr};
  conn_ = PQconnectdbParams(keywords, values, 1);
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
    const std::string message = conn_ ? trimmed(PQerrorMessage(conn_)) : "out of memory";
    PQfinish(conn_);
    conn_ = nullptr;
    throw PostgresError("cannot connect to PostgreSQL (" + redact_dsn(dsn) + "): " + message, "", true);
  }
  PQsetNoticeProcessor(conn_, &drop_notice, nullptr);
}

Connection::~Connection() { PQfinish(conn_); }

void Connection::fail(PGresult* result, const std::string& what) {
  const char* field = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = field ? field : "";
  std::string message = trimmed(result ? PQresultErrorMessage(result) : "");
  if (message.empty()) message = trimmed(PQerrorMessage(conn_));
  PQclear(result);
  throw PostgresError(what + ": " + message, sqlstate, means_connection_lost(conn_, sqlstate));
}

Result Connection::execute(const std::string& sql, const std::vector<Param>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param.text ? param.text->c_str() : nullptr);
  PGresult* result = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                                  nullptr, 0);
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(result, "statement failed");
  return Result(result);
}

void Connection::execute_script(const std::string& sql) {
  PGresult* result = PQexec(conn_, sql.c_str());  // only the last statement's result comes back
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail(result, "script failed");
  PQclear(result);
}

bool Connection::try_advisory_lock(std::int64_t key) {
  return execute("SELECT pg_try_advisory_lock($1::bigint)", {key}).text(0, 0) == "t";
}

bool Connection::advisory_unlock(std::int64_t key) {
  return execute("SELECT pg_advisory_unlock($1::bigint)", {key}).text(0, 0) == "t";
}

bool Connection::broken() const { return PQstatus(conn_) == CONNECTION_BAD; }

bool Connection::in_failed_transaction() const { return PQtransactionStatus(conn_) == PQTRANS_INERROR; }

// --- Transaction ------------------------------------------------------------------------------

Transaction::Transaction(Connection& connection, Isolation isolation) : connection_(connection) {
  const char* level = isolation == Isolation::serializable      ? "SERIALIZABLE"
                      : isolation == Isolation::repeatable_read ? "REPEATABLE READ"
                                                                : "READ COMMITTED";
  connection_.execute(std::string("BEGIN ISOLATION LEVEL ") + level);
}

Transaction::~Transaction() {
  if (done_ || connection_.broken()) return;
  try {
    connection_.execute("ROLLBACK");
  } catch (const PostgresError&) {
    // The connection broke meanwhile: the server rolls the transaction back by itself.
  }
}

void Transaction::commit() {
  if (connection_.in_failed_transaction())
    throw PostgresError("cannot commit: a statement of this transaction failed", "25P02", false);
  connection_.execute("COMMIT");
  done_ = true;
}

}  // namespace evax::storage::postgresql
