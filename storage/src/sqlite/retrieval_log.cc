// The SQLite backend's RetrievalLog (see evax/storage/retrieval_log.h).
#include <string>

#include "../retrieval_rows.h"
#include "stores.h"

namespace evax::storage::sqlite {
namespace {

class SqliteRetrievalLog final : public RetrievalLog {
 public:
  SqliteRetrievalLog(const std::string& database_path, std::string node_id) : node_id_(std::move(node_id)), db_(database_path) {}

  std::int64_t add_retrieval(const Retrieval& r) override {
    Transaction t(db_);
    const std::int64_t id = insert(r, std::nullopt);
    t.commit();
    return id;
  }

  std::int64_t add_sweep(const NewSweep& n) override {
    Transaction t(db_);
    const Sweep& s = n.sweep;
    Statement(db_,
              "INSERT INTO sweeps (source, modalities, body_part, date_from, date_to, max_studies, found, already_analysed, "
              "queued, requested_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(1, s.source).bind(2, s.modalities).bind(3, s.body_part).bind(4, s.date_from).bind(5, s.date_to)
        .bind(6, s.max_studies).bind(7, s.found).bind(8, s.already_analysed).bind(9, static_cast<int>(n.retrievals.size()))
        .bind(10, s.requested_by).bind(11, utc_now_iso())
        .run();
    const std::int64_t sweep_id = db_.last_insert_id();
    for (const auto& r : n.retrievals) insert(r, sweep_id);
    t.commit();
    return sweep_id;
  }

  std::optional<Retrieval> claim_next() override {
    Transaction t(db_);
    Statement next(db_, (std::string("SELECT ") + kRetrievalColumns + " FROM retrievals WHERE state = 'queued' ORDER BY id LIMIT 1").c_str());
    if (!next.step()) return std::nullopt;
    Retrieval r = read_retrieval(next);
    r.state = "running";
    r.attempts += 1;
    r.started_at = utc_now_iso();
    Statement(db_, "UPDATE retrievals SET state = 'running', attempts = ?, started_at = ?, claimed_by = ? WHERE id = ?")
        .bind(1, r.attempts).bind(2, r.started_at).bind(3, node_id_).bind(4, r.id)
        .run();
    t.commit();
    return r;
  }

  void finish(std::int64_t id, bool ok, int completed, int failed, int warning, const std::string& detail) override {
    Transaction t(db_);
    Statement(db_,
              "UPDATE retrievals SET state = ?, completed = ?, failed = ?, warning = ?, detail = ?, finished_at = ?, "
              "claimed_by = NULL WHERE id = ?")
        .bind(1, ok ? "done" : "failed").bind(2, completed).bind(3, failed).bind(4, warning).bind(5, detail)
        .bind(6, utc_now_iso()).bind(7, id)
        .run();
    t.commit();
  }

  int requeue_running() override {
    Transaction t(db_);
    Statement(db_, "UPDATE retrievals SET state = 'queued', claimed_by = NULL WHERE state = 'running'").run();
    const int count = db_.changes();
    t.commit();
    return count;
  }

  std::optional<Retrieval> retrieval(std::int64_t id) override {
    auto list = retrievals_where("id = ?", id, 1);
    if (list.empty()) return std::nullopt;
    return list.front();
  }
  std::vector<Retrieval> recent_retrievals(int limit) override { return retrievals_where("1 = ?", 1, limit); }
  std::vector<Retrieval> retrievals_of_sweep(std::int64_t sweep_id) override {
    return retrievals_where("sweep_id = ?", sweep_id, 1'000'000);
  }

  std::optional<Sweep> sweep(std::int64_t id) override {
    auto list = sweeps_where("s.id = ?", id, 1);
    if (list.empty()) return std::nullopt;
    return list.front();
  }
  std::vector<Sweep> recent_sweeps(int limit) override { return sweeps_where("1 = ?", 1, limit); }

  std::vector<std::string> analysed_with(const std::vector<std::string>& uids, const results::Provenance& model) override {
    std::vector<std::string> out;
    Transaction t(db_, Transaction::Mode::read);
    for (const auto& uid : uids) {
      Statement rows(db_,
                     "SELECT ji.probabilities_json FROM studies s JOIN jobs j ON j.study_id = s.id "
                     "JOIN job_images ji ON ji.job_id = j.id "
                     "WHERE s.study_instance_uid = ? AND j.state = 'done' AND ji.decision = 'analysed'");
      rows.bind(1, uid);
      while (rows.step())
        if (analysed_by(rows.text(0), model)) {
          out.push_back(uid);
          break;
        }
    }
    return out;
  }

 private:
  std::int64_t insert(const Retrieval& r, std::optional<std::int64_t> sweep_id) {
    Statement(db_,
              "INSERT INTO retrievals (source, method, study_instance_uid, accession_number, sweep_id, state, requested_by, "
              "created_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)")
        .bind(1, r.source).bind(2, r.method).bind(3, r.study_instance_uid).bind(4, r.accession_number)
        .bind_optional(5, sweep_id).bind(6, r.requested_by).bind(7, utc_now_iso())
        .run();
    return db_.last_insert_id();
  }

  std::vector<Retrieval> retrievals_where(const char* condition, std::int64_t value, int limit) {
    Transaction t(db_, Transaction::Mode::read);
    Statement rows(db_, (std::string("SELECT ") + kRetrievalColumns + " FROM retrievals WHERE " + condition + " ORDER BY id DESC LIMIT ?").c_str());
    rows.bind(1, value).bind(2, limit);
    std::vector<Retrieval> out;
    while (rows.step()) out.push_back(read_retrieval(rows));
    return out;
  }

  std::vector<Sweep> sweeps_where(const char* condition, std::int64_t value, int limit) {
    Transaction t(db_, Transaction::Mode::read);
    Statement rows(db_, (std::string("SELECT ") + kSweepColumns + " FROM sweeps s WHERE " + condition + " ORDER BY s.id DESC LIMIT ?").c_str());
    rows.bind(1, value).bind(2, limit);
    std::vector<Sweep> out;
    while (rows.step()) out.push_back(read_sweep(rows));
    return out;
  }

  const std::string node_id_;
  Database db_;
};

}  // namespace

std::unique_ptr<RetrievalLog> make_retrieval_log(const std::string& database_path, const std::string& node_id) {
  return std::make_unique<SqliteRetrievalLog>(database_path, node_id);
}

}  // namespace evax::storage::sqlite
