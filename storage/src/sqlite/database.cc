#include "database.h"

#include <algorithm>
#include <chrono>
#include <thread>


namespace evax::storage::sqlite {
namespace {

// Each entry moves the schema one version up; never edit one that has shipped, add another.
const char* const kMigrations[] = {
    // 1: instances, studies, quarantine, jobs and per-image results
    R"sql(
    CREATE TABLE studies (
      id INTEGER PRIMARY KEY,
      study_instance_uid TEXT NOT NULL UNIQUE,
      instance_count INTEGER NOT NULL DEFAULT 0,
      covered_instance_id INTEGER NOT NULL DEFAULT 0,  -- instances up to this id have a job
      first_received_at TEXT NOT NULL,
      last_received_at TEXT NOT NULL
    );
    CREATE TABLE instances (
      id INTEGER PRIMARY KEY,
      study_id INTEGER NOT NULL REFERENCES studies(id),
      sop_instance_uid TEXT NOT NULL UNIQUE,
      sop_class_uid TEXT NOT NULL,
      series_instance_uid TEXT NOT NULL,
      transfer_syntax_uid TEXT NOT NULL,
      modality TEXT NOT NULL,
      body_part_examined TEXT NOT NULL,
      view_position TEXT NOT NULL,
      view_code TEXT NOT NULL,
      presentation_intent TEXT NOT NULL,
      manufacturer TEXT NOT NULL,
      image_type TEXT NOT NULL,
      rows INTEGER NOT NULL,
      columns INTEGER NOT NULL,
      file_path TEXT,                 -- NULL once purged
      size_bytes INTEGER NOT NULL,
      calling_ae_title TEXT NOT NULL,
      peer_address TEXT NOT NULL,
      received_at TEXT NOT NULL,
      purged_at TEXT
    );
    CREATE INDEX instances_by_study ON instances(study_id, id);
    CREATE INDEX instances_by_arrival ON instances(received_at) WHERE file_path IS NOT NULL;
    CREATE TABLE quarantine (
      id INTEGER PRIMARY KEY,
      sop_instance_uid TEXT NOT NULL,
      claimed_study_instance_uid TEXT NOT NULL,
      known_study_instance_uid TEXT NOT NULL,
      file_path TEXT NOT NULL,
      calling_ae_title TEXT NOT NULL,
      peer_address TEXT NOT NULL,
      received_at TEXT NOT NULL
    );
    CREATE TABLE jobs (
      id INTEGER PRIMARY KEY,
      study_id INTEGER NOT NULL REFERENCES studies(id),
      state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'skipped', 'failed')),
      reason TEXT NOT NULL DEFAULT '',
      attempts INTEGER NOT NULL DEFAULT 0,
      last_error TEXT NOT NULL DEFAULT '',
      max_instance_id INTEGER NOT NULL,
      supersedes_job_id INTEGER REFERENCES jobs(id),
      received_at TEXT NOT NULL,
      complete_at TEXT NOT NULL,
      queued_at TEXT NOT NULL,
      started_at TEXT,
      inferred_at TEXT,
      reported_at TEXT,
      delivered_at TEXT,
      finished_at TEXT,
      next_attempt_at TEXT
    );
    CREATE INDEX jobs_by_state ON jobs(state, id);
    CREATE INDEX jobs_by_study ON jobs(study_id, id);
    CREATE TABLE job_images (
      job_id INTEGER NOT NULL REFERENCES jobs(id),
      instance_id INTEGER NOT NULL REFERENCES instances(id),
      decision TEXT NOT NULL CHECK (decision IN ('analysed', 'skipped', 'failed')),
      reason_code TEXT NOT NULL DEFAULT '',
      detail TEXT NOT NULL DEFAULT '',
      probabilities_json TEXT NOT NULL DEFAULT '',
      cams_json TEXT NOT NULL DEFAULT '',
      PRIMARY KEY (job_id, instance_id)
    );
    )sql",
    // 2: the results of a job and their delivery to each destination (the outbox)
    R"sql(
    CREATE TABLE outputs (
      id INTEGER PRIMARY KEY,
      job_id INTEGER NOT NULL REFERENCES jobs(id),
      kind TEXT NOT NULL,                       -- sr | sc
      sop_class_uid TEXT NOT NULL,
      sop_instance_uid TEXT NOT NULL UNIQUE,    -- the same on every delivery attempt
      series_instance_uid TEXT NOT NULL,
      study_instance_uid TEXT NOT NULL,
      source_instance_id INTEGER REFERENCES instances(id),  -- the image an SC shows
      file_path TEXT,                           -- NULL once purged
      size_bytes INTEGER NOT NULL,
      created_at TEXT NOT NULL
    );
    CREATE INDEX outputs_by_job ON outputs(job_id);
    CREATE TABLE deliveries (
      id INTEGER PRIMARY KEY,
      output_id INTEGER NOT NULL REFERENCES outputs(id),
      destination TEXT NOT NULL,                -- the destination's name in the config
      state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'dead')),
      attempts INTEGER NOT NULL DEFAULT 0,
      last_status TEXT NOT NULL DEFAULT '',
      created_at TEXT NOT NULL,
      next_attempt_at TEXT,
      finished_at TEXT,
      UNIQUE (output_id, destination)
    );
    CREATE INDEX deliveries_by_destination ON deliveries(destination, state, id);
    CREATE TABLE delivery_attempts (
      id INTEGER PRIMARY KEY,
      delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
      started_at TEXT NOT NULL,
      finished_at TEXT,
      outcome TEXT NOT NULL CHECK (outcome IN ('sending', 'delivered', 'retryable', 'permanent', 'interrupted')),
      dimse_status INTEGER,                     -- the C-STORE response status, when one came
      detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX attempts_by_delivery ON delivery_attempts(delivery_id, id);
    )sql",
    // 3: why a late arrival started no re-analysis (the intake rules skip it: nothing to add)
    R"sql(
    ALTER TABLE instances ADD COLUMN not_reanalysed_reason TEXT;  -- NULL unless so
    )sql",
    // 4: each store owns its tables. Which instances a job covers and why a late arrival
    // started no re-analysis are the job queue's, so they leave the instance index's tables.
    R"sql(
    CREATE TABLE study_coverage (
      study_id INTEGER PRIMARY KEY REFERENCES studies(id),
      covered_instance_id INTEGER NOT NULL      -- instances up to this id have a job
    );
    INSERT INTO study_coverage (study_id, covered_instance_id)
      SELECT id, covered_instance_id FROM studies WHERE covered_instance_id > 0;
    CREATE TABLE arrivals_not_reanalysed (
      instance_id INTEGER PRIMARY KEY REFERENCES instances(id),
      reason TEXT NOT NULL                      -- the intake rules' reason code and text
    );
    INSERT INTO arrivals_not_reanalysed (instance_id, reason)
      SELECT id, not_reanalysed_reason FROM instances WHERE not_reanalysed_reason IS NOT NULL;
    ALTER TABLE instances DROP COLUMN not_reanalysed_reason;
    ALTER TABLE studies DROP COLUMN covered_instance_id;
    )sql",
    // 5: which node holds a job or a delivery, and the nodes (one, on SQLite) for the nodes view
    R"sql(
    ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
    ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
    CREATE TABLE nodes (
      id TEXT PRIMARY KEY,
      address TEXT NOT NULL,
      version TEXT NOT NULL,
      started_at TEXT NOT NULL,
      last_heartbeat TEXT NOT NULL
    );
    )sql",
    // 6: how a destination that refused an output's SOP class got it instead ('' = as made)
    R"sql(
    ALTER TABLE deliveries ADD COLUMN substitution TEXT NOT NULL DEFAULT '';
    )sql",
    // 7: radiologists' feedback on a job's findings, each item a 0/1 label for one image and
    // finding; and the index drift monitoring reads images by arrival through
    R"sql(
    CREATE TABLE feedback (
      id INTEGER PRIMARY KEY,
      job_id INTEGER NOT NULL REFERENCES jobs(id),
      reviewer TEXT NOT NULL,
      comment TEXT NOT NULL DEFAULT '',
      created_at TEXT NOT NULL
    );
    CREATE INDEX feedback_by_job ON feedback(job_id, id);
    CREATE TABLE feedback_items (
      feedback_id INTEGER NOT NULL REFERENCES feedback(id),
      sop_instance_uid TEXT NOT NULL,
      label TEXT NOT NULL,
      verdict TEXT NOT NULL CHECK (verdict IN ('agree', 'disagree', 'present', 'absent')),
      probability REAL,                         -- the model's, for agree / disagree
      operating_point REAL,
      value INTEGER NOT NULL CHECK (value IN (0, 1)),
      PRIMARY KEY (feedback_id, sop_instance_uid, label)
    );
    CREATE INDEX instances_by_received_at ON instances(received_at);
    )sql",
    // 8: studies pulled from a PACS (retrievals) and the C-FIND sweeps that queued them
    R"sql(
    CREATE TABLE sweeps (
      id INTEGER PRIMARY KEY,
      source TEXT NOT NULL,
      modalities TEXT NOT NULL,
      body_part TEXT NOT NULL,
      date_from TEXT NOT NULL,
      date_to TEXT NOT NULL,
      max_studies INTEGER NOT NULL,
      found INTEGER NOT NULL,
      already_analysed INTEGER NOT NULL,
      queued INTEGER NOT NULL,
      requested_by TEXT NOT NULL,
      created_at TEXT NOT NULL
    );
    CREATE TABLE retrievals (
      id INTEGER PRIMARY KEY,
      source TEXT NOT NULL,
      method TEXT NOT NULL,
      study_instance_uid TEXT NOT NULL,
      accession_number TEXT NOT NULL,
      sweep_id INTEGER REFERENCES sweeps(id),
      state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
      attempts INTEGER NOT NULL DEFAULT 0,
      completed INTEGER NOT NULL DEFAULT 0,
      failed INTEGER NOT NULL DEFAULT 0,
      warning INTEGER NOT NULL DEFAULT 0,
      detail TEXT NOT NULL DEFAULT '',
      requested_by TEXT NOT NULL,
      created_at TEXT NOT NULL,
      started_at TEXT,
      finished_at TEXT,
      claimed_by TEXT
    );
    CREATE INDEX retrievals_by_state ON retrievals(state, id);
    CREATE INDEX retrievals_by_sweep ON retrievals(sweep_id);
    )sql",
    // 9: analysis priority (0 routine, 1 high, 2 stat): a study's is the highest of its
    // instances'; a job takes its study's when queued or extended; workers claim by it, then by id.
    R"sql(
    ALTER TABLE studies ADD COLUMN priority INTEGER NOT NULL DEFAULT 0 CHECK (priority IN (0, 1, 2));
    ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0 CHECK (priority IN (0, 1, 2));
    CREATE INDEX jobs_by_claim_order ON jobs(state, priority DESC, id);
    )sql",
};

