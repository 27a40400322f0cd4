// The libpq wrapper of the storage module's PostgreSQL backend, against a real throwaway server:
// parameters, transactions, SQLSTATEs, a server crash, advisory locks, SKIP LOCKED, and the DSN
// redaction the node's logs rely on.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "postgres_server.h"
#include "postgresql/connection.h"
#include "process.h"

namespace evax::storage::postgresql {
namespace {

using testing::PostgresServer;

class PostgresConnection : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<PostgresServer>(); }
  static void TearDownTestSuite() { server_.reset(); }
  static std::string dsn() { return server_->dsn(); }
  static std::unique_ptr<PostgresServer> server_;
};
std::unique_ptr<PostgresServer> PostgresConnection::server_;

std::int64_t count_rows(Connection& connection, const std::string& table) {
  return connection.execute("SELECT count(*) FROM " + table).integer(0, 0);
}

TEST_F(PostgresConnection, ParametersRoundTripThroughATable) {
  Connection connection(dsn());
  connection.execute("CREATE TABLE round_trip (id int PRIMARY KEY, number bigint, words text)");
  const std::int64_t lowest = std::numeric_limits<std::int64_t>::min();
  const std::int64_t highest = std::numeric_limits<std::int64_t>::max();
  const std::string utf8 = "Lungenödem ✓ 肺 🫁";  // 2-, 3- and 4-byte UTF-8 sequences
  const std::string insert = "INSERT INTO round_trip VALUES ($1, $2, $3)";
  EXPECT_EQ(connection.execute(insert, {1, lowest, utf8}).affected_rows(), 1);
  connection.execute(insert, {2, highest, std::string()});
  connection.execute(insert, {3, std::optional<std::int64_t>(), std::nullopt});
  connection.execute(insert, {4, std::optional<std::int64_t>(-1), std::optional<std::string>("it's; DROP TABLE x")});

  const Result rows = connection.execute("SELECT number, words FROM round_trip ORDER BY id");
  ASSERT_EQ(rows.rows(), 4);
  ASSERT_EQ(rows.columns(), 2);
  EXPECT_EQ(rows.integer(0, 0), lowest);
  EXPECT_EQ(rows.text(0, 1), utf8);
  EXPECT_EQ(rows.integer(1, 0), highest);
  EXPECT_FALSE(rows.is_null(1, 1)) << "the empty string is not NULL";
  EXPECT_EQ(rows.text(1, 1), "");
  EXPECT_TRUE(rows.is_null(2, 0));
  EXPECT_TRUE(rows.is_null(2, 1));
  EXPECT_THROW(rows.integer(2, 0), std::runtime_error) << "NULL is no integer";
  EXPECT_EQ(rows.integer(3, 0), -1);
  EXPECT_EQ(rows.text(3, 1), "it's; DROP TABLE x");
  EXPECT_THROW(rows.text(4, 0), std::out_of_range);
  EXPECT_THROW(rows.text(0, 2), std::out_of_range);
  EXPECT_EQ(connection.execute("SELECT octet_length(words) FROM round_trip WHERE id = 1").integer(0, 0),
            static_cast<std::int64_t>(utf8.size()))
      << "the server stored the UTF-8 bytes, not a re-encoding";
}

TEST_F(PostgresConnection, TransactionNotCommittedIsRolledBack) {
  Connection connection(dsn());
  Connection observer(dsn());
  connection.execute("CREATE TABLE rollback_check (id int PRIMARY KEY)");
  {
    Transaction transaction(connection);
    connection.execute("INSERT INTO rollback_check VALUES (1)");
    EXPECT_EQ(count_rows(connection, "rollback_check"), 1);
    EXPECT_EQ(count_rows(observer, "rollback_check"), 0) << "READ COMMITTED: not visible before COMMIT";
  }
  EXPECT_EQ(count_rows(connection, "rollback_check"), 0);
  {
    Transaction transaction(connection);
    connection.execute("INSERT INTO rollback_check VALUES (2)");
    transaction.commit();
  }
  EXPECT_EQ(count_rows(observer, "rollback_check"), 1);
  EXPECT_EQ(observer.execute("SHOW default_transaction_isolation").text(0, 0), "read committed");
}

