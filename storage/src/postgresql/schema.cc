#include "schema.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <string>
#include <thread>

#include "evax/storage/storage_backend.h"

namespace evax::storage::postgresql {
namespace {

// Each entry moves the schema one version up; never edit one that has shipped, add another.
// Times are ISO 8601 UTC text, as in the SQLite backend, from the database's clock.
const char* const kMigrations[] = {
    // 1: the SQLite schema as of its version 4, with claims (which node holds a job or a
    // delivery) and the nodes of the cluster.
    R"sql(
    CREATE TABLE studies (
      id BIGSERIAL PRIMARY KEY,
      study_instance_uid TEXT NOT NULL UNIQUE,
      instance_count BIGINT NOT NULL DEFAULT 0,
      first_received_at TEXT NOT NULL,
      last_received_at TEXT NOT NULL,
      last_received_ts TIMESTAMPTZ NOT NULL DEFAULT now()   -- the quiet period runs on this clock
    );
    CREATE TABLE instances (
      id BIGSERIAL PRIMARY KEY,
      study_id BIGINT NOT NULL REFERENCES studies(id),
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
      file_path TEXT,
      size_bytes BIGINT NOT NULL,
      calling_ae_title TEXT NOT NULL,
      peer_address TEXT NOT NULL,
      received_at TEXT NOT NULL,
      purged_at TEXT,
      received_by TEXT NOT NULL                       -- the node that acknowledged it
    );
    CREATE INDEX studies_by_last_arrival ON studies(last_received_ts);
    CREATE INDEX instances_by_study ON instances(study_id, id);
    CREATE INDEX instances_by_arrival ON instances(received_at) WHERE file_path IS NOT NULL;
    CREATE TABLE quarantine (
      id BIGSERIAL PRIMARY KEY,
      sop_instance_uid TEXT NOT NULL,
      claimed_study_instance_uid TEXT NOT NULL,
      known_study_instance_uid TEXT NOT NULL,
      file_path TEXT NOT NULL,
      calling_ae_title TEXT NOT NULL,
      peer_address TEXT NOT NULL,
      received_at TEXT NOT NULL
    );
    CREATE TABLE jobs (
      id BIGSERIAL PRIMARY KEY,
      study_id BIGINT NOT NULL REFERENCES studies(id),
      state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'skipped', 'failed')),
      reason TEXT NOT NULL DEFAULT '',
      attempts INTEGER NOT NULL DEFAULT 0,
      last_error TEXT NOT NULL DEFAULT '',
      max_instance_id BIGINT NOT NULL,
      supersedes_job_id BIGINT REFERENCES jobs(id),
      received_at TEXT NOT NULL,
      complete_at TEXT NOT NULL,
      queued_at TEXT NOT NULL,
      started_at TEXT,
      inferred_at TEXT,
      reported_at TEXT,
      delivered_at TEXT,
      finished_at TEXT,
      next_attempt_at TEXT,
      claimed_by TEXT                                 -- the node running it
    );
    CREATE INDEX jobs_by_state ON jobs(state, id);
    CREATE INDEX jobs_by_study ON jobs(study_id, id);
    CREATE TABLE job_images (
      job_id BIGINT NOT NULL REFERENCES jobs(id),
      instance_id BIGINT NOT NULL REFERENCES instances(id),
      decision TEXT NOT NULL CHECK (decision IN ('analysed', 'skipped', 'failed')),
      reason_code TEXT NOT NULL DEFAULT '',
      detail TEXT NOT NULL DEFAULT '',
      probabilities_json TEXT NOT NULL DEFAULT '',
      cams_json TEXT NOT NULL DEFAULT '',
      PRIMARY KEY (job_id, instance_id)
    );
    CREATE TABLE study_coverage (
      study_id BIGINT PRIMARY KEY REFERENCES studies(id),
      covered_instance_id BIGINT NOT NULL
    );
    CREATE TABLE arrivals_not_reanalysed (
      instance_id BIGINT PRIMARY KEY REFERENCES instances(id),
      reason TEXT NOT NULL
    );
    CREATE TABLE outputs (
      id BIGSERIAL PRIMARY KEY,
      job_id BIGINT NOT NULL REFERENCES jobs(id),
      kind TEXT NOT NULL,
      sop_class_uid TEXT NOT NULL,
      sop_instance_uid TEXT NOT NULL UNIQUE,
      series_instance_uid TEXT NOT NULL,
      study_instance_uid TEXT NOT NULL,
      source_instance_id BIGINT REFERENCES instances(id),
      file_path TEXT,
      size_bytes BIGINT NOT NULL,
      created_at TEXT NOT NULL
    );
    CREATE INDEX outputs_by_job ON outputs(job_id);
    CREATE TABLE deliveries (
      id BIGSERIAL PRIMARY KEY,
      output_id BIGINT NOT NULL REFERENCES outputs(id),
      destination TEXT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'dead')),
      attempts INTEGER NOT NULL DEFAULT 0,
      last_status TEXT NOT NULL DEFAULT '',
      created_at TEXT NOT NULL,
      next_attempt_at TEXT,
      finished_at TEXT,
      claimed_by TEXT,                                -- the node sending it
      UNIQUE (output_id, destination)
    );
    CREATE INDEX deliveries_by_destination ON deliveries(destination, state, id);
    CREATE TABLE delivery_attempts (
      id BIGSERIAL PRIMARY KEY,
      delivery_id BIGINT NOT NULL REFERENCES deliveries(id),
      started_at TEXT NOT NULL,
      finished_at TEXT,
      outcome TEXT NOT NULL CHECK (outcome IN ('sending', 'delivered', 'retryable', 'permanent', 'interrupted')),
      dimse_status INTEGER,
      detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX attempts_by_delivery ON delivery_attempts(delivery_id, id);
    CREATE TABLE nodes (
      id TEXT PRIMARY KEY,
      address TEXT NOT NULL,
      version TEXT NOT NULL,
      started_at TEXT NOT NULL,
      last_heartbeat TIMESTAMPTZ NOT NULL
    );
    )sql",
    // 2: how a destination that refused an output's SOP class got it instead ('' = as made)
    R"sql(
    ALTER TABLE deliveries ADD COLUMN substitution TEXT NOT NULL DEFAULT '';
    )sql",
    // 3: radiologists' feedback on a job's findings, each item a 0/1 label for one image and
    // finding; and the index drift monitoring reads images by arrival through
    R"sql(
    CREATE TABLE feedback (
      id BIGSERIAL PRIMARY KEY,
      job_id BIGINT NOT NULL REFERENCES jobs(id),
      reviewer TEXT NOT NULL,
      comment TEXT NOT NULL DEFAULT '',
      created_at TEXT NOT NULL
    );
    CREATE INDEX feedback_by_job ON feedback(job_id, id);
    CREATE TABLE feedback_items (
      feedback_id BIGINT NOT NULL REFERENCES feedback(id),
      item INTEGER NOT NULL,                    -- its place in the request
      sop_instance_uid TEXT NOT NULL,
      label TEXT NOT NULL,
      verdict TEXT NOT NULL CHECK (verdict IN ('agree', 'disagree', 'present', 'absent')),
      probability DOUBLE PRECISION,             -- the model's, for agree / disagree
      operating_point DOUBLE PRECISION,
      value INTEGER NOT NULL CHECK (value IN (0, 1)),
      PRIMARY KEY (feedback_id, sop_instance_uid, label)
    );
    CREATE INDEX instances_by_received_at ON instances(received_at);
    )sql",
    // 4: studies pulled from a PACS (retrievals) and the C-FIND sweeps that queued them
    R"sql(
    CREATE TABLE sweeps (
      id BIGSERIAL PRIMARY KEY,
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
      id BIGSERIAL PRIMARY KEY,
      source TEXT NOT NULL,
      method TEXT NOT NULL,
      study_instance_uid TEXT NOT NULL,
      accession_number TEXT NOT NULL,
      sweep_id BIGINT REFERENCES sweeps(id),
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
      claimed_by TEXT                                 -- the node running it
    );
    CREATE INDEX retrievals_by_state ON retrievals(state, id);
    CREATE INDEX retrievals_by_sweep ON retrievals(sweep_id);
    )sql",
    // 5: analysis priority (0 routine, 1 high, 2 stat): a study's is the highest of its
    // instances'; a job takes its study's when queued or extended; workers claim by it, then by id.
    R"sql(
    ALTER TABLE studies ADD COLUMN priority SMALLINT NOT NULL DEFAULT 0 CHECK (priority IN (0, 1, 2));
    ALTER TABLE jobs ADD COLUMN priority SMALLINT NOT NULL DEFAULT 0 CHECK (priority IN (0, 1, 2));
    CREATE INDEX jobs_by_claim_order ON jobs(state, priority DESC, id);
    )sql",
};

}  // namespace

