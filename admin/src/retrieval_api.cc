// The admin API's routes for pulling studies from the sources: POST /api/v1/studies/retrieve,
// POST /api/v1/sweeps and the views of retrievals and sweeps. A request is checked whole (its
// JSON, the source, the UID or accession number, the dates) and the study looked up at the
// source before anything is written: a bad or unknown one is a 4xx that changes nothing.
#include <algorithm>
#include <cctype>
#include <limits>
#include <set>

#include "api.h"
#include "job_views.h"
#include "query_values.h"

namespace evax::admin {
namespace {

constexpr std::int64_t kMaxListed = 200;

HttpResponse json_answer(const json& body, int status = 200) {
  HttpResponse response;
  response.status = status;
  response.body = body.dump(2);
  response.headers.push_back({"Cache-Control", "no-store"});
  return response;
}

// PS3.5 9.1: 1 to 64 characters, digits and dots, components without leading zeros (except "0").
bool valid_uid(const std::string& uid) {
  if (uid.empty() || uid.size() > 64 || uid.front() == '.' || uid.back() == '.') return false;
  for (std::size_t i = 0; i < uid.size(); ++i) {
    const char c = uid[i];
    if (c == '.') {
      if (uid[i - 1] == '.') return false;
    } else if (c < '0' || c > '9') {
      return false;
    } else if (c == '0' && (i == 0 || uid[i - 1] == '.') && i + 1 < uid.size() && uid[i + 1] != '.') {
      return false;
    }
  }
  return true;
}

// A Short String value usable as an exact C-FIND key: 1 to 16 printable characters, none of
// the wildcards (* ?) or the value separator, not only spaces.
bool valid_key_value(const std::string& value) {
  if (value.empty() || value.size() > 16 || value.find_first_not_of(' ') == std::string::npos) return false;
  return std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c < 0x7f && c != '\\' && c != '*' && c != '?'; });
}

// "2026-11-28" or "20261128" as YYYYMMDD; nullopt unless a real date.
std::optional<std::string> dicom_date(const std::string& text) {
  std::string digits;
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') digits = text.substr(0, 4) + text.substr(5, 2) + text.substr(8, 2);
  else if (text.size() == 8) digits = text;
  else return std::nullopt;
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  const int year = std::stoi(digits.substr(0, 4)), month = std::stoi(digits.substr(4, 2)), day = std::stoi(digits.substr(6, 2));
  static const int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 || day > kDays[month - 1]) return std::nullopt;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month == 2 && day == 29 && !leap) return std::nullopt;
  return digits;
}

json retrieval_json(const storage::Retrieval& r) {
  return {{"id", r.id},
          {"source", r.source},
          {"method", r.method},
          {"study_instance_uid", r.study_instance_uid},
          {"accession_number", r.accession_number},
          {"sweep_id", r.sweep_id ? json(*r.sweep_id) : json(nullptr)},
          {"state", r.state},
          {"attempts", r.attempts},
          {"instances", {{"retrieved", r.completed}, {"failed", r.failed}, {"warning", r.warning}}},
          {"detail", r.detail},
          {"requested_by", r.requested_by},
          {"created_at", r.created_at},
          {"started_at", r.started_at.empty() ? json(nullptr) : json(r.started_at)},
          {"finished_at", r.finished_at.empty() ? json(nullptr) : json(r.finished_at)}};
}

json sweep_json(const storage::Sweep& s) {
  return {{"id", s.id},
          {"source", s.source},
          {"modalities", s.modalities},
          {"body_part", s.body_part},
          {"from", s.date_from},
          {"to", s.date_to},
          {"max_studies", s.max_studies},
          {"state", s.state},
          {"found", s.found},
          {"already_analysed", s.already_analysed},
          {"queued", s.queued},
          {"retrievals", {{"waiting", s.waiting}, {"running", s.running}, {"done", s.done}, {"failed", s.failed}}},
          {"instances", {{"retrieved", s.instances_retrieved}, {"failed", s.instances_failed}}},
          {"requested_by", s.requested_by},
          {"created_at", s.created_at}};
}

// The request's JSON object, or the 400 that says what is wrong with it.
std::expected<json, HttpResponse> body_object(const HttpRequest& request, const std::set<std::string>& known) {
  json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return std::unexpected(error_response(400, "bad_request", "the body must be a JSON object"));
  for (const auto& [key, unused] : body.items())
    if (!known.count(key)) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      return std::unexpected(error_response(400, "bad_request", "unknown key '" + key + "' (" + list + ")"));
    }
  return body;
}

std::optional<int> list_limit(const HttpRequest& request, HttpResponse& refusal) {
  int limit = 50;
  for (const auto& [key, value] : request.query) {
    if (key != "limit") {
      refusal = error_response(400, "bad_request", "unknown parameter '" + key + "' (limit)");
      return std::nullopt;
    }
    const auto n = parse_whole_number(value, 1, kMaxListed);
    if (!n) {
      refusal = error_response(400, "bad_request", "limit must be a whole number from 1 to " + std::to_string(kMaxListed));
      return std::nullopt;
    }
    limit = static_cast<int>(*n);
  }
  return limit;
}

}  // namespace