TEST_F(PostgresConnection, SqlErrorCarriesItsSqlstateAndKeepsTheConnection) {
  Connection connection(dsn());
  connection.execute("CREATE TABLE unique_check (id int PRIMARY KEY)");
  connection.execute("INSERT INTO unique_check VALUES (1)");
  try {
    connection.execute("INSERT INTO unique_check VALUES ($1)", {1});
    FAIL() << "a duplicate key was accepted";
  } catch (const PostgresError& error) {
    EXPECT_EQ(error.sqlstate(), "23505") << error.what();
    EXPECT_FALSE(error.connection_lost());
    EXPECT_NE(std::string(error.what()).find("unique_check"), std::string::npos) << error.what();
  }
  EXPECT_FALSE(connection.broken());
  EXPECT_EQ(count_rows(connection, "unique_check"), 1);

  // Inside a transaction the failure poisons it: commit() refuses rather than roll back silently.
  {
    Transaction transaction(connection);
    connection.execute("INSERT INTO unique_check VALUES (2)");
    EXPECT_THROW(connection.execute("INSERT INTO unique_check VALUES (1)"), PostgresError);
    try {
      transaction.commit();
      FAIL() << "a failed transaction committed";
    } catch (const PostgresError& error) {
      EXPECT_EQ(error.sqlstate(), "25P02");
      EXPECT_FALSE(error.connection_lost());
    }
  }
  EXPECT_EQ(count_rows(connection, "unique_check"), 1) << "row 2 went with the failed transaction";
}

TEST_F(PostgresConnection, ServerCrashBreaksOldConnectionsAndNewOnesWork) {
  Connection old_connection(dsn());
  old_connection.execute("SELECT 1");
  server_->restart_immediate();
  try {
    old_connection.execute("SELECT 1");
    FAIL() << "a statement succeeded on a connection the server's crash killed";
  } catch (const PostgresError& error) {
    EXPECT_TRUE(error.connection_lost()) << error.what() << " (SQLSTATE '" << error.sqlstate() << "')";
  }
  EXPECT_TRUE(old_connection.broken());
  Connection new_connection(dsn());
  EXPECT_EQ(new_connection.execute("SELECT 41 + 1").integer(0, 0), 42);
}

TEST_F(PostgresConnection, TerminatedBackendIsConnectionLost) {
  Connection victim(dsn());
  Connection admin(dsn());
  const std::int64_t pid = victim.execute("SELECT pg_backend_pid()").integer(0, 0);
  ASSERT_EQ(admin.execute("SELECT pg_terminate_backend($1::int)", {pid}).text(0, 0), "t");
  try {
    // The server's FATAL (57P01) is waiting on the socket, or the socket is already closed.
    victim.execute("SELECT 1");
    FAIL() << "a statement succeeded on a terminated backend";
  } catch (const PostgresError& error) {
    EXPECT_TRUE(error.connection_lost()) << error.what() << " (SQLSTATE '" << error.sqlstate() << "')";
  }
}

TEST_F(PostgresConnection, StoppedServerRefusesConnectionsAsLost) {
  server_->stop();
  try {
    Connection connection(dsn());
    FAIL() << "connected to a stopped server";
  } catch (const PostgresError& error) {
    EXPECT_TRUE(error.connection_lost()) << error.what();
  }
  server_->start();
  EXPECT_EQ(Connection(dsn()).execute("SELECT 1").integer(0, 0), 1);
}

