// POST and GET /api/v1/jobs/{id}/feedback: a radiologist's verdicts on a job's findings,
// turned into 0/1 labels per image and finding when given (README, "Radiologist feedback").
#include <set>

#include "api.h"
#include "job_views.h"

namespace evax::admin {
namespace {

constexpr std::size_t kMaxCommentBytes = 2000;
constexpr std::size_t kMaxFindings = 64;

HttpResponse created(const json& body) {
  HttpResponse response;
  response.status = 201;
  response.body = body.dump(2);
  response.headers.push_back({"Cache-Control", "no-store"});
  return response;
}

HttpResponse bad_body(const std::string& message) { return error_response(400, "bad_request", message); }

}  // namespace

HttpResponse AdminApi::post_feedback(std::int64_t job_id, const Call& call) {
  const HttpRequest& request = call.request;
  const auto job = read_->job(job_id);
  if (!job) return error_response(404, "not_found", "no job " + std::to_string(job_id));

  json body;
  try {
    body = json::parse(request.body);
  } catch (const json::parse_error&) {
    return bad_body("the body must be a JSON object: {\"findings\": {\"<finding>\": \"agree|disagree|present|absent\"}, "
                    "\"sop_instance_uid\"?: \"...\", \"comment\"?: \"...\"}");
  }
  if (!body.is_object()) return bad_body("the body must be a JSON object");
  for (const auto& [key, value] : body.items())
    if (key != "findings" && key != "sop_instance_uid" && key != "comment")
      return bad_body("unknown key '" + key + "' (findings, sop_instance_uid, comment)");
  if (!body.contains("findings") || !body["findings"].is_object() || body["findings"].empty())
    return bad_body("findings must be an object with at least one finding: {\"Effusion\": \"agree\"}");
  if (body["findings"].size() > kMaxFindings) return bad_body("findings: at most " + std::to_string(kMaxFindings) + " findings");
  std::string sop_instance_uid, comment;
  if (body.contains("sop_instance_uid")) {
    if (!body["sop_instance_uid"].is_string() || body["sop_instance_uid"].get<std::string>().empty())
      return bad_body("sop_instance_uid must be a non-empty string");
    sop_instance_uid = body["sop_instance_uid"].get<std::string>();
  }
  if (body.contains("comment")) {
    if (!body["comment"].is_string()) return bad_body("comment must be a string");
    comment = body["comment"].get<std::string>();
    if (comment.size() > kMaxCommentBytes) return bad_body("comment: at most " + std::to_string(kMaxCommentBytes) + " bytes");
  }

  // The images the verdicts are about: the one named, or every analysed image of the job.
  std::vector<results::ImageResult> images;
  for (const auto& image : read_->images_of(job_id))
    if (image.result.analysis && (sop_instance_uid.empty() || image.result.sop_instance_uid == sop_instance_uid))
      images.push_back(image.result);
  if (images.empty()) {
    if (!sop_instance_uid.empty()) return bad_body("job " + std::to_string(job_id) + " has no analysed image with that SOP Instance UID");
    return error_response(409, "conflict", "job " + std::to_string(job_id) + " has no analysed image to give feedback on");
  }

  storage::Feedback feedback;
  feedback.job_id = job_id;
  feedback.reviewer = call.caller.name.empty() ? "unnamed token" : call.caller.name;
  feedback.comment = comment;
  const auto& reporting = context_.config.reporting;
  for (const auto& [finding, verdict_value] : body["findings"].items()) {
    static const std::set<std::string> verdicts{"agree", "disagree", "present", "absent"};
    if (!verdict_value.is_string() || !verdicts.count(verdict_value.get<std::string>()))
      return bad_body("findings." + finding + " must be agree, disagree, present or absent");
    const std::string verdict = verdict_value.get<std::string>();
    for (const auto& image : images) {
      const results::Finding* found = nullptr;
      for (const auto& f : image.analysis->findings)
        if (f.label == finding) found = &f;
      if (!found) return bad_body("findings." + finding + ": the model reported no such finding for this job");
      storage::FeedbackItem item{image.sop_instance_uid, finding, verdict, std::nullopt, std::nullopt, verdict == "present" ? 1 : 0};
      if (verdict == "agree" || verdict == "disagree") {
        // The node's decision when the verdict was given: present at or above the operating point.
        const auto point = reporting.operating_points.find(finding);
        const double threshold = point == reporting.operating_points.end() ? reporting.default_operating_point : point->second;
        const int decided = found->probability >= threshold ? 1 : 0;
        item.probability = found->probability;
        item.operating_point = threshold;
        item.value = verdict == "agree" ? decided : 1 - decided;
      }
      feedback.items.push_back(std::move(item));
    }
  }
  const storage::Feedback stored = feedback_->record(feedback);
  // The comment stays out of the audit log: free text may name the patient.
  if (context_.audit)
    context_.audit->record("feedback", request.client, "recorded",
                           {{"job", std::to_string(job_id)}, {"feedback", std::to_string(stored.id)}, {"token", call.caller.name},
                            {"items", std::to_string(stored.items.size())}});
  context_.log.info("admin", "feedback", "radiologist feedback recorded", {{"job", std::to_string(job_id)}, {"feedback", std::to_string(stored.id)}});
  return created(feedback_json(stored));
}

HttpResponse AdminApi::feedback_of(std::int64_t job_id) {
  if (!read_->job(job_id)) return error_response(404, "not_found", "no job " + std::to_string(job_id));
  json list = json::array();
  for (const auto& f : feedback_->of_job(job_id)) list.push_back(feedback_json(f));
  HttpResponse response;
  response.body = json{{"job", job_id}, {"feedback", std::move(list)}}.dump(2);
  response.headers.push_back({"Cache-Control", "no-store"});
  return response;
}

}  // namespace evax::admin