HttpResponse AdminApi::retrieve_study(const HttpRequest& request, const Caller& caller) {
  auto body = body_object(request, {"source", "study_instance_uid", "accession_number"});
  if (!body) return body.error();
  const json& b = *body;
  if (!b.contains("source") || !b["source"].is_string())
    return error_response(400, "bad_request", "source is required: the name of one of the configured sources");
  const std::string name = b["source"].get<std::string>();
  const auto source = std::find_if(context_.config.sources.begin(), context_.config.sources.end(),
                                   [&](const config::Source& s) { return s.name == name; });
  if (source == context_.config.sources.end())
    return error_response(404, "unknown_source", "no source named '" + name + "' is configured (sources[].name)");
  StudySearch search;
  const bool by_uid = b.contains("study_instance_uid"), by_accession = b.contains("accession_number");
  if (by_uid == by_accession) return error_response(400, "bad_request", "give exactly one of study_instance_uid and accession_number");
  if (by_uid) {
    if (!b["study_instance_uid"].is_string() || !valid_uid(b["study_instance_uid"].get<std::string>()))
      return error_response(400, "bad_request", "study_instance_uid must be a DICOM UID (1 to 64 digits and dots, e.g. 1.2.840.1234.5)");
    search.study_instance_uid = b["study_instance_uid"].get<std::string>();
  } else {
    if (!b["accession_number"].is_string() || !valid_key_value(b["accession_number"].get<std::string>()))
      return error_response(400, "bad_request", "accession_number must be 1 to 16 printable characters, without * ? or backslash");
    search.accession_number = b["accession_number"].get<std::string>();
  }
  if (!context_.retrieval.find) return error_response(503, "unavailable", "this node does not retrieve studies");
  const auto found = context_.retrieval.find(*source, search);
  if (!found) return error_response(502, "source_unavailable", "the C-FIND at '" + name + "' failed: " + found.error());
  if (found->empty())
    return error_response(404, "not_found", std::string("source '") + name + "' has no study with that " +
                                                (by_uid ? "Study Instance UID" : "Accession Number"));
  if (found->size() > 1)
    return error_response(409, "ambiguous", "source '" + name + "' has " + std::to_string(found->size()) +
                                                " studies with that Accession Number; retrieve each by its Study Instance UID");
  storage::Retrieval r;
  r.source = name;
  r.method = source->retrieve;
  r.study_instance_uid = found->front().study_instance_uid;
  r.accession_number = found->front().accession_number;
  r.requested_by = caller.name;
  if (!valid_uid(r.study_instance_uid))
    return error_response(502, "source_unavailable", "source '" + name + "' answered a malformed Study Instance UID");
  const std::int64_t id = retrievals_->add_retrieval(r);
  if (context_.audit)
    context_.audit->record("admin", request.client, "changed", {{"action", "retrieve study"}, {"retrieval", std::to_string(id)},
                                                                {"source", name}, {"token", caller.name}});
  context_.log.info("admin", "retrieval-queued", "admin action: study retrieval queued", {{"retrieval", std::to_string(id)}, {"source", name}});
  if (context_.retrieval.queued) context_.retrieval.queued();
  return json_answer({{"retrieval", retrieval_json(*retrievals_->retrieval(id))}}, 202);
}