// Busy or locked past the busy handler's wait, or the file cannot be opened: the database is
// unavailable for now, not the statement wrong.
bool unavailable(int code) {
  const int primary = code & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_CANTOPEN;
}

[[noreturn]] void throw_error(int code, const std::string& message) {
  if (unavailable(code)) throw UnavailableError(message);
  throw StorageError(message);
}

[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  throw_error(db ? sqlite3_extended_errcode(db) : SQLITE_ERROR, what + ": " + (db ? sqlite3_errmsg(db) : "no database"));
}

}  // namespace

int latest_schema_version() { return static_cast<int>(std::size(kMigrations)); }

Statement::Statement(Database& db, const char* sql) : db_(db.handle()) {
  if (sqlite3_prepare_v2(db_, sql, -1, &statement_, nullptr) != SQLITE_OK) fail(db_, "cannot prepare statement");
}

Statement::~Statement() { sqlite3_finalize(statement_); }

Statement& Statement::bind(int index, std::int64_t value) {
  if (sqlite3_bind_int64(statement_, index, value) != SQLITE_OK) fail(db_, "cannot bind");
  return *this;
}

Statement& Statement::bind(int index, const std::string& value) {
  if (sqlite3_bind_text(statement_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT) != SQLITE_OK)
    fail(db_, "cannot bind");
  return *this;
}