TEST_F(PostgresConnection, AdvisoryLockExcludesAnotherSessionUntilUnlockOrClose) {
  constexpr std::int64_t kKey = 0x65766178;  // "evax"
  Connection first(dsn());
  auto second = std::make_unique<Connection>(dsn());
  ASSERT_TRUE(first.try_advisory_lock(kKey));
  EXPECT_FALSE(second->try_advisory_lock(kKey));
  EXPECT_TRUE(first.advisory_unlock(kKey));
  // The server's WARNING about a lock not held is a notice: dropped, not printed on stderr.
  ::testing::internal::CaptureStderr();
  EXPECT_FALSE(first.advisory_unlock(kKey)) << "no longer held";
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  ASSERT_TRUE(second->try_advisory_lock(kKey));
  EXPECT_FALSE(first.try_advisory_lock(kKey));
  // A closed session (a dead node) releases its locks once its backend has exited: shortly after
  // the close, asynchronously.
  second.reset();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool taken = false;
  while (!(taken = first.try_advisory_lock(kKey)) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(taken) << "the lock outlived its session by 10 s";
}

TEST_F(PostgresConnection, SkipLockedHandsOpenTransactionsDifferentRows) {
  Connection setup(dsn());
  setup.execute_script(
      "CREATE TABLE work_items (id int PRIMARY KEY, claimed_by text);"
      "INSERT INTO work_items SELECT g, NULL FROM generate_series(1, 3) g;");
  const std::string claim =
      "SELECT id FROM work_items WHERE claimed_by IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED";
  Connection node_a(dsn());
  Connection node_b(dsn());
  Transaction claim_a(node_a);
  Transaction claim_b(node_b);
  const Result row_a = node_a.execute(claim);
  const Result row_b = node_b.execute(claim);
  ASSERT_EQ(row_a.rows(), 1);
  ASSERT_EQ(row_b.rows(), 1);
  EXPECT_EQ(row_a.integer(0, 0), 1);
  EXPECT_EQ(row_b.integer(0, 0), 2) << "the row A holds was skipped, not waited for";
  node_a.execute("UPDATE work_items SET claimed_by = $1 WHERE id = $2", {"node-a", row_a.integer(0, 0)});
  claim_a.commit();
  EXPECT_EQ(setup.execute("SELECT count(*) FROM work_items WHERE claimed_by = 'node-a'").integer(0, 0), 1);
}

TEST(PostgresConnectionError, MessageShowsTheDsnRedacted) {
  const std::string dsn =
      "host=127.0.0.1 port=" + std::to_string(testing::free_tcp_port()) + " dbname=x user=evax password=topsecret";
  try {
    Connection connection(dsn);
    FAIL() << "connected to a port nobody listens on";
  } catch (const PostgresError& error) {
    const std::string message = error.what();
    EXPECT_TRUE(error.connection_lost());
    EXPECT_EQ(message.find("topsecret"), std::string::npos) << message;
    EXPECT_NE(message.find("password=***"), std::string::npos) << message;
  }
}

TEST(RedactDsn, KeywordPasswordUnquoted) {
  EXPECT_EQ(redact_dsn("host=db.example port=5432 user=evax password=s3cr3t dbname=evax"),
            "host=db.example port=5432 user=evax password=*** dbname=evax");
  EXPECT_EQ(redact_dsn("password = s3cr3t host=db"), "password = *** host=db");
  EXPECT_EQ(redact_dsn("host=db sslpassword=keypass"), "host=db sslpassword=***");
}

TEST(RedactDsn, KeywordPasswordQuotedWithSpacesAndEscapes) {
  EXPECT_EQ(redact_dsn(R"(host=db password='my s3cr\'et \\ x' sslmode=verify-full)"),
            "host=db password=*** sslmode=verify-full");
  EXPECT_EQ(redact_dsn("password='' host=db"), "password=*** host=db");
  EXPECT_EQ(redact_dsn(R"(password=bare\ s3cr3t host=db)"), "password=*** host=db") << "an escaped space";
}

TEST(RedactDsn, UriUserinfoAndQueryPassword) {
  EXPECT_EQ(redact_dsn("postgresql://evax:s3cr3t@db.example:5432/evax?sslmode=verify-full"),
            "postgresql://evax:***@db.example:5432/evax?sslmode=verify-full");
  EXPECT_EQ(redact_dsn("postgres://evax:p%40ss@db1:5432,db2:5432/evax"), "postgres://evax:***@db1:5432,db2:5432/evax");
  EXPECT_EQ(redact_dsn("postgresql://evax:s3c/r@t@db.example/evax"), "postgresql://evax:***@db.example/evax")
      << "unencoded '/' and '@' in the password";
  EXPECT_EQ(redact_dsn("postgresql://db.example/evax?user=evax&password=s3cr3t&sslmode=require"),
            "postgresql://db.example/evax?user=evax&password=***&sslmode=require");
}

TEST(RedactDsn, WithoutPasswordUnchanged) {
  for (const std::string dsn : {"host=127.0.0.1 port=5432 dbname=evax user=evax", "postgresql://evax@db.example/evax",
                                "postgresql://db.example:5432/evax?sslmode=verify-full", ""})
    EXPECT_EQ(redact_dsn(dsn), dsn);
}

TEST(RedactDsn, MalformedKeywordDsnLeaksNothingAfterTheFault) {
  EXPECT_EQ(redact_dsn("host=db password='s3cr3t"), "host=db ***");
  EXPECT_EQ(redact_dsn("host=db s3cr3t"), "host=db ***");
}

}  // namespace
}  // namespace evax::storage::postgresql