HttpResponse AdminApi::start_sweep(const HttpRequest& request, const Caller& caller) {
  auto body = body_object(request, {"source", "modalities", "body_part", "from", "to", "max_studies"});
  if (!body) return body.error();
  const json& b = *body;
  if (!b.contains("source") || !b["source"].is_string())
    return error_response(400, "bad_request", "source is required: the name of one of the configured sources");
  const std::string name = b["source"].get<std::string>();
  const auto source = std::find_if(context_.config.sources.begin(), context_.config.sources.end(),
                                   [&](const config::Source& s) { return s.name == name; });
  if (source == context_.config.sources.end())
    return error_response(404, "unknown_source", "no source named '" + name + "' is configured (sources[].name)");
  StudySearch search;
  search.modalities = {"CR", "DX"};
  if (b.contains("modalities")) {
    const json& m = b["modalities"];
    search.modalities.clear();
    if (!m.is_array() || m.empty()) return error_response(400, "bad_request", "modalities must be a non-empty list of CR and DX");
    for (const auto& item : m) {
      const std::string value = item.is_string() ? item.get<std::string>() : "";
      if (value != "CR" && value != "DX") return error_response(400, "bad_request", "modalities must be a non-empty list of CR and DX");
      if (std::find(search.modalities.begin(), search.modalities.end(), value) == search.modalities.end()) search.modalities.push_back(value);
    }
  }
  search.body_part = "CHEST";
  if (b.contains("body_part")) {
    if (!b["body_part"].is_string() || !valid_key_value(b["body_part"].get<std::string>()))
      return error_response(400, "bad_request", "body_part must be 1 to 16 printable characters, without * ? or backslash");
    search.body_part = b["body_part"].get<std::string>();
  }
  for (const char* key : {"from", "to"}) {
    if (!b.contains(key)) continue;
    const auto date = b[key].is_string() ? dicom_date(b[key].get<std::string>()) : std::nullopt;
    if (!date) return error_response(400, "bad_request", std::string(key) + " must be a date, 2026-11-28 or 20261128");
    (std::string(key) == "from" ? search.date_from : search.date_to) = *date;
  }
  if (!search.date_from.empty() && !search.date_to.empty() && search.date_from > search.date_to)
    return error_response(400, "bad_request", "from must not be after to");
  const int ceiling = context_.config.retrieval.max_sweep_studies;
  int max_studies = ceiling;
  if (b.contains("max_studies")) {
    const json& m = b["max_studies"];
    if (!m.is_number_integer() || m.get<std::int64_t>() < 1 || m.get<std::int64_t>() > ceiling)
      return error_response(400, "bad_request", "max_studies must be a whole number from 1 to " + std::to_string(ceiling) +
                                                    " (retrieval.max_sweep_studies)");
    max_studies = static_cast<int>(m.get<std::int64_t>());
  }
  if (!context_.retrieval.find) return error_response(503, "unavailable", "this node does not retrieve studies");
  const auto found = context_.retrieval.find(*source, search);
  if (!found) return error_response(502, "source_unavailable", "the C-FIND at '" + name + "' failed: " + found.error());

  std::vector<StudyMatch> matches;
  for (const auto& m : *found)
    if (valid_uid(m.study_instance_uid)) matches.push_back(m);  // a malformed UID is never queued
  if (static_cast<int>(matches.size()) > max_studies) matches.resize(static_cast<std::size_t>(max_studies));
  std::vector<std::string> uids;
  for (const auto& m : matches) uids.push_back(m.study_instance_uid);
  const auto analysed = retrievals_->analysed_with(uids, context_.retrieval.model);
  const std::set<std::string> skip(analysed.begin(), analysed.end());

  storage::NewSweep sweep;
  sweep.sweep.source = name;
  for (const auto& m : search.modalities) sweep.sweep.modalities += (sweep.sweep.modalities.empty() ? "" : "\\") + m;
  sweep.sweep.body_part = search.body_part;
  sweep.sweep.date_from = search.date_from;
  sweep.sweep.date_to = search.date_to;
  sweep.sweep.max_studies = max_studies;
  sweep.sweep.found = static_cast<int>(found->size());
  sweep.sweep.already_analysed = static_cast<int>(skip.size());
  sweep.sweep.requested_by = caller.name;
  for (const auto& m : matches) {
    if (skip.count(m.study_instance_uid)) continue;
    storage::Retrieval r;
    r.source = name;
    r.method = source->retrieve;
    r.study_instance_uid = m.study_instance_uid;
    r.accession_number = m.accession_number;
    r.requested_by = "sweep";
    sweep.retrievals.push_back(std::move(r));
  }
  const std::int64_t id = retrievals_->add_sweep(sweep);
  if (context_.audit)
    context_.audit->record("admin", request.client, "changed", {{"action", "sweep"}, {"sweep", std::to_string(id)}, {"source", name},
                                                                {"queued", std::to_string(sweep.retrievals.size())}, {"token", caller.name}});
  context_.log.info("admin", "sweep-queued", "admin action: sweep queued its retrievals",
                    {{"sweep", std::to_string(id)}, {"found", std::to_string(found->size())}, {"queued", std::to_string(sweep.retrievals.size())}});
  if (context_.retrieval.queued && !sweep.retrievals.empty()) context_.retrieval.queued();
  return sweep_response(id, 202);
}

HttpResponse AdminApi::list_retrievals(const HttpRequest& request) {
  HttpResponse refusal;
  const auto limit = list_limit(request, refusal);
  if (!limit) return refusal;
  json list = json::array();
  for (const auto& r : retrievals_->recent_retrievals(*limit)) list.push_back(retrieval_json(r));
  return json_answer({{"retrievals", std::move(list)}});
}

HttpResponse AdminApi::retrieval(std::int64_t id) {
  const auto found = retrievals_->retrieval(id);
  if (!found) return error_response(404, "not_found", "no retrieval " + std::to_string(id));
  return json_answer({{"retrieval", retrieval_json(*found)}});
}

HttpResponse AdminApi::list_sweeps(const HttpRequest& request) {
  HttpResponse refusal;
  const auto limit = list_limit(request, refusal);
  if (!limit) return refusal;
  json list = json::array();
  for (const auto& s : retrievals_->recent_sweeps(*limit)) list.push_back(sweep_json(s));
  return json_answer({{"sweeps", std::move(list)}});
}

HttpResponse AdminApi::sweep(std::int64_t id) { return sweep_response(id, 200); }

HttpResponse AdminApi::sweep_response(std::int64_t id, int status) {
  const auto found = retrievals_->sweep(id);
  if (!found) return error_response(404, "not_found", "no sweep " + std::to_string(id));
  json entry = sweep_json(*found);
  json list = json::array();
  for (const auto& r : retrievals_->retrievals_of_sweep(id)) list.push_back(retrieval_json(r));
  entry["studies"] = std::move(list);
  return json_answer({{"sweep", std::move(entry)}}, status);
}

}  // namespace evax::admin
