#include "api.h"

#include <Poco/DigestEngine.h>
#include <Poco/SHA2Engine.h>

#include <charconv>
#include <optional>

#include "evax/reporting/result_objects.h"
#include "job_views.h"
#include "metrics.h"
#include "web_assets.h"

namespace evax::admin {
namespace {

constexpr const char* kApiPrefix = "/api/v1/";

std::string sha256_hex(const std::string& text) {
  Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
  engine.update(text);
  return Poco::DigestEngine::digestToHex(engine.digest());
}

// Equal strings of equal length, compared in time independent of where they differ.
bool same_digest(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (std::size_t i = 0; i < a.size(); ++i) difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  return difference == 0;
}

std::optional<std::int64_t> parse_id(const std::string& text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value <= 0) return std::nullopt;
  return value;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start < path.size()) {
    const std::size_t slash = path.find('/', start);
    const std::size_t end = slash == std::string::npos ? path.size() : slash;
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

HttpResponse json_response(const json& body, int status = 200) {
  HttpResponse response;
  response.status = status;
  response.body = body.dump(2);
  response.headers.push_back({"Cache-Control", "no-store"});
  return response;
}

}  // namespace

HttpResponse error_response(int status, const std::string& code, const std::string& message) {
  HttpResponse response = json_response({{"error", {{"code", code}, {"message", message}}}}, status);
  if (status == 401) response.headers.push_back({"WWW-Authenticate", "Bearer realm=\"evax-node\""});
  return response;
}

AdminApi::AdminApi(const AdminContext& context)
    : context_(context), jobs_(context.files), outbox_(context.files), statistics_(context.files) {}

std::vector<std::string> AdminApi::routes() {
  return {"GET /healthz",
          "GET /readyz",
          "GET /metrics",
          "GET /",
          "GET /api/v1/jobs",
          "GET /api/v1/jobs/{id}",
          "POST /api/v1/jobs/{id}/retry",
          "POST /api/v1/jobs/{id}/cancel",
          "GET /api/v1/studies/{study_instance_uid}",
          "POST /api/v1/deliveries/{id}/resend",
          "GET /api/v1/outputs/{id}/preview.png",
          "GET /api/v1/destinations",
          "GET /api/v1/config",
          "GET /api/v1/models"};
}

AdminApi::Caller AdminApi::authenticate(const std::string& authorization) const {
  const std::string scheme = "Bearer ";
  if (authorization.size() <= scheme.size() || authorization.compare(0, scheme.size(), scheme) != 0) return {};
  const std::string digest = sha256_hex(authorization.substr(scheme.size()));
  for (const auto& token : context_.config.http.tokens)
    if (same_digest(digest, token.sha256)) return {token.role == "admin" ? Role::admin : Role::read, token.name};
  return {};
}

HttpResponse AdminApi::handle(const HttpRequest& request) {
  const std::string& path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  // Unauthenticated: liveness, readiness and the page (which asks for the token itself).
  if (path == "/healthz") return get ? json_response({{"status", "alive"}}) : error_response(405, "method_not_allowed", "use GET");
  if (path == "/readyz") return get ? readiness() : error_response(405, "method_not_allowed", "use GET");
  if (const WebAsset* asset = find_web_asset(path == "/" ? "/index.html" : path)) {
    if (!get) return error_response(405, "method_not_allowed", "use GET");
    HttpResponse response;
    response.content_type = asset->content_type;
    response.body.assign(reinterpret_cast<const char*>(asset->data), asset->size);
    response.headers.push_back({"Content-Security-Policy", "default-src 'self'; img-src 'self' blob:; frame-ancestors 'none'"});
    response.headers.push_back({"X-Content-Type-Options", "nosniff"});
    return response;
  }
  const bool api = path.rfind(kApiPrefix, 0) == 0;
  if (!api && path != "/metrics") return error_response(404, "not_found", "no such path: " + path);

  const Caller caller = authenticate(request.authorization);
  if (caller.role == Role::none) {
    const bool presented = !request.authorization.empty();
    if (context_.audit) context_.audit->record("auth", request.client, "refused", {{"path", path}, {"token", presented ? "wrong" : "missing"}});
    return error_response(401, "unauthorized",
                          context_.config.http.tokens.empty()
                              ? "no API tokens are configured (http.tokens): the API is closed"
                              : presented ? "the bearer token is not valid" : "an Authorization: Bearer <token> header is required");
  }
  if (path == "/metrics") return get ? metrics() : error_response(405, "method_not_allowed", "use GET");

  const std::vector<std::string> parts = split_path(path.substr(std::string(kApiPrefix).size()));
  const bool post = request.method == "POST";
  if (post && caller.role != Role::admin) {
    if (context_.audit) context_.audit->record("admin", request.client, "forbidden", {{"path", path}, {"token", caller.name}});
    return error_response(403, "forbidden", "this token has the read role; " + request.method + " needs admin");
  }
  auto method_is = [&](bool wanted, const char* name) {
    return wanted ? std::optional<HttpResponse>() : std::optional(error_response(405, "method_not_allowed", std::string("use ") + name));
  };
  // A GET-only resource: 405 for any other method, else the answer (computed only then).
  auto get_only = [&](auto&& answer) { return get ? answer() : error_response(405, "method_not_allowed", "use GET"); };
  auto id_of = [&](const std::string& text) { return parse_id(text); };
  try {
    if (parts.size() == 1 && parts[0] == "jobs") return get_only([&] { return list_jobs(request); });
    if (parts.size() == 2 && parts[0] == "jobs") {
      if (auto bad = method_is(get, "GET")) return *bad;
      if (auto id = id_of(parts[1])) return job(*id);
      return error_response(400, "bad_request", "a job id is a positive integer");
    }
    if (parts.size() == 3 && parts[0] == "jobs" && (parts[2] == "retry" || parts[2] == "cancel")) {
      if (auto bad = method_is(post, "POST")) return *bad;
      if (auto id = id_of(parts[1])) return job_action(parts[2], *id, request, caller);
      return error_response(400, "bad_request", "a job id is a positive integer");
    }
    if (parts.size() == 2 && parts[0] == "studies") return get_only([&] { return study(parts[1]); });
    if (parts.size() == 3 && parts[0] == "deliveries" && parts[2] == "resend") {
      if (auto bad = method_is(post, "POST")) return *bad;
      if (auto id = id_of(parts[1])) return resend(*id, request, caller);
      return error_response(400, "bad_request", "a delivery id is a positive integer");
    }
    if (parts.size() == 3 && parts[0] == "outputs" && parts[2] == "preview.png") {
      if (auto bad = method_is(get, "GET")) return *bad;
      if (auto id = id_of(parts[1])) return preview(*id);
      return error_response(400, "bad_request", "an output id is a positive integer");
    }
    if (parts.size() == 1 && parts[0] == "destinations") return get_only([&] { return destinations(); });
    if (parts.size() == 1 && parts[0] == "models") return get_only([&] { return models(); });
    if (parts.size() == 1 && parts[0] == "config") {
      if (auto bad = method_is(get, "GET")) return *bad;
      HttpResponse response = json_response(json::object());
      response.body = config::to_redacted_json(context_.config);
      return response;
    }
  } catch (const std::exception& e) {
    context_.log.error("admin", "request-failed", e.what(), {{"path", path}});
    return error_response(500, "internal", "the request failed inside the node; its log says why");
  }
  return error_response(404, "not_found", "no such path: " + path);
}

HttpResponse AdminApi::list_jobs(const HttpRequest& request) {
  storage::JobFilter filter;
  for (const auto& [key, value] : request.query) {
    if (key == "state") {
      filter.state = storage::parse_job_state(value);
      if (!filter.state) return error_response(400, "bad_request", "state must be queued, running, done, skipped or failed");
    } else if (key == "study") {
      filter.study_instance_uid = value;
    } else if (key == "since" || key == "until") {
      const bool plausible = value.size() >= 4 && value.size() <= 30 &&
                             value.find_first_not_of("0123456789-:.TZ") == std::string::npos;
      if (!plausible) return error_response(400, "bad_request", key + " must be an ISO 8601 date or time (UTC), e.g. 2026-11-28 or 2026-11-28T10:00:00");
      (key == "since" ? filter.received_since : filter.received_until) = value;
    } else if (key == "limit" || key == "offset") {
      const auto n = value == "0" && key == "offset" ? std::optional<std::int64_t>(0) : parse_id(value);
      if (!n || (key == "limit" && *n > 200)) return error_response(400, "bad_request", key + " must be a whole number" + (key == "limit" ? " from 1 to 200" : " from 0"));
      (key == "limit" ? filter.limit : filter.offset) = static_cast<int>(*n);
    } else {
      return error_response(400, "bad_request", "unknown parameter '" + key + "' (state, study, since, until, limit, offset)");
    }
  }
  const storage::JobPage page = jobs_.list_jobs(filter);
  json list = json::array();
  for (const auto& j : page.jobs) list.push_back(job_summary_json(jobs_, outbox_, j));
  return json_response({{"jobs", std::move(list)}, {"total", page.total}, {"limit", filter.limit}, {"offset", filter.offset}});
}

HttpResponse AdminApi::job(std::int64_t id) {
  const auto found = jobs_.job(id);
  if (!found) return error_response(404, "not_found", "no job " + std::to_string(id));
  return json_response(job_detail_json(jobs_, outbox_, *found));
}

HttpResponse AdminApi::study(const std::string& uid) {
  const auto list = jobs_.jobs_of_study(uid);
  if (list.empty()) return error_response(404, "not_found", "no study with that Study Instance UID");
  json jobs = json::array();
  for (const auto& j : list) jobs.push_back(job_detail_json(jobs_, outbox_, j));
  return json_response({{"study_instance_uid", uid}, {"jobs", std::move(jobs)}});
}

HttpResponse AdminApi::job_action(const std::string& action, std::int64_t id, const HttpRequest& request, const Caller& caller) {
  const std::string who = caller.name.empty() ? "an admin token" : caller.name;
  const storage::ActionResult result = action == "retry" ? jobs_.retry(id) : jobs_.cancel(id, "by " + who + " through the admin API");
  const char* outcome = result == storage::ActionResult::changed ? "changed" : result == storage::ActionResult::wrong_state ? "conflict" : "not-found";
  if (context_.audit) context_.audit->record("admin", request.client, outcome, {{"action", action + " job"}, {"job", std::to_string(id)}, {"token", caller.name}});
  context_.log.info("admin", "job-" + action, std::string("admin action: ") + outcome, {{"job", std::to_string(id)}});
  if (result == storage::ActionResult::not_found) return error_response(404, "not_found", "no job " + std::to_string(id));
  if (result == storage::ActionResult::wrong_state) {
    const auto current = jobs_.job(id);
    const std::string state = current ? std::string(storage::job_state_name(current->state)) : "unknown";
    return error_response(409, "conflict", action == "retry" ? "only failed or skipped jobs can be retried; this one is " + state
                                                             : "only queued jobs can be cancelled; this one is " + state);
  }
  return job(id);
}

HttpResponse AdminApi::resend(std::int64_t delivery_id, const HttpRequest& request, const Caller& caller) {
  const auto before = outbox_.delivery(delivery_id);
  const bool changed = before && outbox_.resend(delivery_id);
  const char* outcome = !before ? "not-found" : changed ? "changed" : "conflict";
  if (context_.audit)
    context_.audit->record("admin", request.client, outcome, {{"action", "resend delivery"}, {"delivery", std::to_string(delivery_id)}, {"token", caller.name}});
  if (!before) return error_response(404, "not_found", "no delivery " + std::to_string(delivery_id));
  if (!changed)
    return error_response(409, "conflict", "only dead-lettered deliveries can be re-sent; this one is " +
                                               std::string(storage::delivery_state_name(before->state)));
  context_.log.info("admin", "delivery-resend", "admin action: queued again", {{"delivery", std::to_string(delivery_id)}});
  return json_response({{"delivery", delivery_json(outbox_, *outbox_.delivery(delivery_id))}});
}

HttpResponse AdminApi::preview(std::int64_t output_id) {
  const auto output = outbox_.output(output_id);
  if (!output || output->kind != "sc") return error_response(404, "not_found", "no Secondary Capture output " + std::to_string(output_id));
  if (output->file_path.empty()) return error_response(404, "not_found", "the Secondary Capture's file was purged");
  auto png = reporting::secondary_capture_preview_png(output->file_path, 512);
  if (!png) return error_response(500, "internal", png.error());
  HttpResponse response;
  response.content_type = "image/png";
  response.body.assign(png->begin(), png->end());
  response.headers.push_back({"Cache-Control", "private, max-age=3600"});  // an output never changes
  return response;
}

HttpResponse AdminApi::destinations() {
  const auto summaries = outbox_.destination_summaries();
  json list = json::array();
  for (const auto& d : context_.config.destinations) {
    json entry{{"name", d.name}, {"ae_title", d.ae_title}, {"host", d.host}, {"port", d.port}, {"tls", d.tls.has_value()}};
    const storage::DestinationSummary* summary = nullptr;
    for (const auto& s : summaries)
      if (s.name == d.name) summary = &s;
    auto count = [&](const char* state) { return summary && summary->deliveries.count(state) ? summary->deliveries.at(state) : 0; };
    for (const char* state : {"pending", "sending", "delivered", "dead"}) entry[state] = count(state);
    // failing: its last attempt failed (whether or not anything still waits); delivering:
    // results wait or are on the wire; idle: everything sent was delivered.
    std::string state = "idle";
    if (summary && summary->last_attempt && summary->last_attempt->outcome != "delivered")
      state = "failing";
    else if (count("pending") + count("sending") > 0)
      state = "delivering";
    entry["state"] = state;
    if (summary && summary->last_attempt) {
      const auto& a = *summary->last_attempt;
      entry["last_attempt"] = {{"finished", a.finished_at}, {"outcome", a.outcome},
                               {"dimse_status", a.dimse_status ? json(*a.dimse_status) : json(nullptr)}, {"detail", a.detail}};
    } else {
      entry["last_attempt"] = nullptr;
    }
    list.push_back(std::move(entry));
  }
  return json_response({{"destinations", std::move(list)}});
}

HttpResponse AdminApi::models() const {
  json list = json::array();
  for (const auto& m : context_.models)
    list.push_back({{"role", m.role}, {"name", m.name}, {"size", m.size}, {"task", m.task}, {"checkpoint", m.checkpoint},
                    {"checkpoint_format", m.checkpoint_format}, {"sha256", m.sha256.empty() ? json(nullptr) : json(m.sha256)},
                    {"checkpoint_bytes", m.checkpoint_bytes}, {"device", m.device}, {"device_note", m.device_note}, {"precision", m.precision},
                    {"input_size", m.input_size}, {"demo", m.demo}, {"labels", m.labels}});
  return json_response({{"models", std::move(list)}});
}

HttpResponse AdminApi::readiness() {
  const LiveState live = context_.live ? context_.live() : LiveState{};
  const auto [writable, database_detail] = statistics_.database_writable();
  const std::int64_t free_bytes = context_.files.available_bytes();
  const std::int64_t watermark = context_.config.storage.min_free_mb * 1024 * 1024;
  const bool disk_ok = free_bytes >= watermark;
  const bool model_ok = !context_.models.empty();
  json checks = json::array();
  checks.push_back({{"name", "database"}, {"ok", writable}, {"detail", database_detail}});
  std::string model_detail = "no model loaded";
  if (model_ok) {
    const ModelDescription& m = context_.models.front();
    model_detail = m.name + " on " + m.device + (m.device_note.empty() ? "" : " (" + m.device_note + ")");
  }
  checks.push_back({{"name", "model"}, {"ok", model_ok}, {"detail", model_detail}});
  checks.push_back({{"name", "disk"}, {"ok", disk_ok},
                    {"detail", std::to_string(free_bytes / (1024 * 1024)) + " MB free, watermark " +
                                   std::to_string(context_.config.storage.min_free_mb) + " MB"}});
  checks.push_back({{"name", "listener"}, {"ok", live.listener_up},
                    {"detail", "DICOM port " + std::to_string(context_.config.dicom.port) + (live.listener_up ? " open" : " not open")}});
  const bool ready = writable && model_ok && disk_ok && live.listener_up;
  return json_response({{"ready", ready}, {"checks", std::move(checks)}}, ready ? 200 : 503);
}

HttpResponse AdminApi::metrics() {
  HttpResponse response;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  std::vector<std::string> destinations;
  for (const auto& d : context_.config.destinations) destinations.push_back(d.name);
  response.body = prometheus_text(statistics_.snapshot(), context_.live ? context_.live() : LiveState{}, context_.models,
                                  {context_.files.available_bytes(), context_.config.storage.min_free_mb * 1024 * 1024}, destinations);
  return response;
}

}  // namespace evax::admin
