// The PostgreSQL backend's RetrievalLog (see evax/storage/retrieval_log.h): retrievals are
// claimed with FOR UPDATE SKIP LOCKED and marked with the claiming node, so that several nodes
// share one queue; a node requeues only its own at start.
#include <string>

#include "../retrieval_rows.h"
#include "rows.h"
#include "stores.h"

namespace evax::storage::postgresql {
namespace {

// One row of a Result, as read_retrieval / read_sweep read it.
struct Row {
  const Result& result;
  int row;
  std::int64_t integer(int column) const { return result.integer(row, column); }
  std::string text(int column) const { return result.text(row, column); }
  bool is_null(int column) const { return result.is_null(row, column); }
};

class PgRetrievalLog final : public RetrievalLog {
 public:
  explicit PgRetrievalLog(const Identity& identity) : node_id_(identity.node_id), session_(identity.dsn) {}

  std::int64_t add_retrieval(const Retrieval& r) override {
    auto db = session_.hold();
    return insert(*db, r, std::nullopt);
  }

  std::int64_t add_sweep(const NewSweep& n) override {
    auto db = session_.hold();
    Transaction t(*db);
    const Sweep& s = n.sweep;
    const Result inserted = db->execute(
        with_now("INSERT INTO sweeps (source, modalities, body_part, date_from, date_to, max_studies, found, already_analysed, "
                 "queued, requested_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NOW_ISO) RETURNING id"),
        {s.source, s.modalities, s.body_part, s.date_from, s.date_to, s.max_studies, s.found, s.already_analysed,
         static_cast<int>(n.retrievals.size()), s.requested_by});
    const std::int64_t sweep_id = inserted.integer(0, 0);
    for (const auto& r : n.retrievals) insert(*db, r, sweep_id);
    t.commit();
    return sweep_id;
  }

  std::optional<Retrieval> claim_next() override {
    auto db = session_.hold();
    const Result r = db->execute(
        with_now(std::string("UPDATE retrievals SET state = 'running', attempts = attempts + 1, started_at = NOW_ISO, "
                             "claimed_by = $1 WHERE id = (SELECT id FROM retrievals WHERE state = 'queued' ORDER BY id "
                             "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING ") + kRetrievalColumns),
        {node_id_});
    if (r.rows() == 0) return std::nullopt;
    return read_retrieval(Row{r, 0});
  }

  void finish(std::int64_t id, bool ok, int completed, int failed, int warning, const std::string& detail) override {
    session_.hold()->execute(
        with_now("UPDATE retrievals SET state = $1, completed = $2, failed = $3, warning = $4, detail = $5, "
                 "finished_at = NOW_ISO, claimed_by = NULL WHERE id = $6"),
        {ok ? "done" : "failed", completed, failed, warning, detail, id});
  }

  int requeue_running() override {
    const Result r = session_.hold()->execute(
        "UPDATE retrievals SET state = 'queued', claimed_by = NULL WHERE state = 'running' AND claimed_by = $1", {node_id_});
    return static_cast<int>(r.affected_rows());
  }

  std::optional<Retrieval> retrieval(std::int64_t id) override {
    auto list = retrievals_where("id = $1", id, 1);
    if (list.empty()) return std::nullopt;
    return list.front();
  }
  std::vector<Retrieval> recent_retrievals(int limit) override { return retrievals_where("1 = $1", 1, limit); }
  std::vector<Retrieval> retrievals_of_sweep(std::int64_t sweep_id) override {
    return retrievals_where("sweep_id = $1", sweep_id, 1'000'000);
  }

  std::optional<Sweep> sweep(std::int64_t id) override {
    auto list = sweeps_where("s.id = $1", id, 1);
    if (list.empty()) return std::nullopt;
    return list.front();
  }
  std::vector<Sweep> recent_sweeps(int limit) override { return sweeps_where("1 = $1", 1, limit); }

  std::vector<std::string> analysed_with(const std::vector<std::string>& uids, const results::Provenance& model) override {
    std::vector<std::string> out;
    auto db = session_.hold();
    for (const auto& uid : uids) {
      const Result rows = db->execute(
          "SELECT ji.probabilities_json FROM studies s JOIN jobs j ON j.study_id = s.id "
          "JOIN job_images ji ON ji.job_id = j.id "
          "WHERE s.study_instance_uid = $1 AND j.state = 'done' AND ji.decision = 'analysed'",
          {uid});
      for (int row = 0; row < rows.rows(); ++row)
        if (analysed_by(rows.text(row, 0), model)) {
          out.push_back(uid);
          break;
        }
    }
    return out;
  }

 private:
  static std::int64_t insert(Connection& db, const Retrieval& r, std::optional<std::int64_t> sweep_id) {
    const Result inserted = db.execute(
        with_now("INSERT INTO retrievals (source, method, study_instance_uid, accession_number, sweep_id, state, "
                 "requested_by, created_at) VALUES ($1, $2, $3, $4, $5::bigint, 'queued', $6, NOW_ISO) RETURNING id"),
        {r.source, r.method, r.study_instance_uid, r.accession_number, sweep_id, r.requested_by});
    return inserted.integer(0, 0);
  }

  std::vector<Retrieval> retrievals_where(const char* condition, std::int64_t value, int limit) {
    const Result rows = session_.hold()->execute(
        std::string("SELECT ") + kRetrievalColumns + " FROM retrievals WHERE " + condition + " ORDER BY id DESC LIMIT $2",
        {value, limit});
    std::vector<Retrieval> out;
    for (int row = 0; row < rows.rows(); ++row) out.push_back(read_retrieval(Row{rows, row}));
    return out;
  }

  std::vector<Sweep> sweeps_where(const char* condition, std::int64_t value, int limit) {
    const Result rows = session_.hold()->execute(
        std::string("SELECT ") + kSweepColumns + " FROM sweeps s WHERE " + condition + " ORDER BY s.id DESC LIMIT $2",
        {value, limit});
    std::vector<Sweep> out;
    for (int row = 0; row < rows.rows(); ++row) out.push_back(read_sweep(Row{rows, row}));
    return out;
  }

  const std::string node_id_;
  Session session_;
};

}  // namespace

std::unique_ptr<RetrievalLog> make_retrieval_log(const Identity& identity) { return std::make_unique<PgRetrievalLog>(identity); }

}  // namespace evax::storage::postgresql
