#include "stores.h"

namespace evax::storage::sqlite {
namespace {

std::optional<double> optional_real(const Statement& query, int column) {
  return query.is_null(column) ? std::nullopt : std::optional(query.real(column));
}

}  // namespace

Feedback SqliteFeedbackStore::record(const Feedback& feedback) {
  Transaction write(db_);
  Feedback stored = feedback;
  stored.created_at = utc_now_iso();
  Statement insert(db_, "INSERT INTO feedback (job_id, reviewer, comment, created_at) VALUES (?, ?, ?, ?)");
  insert.bind(1, feedback.job_id).bind(2, feedback.reviewer).bind(3, feedback.comment).bind(4, stored.created_at).run();
  stored.id = db_.last_insert_id();
  for (const FeedbackItem& item : feedback.items) {
    Statement add(db_,
                  "INSERT INTO feedback_items (feedback_id, sop_instance_uid, label, verdict, probability, operating_point, value) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?)");
    add.bind(1, stored.id).bind(2, item.sop_instance_uid).bind(3, item.label).bind(4, item.verdict);
    item.probability ? add.bind(5, *item.probability) : add.bind_null(5);
    item.operating_point ? add.bind(6, *item.operating_point) : add.bind_null(6);
    add.bind(7, item.value).run();
  }
  write.commit();
  return stored;
}

std::vector<Feedback> SqliteFeedbackStore::of_job(std::int64_t job_id) {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_, "SELECT id, job_id, reviewer, comment, created_at FROM feedback WHERE job_id = ? ORDER BY id");
  query.bind(1, job_id);
  std::vector<Feedback> out;
  while (query.step()) out.push_back({query.integer(0), query.integer(1), query.text(2), query.text(3), query.text(4), {}});
  for (Feedback& feedback : out) {
    Statement items(db_,
                    "SELECT sop_instance_uid, label, verdict, probability, operating_point, value FROM feedback_items "
                    "WHERE feedback_id = ? ORDER BY rowid");
    items.bind(1, feedback.id);
    while (items.step())
      feedback.items.push_back({items.text(0), items.text(1), items.text(2), optional_real(items, 3), optional_real(items, 4),
                                static_cast<int>(items.integer(5))});
  }
  return out;
}

std::map<std::string, std::map<std::string, int>> SqliteFeedbackStore::labels_from_feedback() {
  Transaction read(db_, Transaction::Mode::read);
  // Oldest first, so that the newest verdict on an (image, finding) is the one left.
  Statement query(db_, "SELECT sop_instance_uid, label, value FROM feedback_items ORDER BY feedback_id");
  std::map<std::string, std::map<std::string, int>> out;
  while (query.step()) out[query.text(0)][query.text(1)] = static_cast<int>(query.integer(2));
  return out;
}

}  // namespace evax::storage::sqlite