int latest_schema_version() { return static_cast<int>(std::size(kMigrations)); }

void migrate(Connection& connection, int target_version) {
  // One node migrates at a time; the others wait here, then find the work done.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!connection.try_advisory_lock(kMigrationLock)) {
    if (std::chrono::steady_clock::now() > give_up)
      throw StorageError("another node has held the schema migration lock for 60 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  struct Unlock {
    Connection& c;
    ~Unlock() {
      try {
        if (!c.broken()) c.advisory_unlock(kMigrationLock);
      } catch (...) {
      }
    }
  } unlock{connection};

  connection.execute("CREATE TABLE IF NOT EXISTS evax_schema (version INTEGER NOT NULL)");
  const Result current_row = connection.execute("SELECT version FROM evax_schema");
  const int current = current_row.rows() == 0 ? 0 : static_cast<int>(current_row.integer(0, 0));
  const int latest = latest_schema_version();
  if (current > latest)
    throw StorageError("database schema version " + std::to_string(current) + " is newer than this node (" +
                       std::to_string(latest) + "); refusing to touch it");
  for (int version = current; version < std::min(target_version, latest); ++version) {
    Transaction transaction(connection);
    connection.execute_script(kMigrations[version]);
    connection.execute("DELETE FROM evax_schema");
    connection.execute("INSERT INTO evax_schema (version) VALUES ($1)", {version + 1});
    transaction.commit();
  }
}

}  // namespace evax::storage::postgresql