Statement& Statement::bind(int index, double value) {
  if (sqlite3_bind_double(statement_, index, value) != SQLITE_OK) fail(db_, "cannot bind");
  return *this;
}

Statement& Statement::bind_null(int index) {
  if (sqlite3_bind_null(statement_, index) != SQLITE_OK) fail(db_, "cannot bind");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(statement_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, "statement failed");
}

std::int64_t Statement::integer(int column) const { return sqlite3_column_int64(statement_, column); }

double Statement::real(int column) const { return sqlite3_column_double(statement_, column); }

std::string Statement::text(int column) const {
  const auto* value = sqlite3_column_text(statement_, column);
  return value ? std::string(reinterpret_cast<const char*>(value), static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)))
               : std::string();
}

bool Statement::is_null(int column) const { return sqlite3_column_type(statement_, column) == SQLITE_NULL; }

Database::Database(const std::string& path, int migrate_to) {
  if (const int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
      rc != SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw_error(rc, "cannot open database " + path + ": " + message);
  }
  // Another connection's lock is waited for, polling every few milliseconds (SQLite's own
  // handler backs off to 100 ms and can miss short gaps between a busy writer's transactions).
  sqlite3_busy_handler(db_, &Database::wait_while_busy, nullptr);
  execute("PRAGMA journal_mode=WAL");
  execute("PRAGMA synchronous=FULL");  // a commit is on disk before a C-STORE is answered
  execute("PRAGMA foreign_keys=ON");
  migrate(migrate_to);
}

