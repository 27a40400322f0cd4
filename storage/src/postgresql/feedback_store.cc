#include <cstdio>

#include "rows.h"
#include "stores.h"

namespace evax::storage::postgresql {
namespace {

// A double as a parameter that reads back the same (17 significant digits), NULL when absent.
Param real_param(const std::optional<double>& value) {
  if (!value) return Param(std::nullopt);
  char text[40];
  std::snprintf(text, sizeof text, "%.17g", *value);
  return Param(std::string(text));
}

std::optional<double> optional_real(const Result& r, int row, int column) {
  return r.is_null(row, column) ? std::nullopt : std::optional(std::stod(r.text(row, column)));
}

}  // namespace

Feedback PgFeedbackStore::record(const Feedback& feedback) {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction write(db);
  const Result inserted = db.execute(with_now("INSERT INTO feedback (job_id, reviewer, comment, created_at) "
                                              "VALUES ($1, $2, $3, NOW_ISO) RETURNING id, created_at"),
                                     {feedback.job_id, feedback.reviewer, feedback.comment});
  Feedback stored = feedback;
  stored.id = inserted.integer(0, 0);
  stored.created_at = inserted.text(0, 1);
  int place = 0;
  for (const FeedbackItem& item : feedback.items)
    db.execute("INSERT INTO feedback_items (feedback_id, item, sop_instance_uid, label, verdict, probability, operating_point, value) "
               "VALUES ($1, $2, $3, $4, $5, $6::double precision, $7::double precision, $8)",
               {stored.id, ++place, item.sop_instance_uid, item.label, item.verdict, real_param(item.probability),
                real_param(item.operating_point), item.value});
  write.commit();
  return stored;
}

std::vector<Feedback> PgFeedbackStore::of_job(std::int64_t job_id) {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction read(db, Isolation::repeatable_read);
  const Result rows = db.execute("SELECT id, job_id, reviewer, comment, created_at FROM feedback WHERE job_id = $1 ORDER BY id", {job_id});
  std::vector<Feedback> out;
  for (int row = 0; row < rows.rows(); ++row)
    out.push_back({rows.integer(row, 0), rows.integer(row, 1), rows.text(row, 2), rows.text(row, 3), rows.text(row, 4), {}});
  for (Feedback& feedback : out) {
    const Result items = db.execute(
        "SELECT sop_instance_uid, label, verdict, probability, operating_point, value FROM feedback_items "
        "WHERE feedback_id = $1 ORDER BY item",
        {feedback.id});
    for (int row = 0; row < items.rows(); ++row)
      feedback.items.push_back({items.text(row, 0), items.text(row, 1), items.text(row, 2), optional_real(items, row, 3),
                                optional_real(items, row, 4), static_cast<int>(items.integer(row, 5))});
  }
  read.commit();
  return out;
}

std::map<std::string, std::map<std::string, int>> PgFeedbackStore::labels_from_feedback() {
  // Oldest first, so that the newest verdict on an (image, finding) is the one left.
  const Result rows = session_.hold()->execute("SELECT sop_instance_uid, label, value FROM feedback_items ORDER BY feedback_id, item");
  std::map<std::string, std::map<std::string, int>> out;
  for (int row = 0; row < rows.rows(); ++row) out[rows.text(row, 0)][rows.text(row, 1)] = static_cast<int>(rows.integer(row, 2));
  return out;
}

}  // namespace evax::storage::postgresql