Database::~Database() { sqlite3_close(db_); }

int Database::wait_while_busy(void*, int attempts) {
  constexpr int kPollMs = 3;
  constexpr int kGiveUpMs = 30000;
  if (attempts * kPollMs >= kGiveUpMs) return 0;
  std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  return 1;
}

void Database::execute(const char* sql) {
  char* message = nullptr;
  if (const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message); rc != SQLITE_OK) {
    const std::string text = message ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    throw_error(sqlite3_extended_errcode(db_), std::string("SQL failed: ") + text);
  }
}

int Database::schema_version() {
  Statement version(*this, "PRAGMA user_version");
  version.step();
  return static_cast<int>(version.integer(0));
}

void Database::migrate(int migrate_to) {
  Transaction transaction(*this);
  const int current = schema_version();
  const int latest = latest_schema_version();
  const int target = migrate_to == kLatest ? latest : std::min(migrate_to, latest);
  if (current > latest)
    throw StorageError("database schema version " + std::to_string(current) + " is newer than this node (" +
                       std::to_string(latest) + "); refusing to touch it");
  for (int version = current; version < target; ++version) {
    execute(kMigrations[version]);
    execute(("PRAGMA user_version=" + std::to_string(version + 1)).c_str());
  }
  transaction.commit();
}

Transaction::Transaction(Database& db, Mode mode) : db_(db), lock_(db.mutex()) {
  db_.execute(mode == Mode::write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
}

Transaction::~Transaction() {
  if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.execute("COMMIT");
  done_ = true;
}

}  // namespace evax::storage::sqlite
