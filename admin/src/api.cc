#include "api.h"

#include <Poco/DigestEngine.h>
#include <Poco/SHA2Engine.h>

#include <cctype>
#include <limits>
#include <optional>
#include <string_view>

#include "evax/reporting/result_objects.h"
#include "job_views.h"
#include "metrics.h"
#include "monitoring.h"
#include "node_views.h"
#include "query_values.h"
#include "web_assets.h"

namespace evax::admin {
namespace {

constexpr const char* kApiPrefix = "/api/v1/";
// GET /api/v1/jobs paging (README, "Admin API").
constexpr std::int64_t kMaxPageLimit = 200;
constexpr std::int64_t kMaxPageOffset = 1'000'000'000;

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

// The {param} segments of `path` if it matches `pattern` segment by segment; a {param}
// matches one non-empty segment.
std::optional<std::vector<std::string>> match_pattern(std::string_view pattern, std::string_view path) {
  std::vector<std::string> params;
  for (;;) {
    if (pattern.empty() || path.empty()) {
      if (pattern.empty() && path.empty()) return params;
      return std::nullopt;
    }
    if (pattern.front() != '/' || path.front() != '/') return std::nullopt;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    const std::string_view want = pattern.substr(0, pattern.find('/'));
    const std::string_view have = path.substr(0, path.find('/'));
    if (!want.empty() && want.front() == '{') {
      if (have.empty()) return std::nullopt;
      params.emplace_back(have);
    } else if (want != have) {
      return std::nullopt;
    }
    pattern.remove_prefix(want.size());
    path.remove_prefix(have.size());
  }
}

HttpResponse json_response(const json& body, int status = 200) {
  HttpResponse response;
  response.status = status;
  response.body = body.dump(2);
  response.headers.push_back({"Cache-Control", "no-store"});
  return response;
}

HttpResponse web_asset_response(const WebAsset& asset) {
  HttpResponse response;
  response.content_type = asset.content_type;
  response.body.assign(reinterpret_cast<const char*>(asset.data), asset.size);
  response.headers.push_back({"Content-Security-Policy", "default-src 'self'; img-src 'self' blob:; frame-ancestors 'none'"});
  response.headers.push_back({"X-Content-Type-Options", "nosniff"});
  return response;
}

HttpResponse stow_unavailable() { return error_response(503, "unavailable", "this node takes no STOW-RS uploads"); }

}  // namespace

HttpResponse error_response(int status, const std::string& code, const std::string& message) {
  HttpResponse response = json_response({{"error", {{"code", code}, {"message", message}}}}, status);
  if (status == 401) response.headers.push_back({"WWW-Authenticate", "Bearer realm=\"evax-node\""});
  return response;
}

namespace {

FindingSamples load_baseline_file(const config::MonitoringSettings& monitoring) {
  if (monitoring.baseline_file.empty()) return {};
  auto samples = read_baseline_file(monitoring.baseline_file);
  if (!samples) throw std::runtime_error("monitoring.baseline_file: " + samples.error());
  return std::move(*samples);
}

const char* role_name(int role) {
  static const char* const names[] = {"no", "read", "review", "admin", "store"};
  return names[role];
}

}  // namespace

AdminApi::AdminApi(const AdminContext& context)
    : context_(context), read_(context.storage.open_read_model()), jobs_(context.storage.open_job_queue()),
      outbox_(context.storage.open_outbox()), feedback_(context.storage.open_feedback_store()),
      retrievals_(context.storage.open_retrieval_log()),
      baseline_file_(load_baseline_file(context.config.monitoring)) {}

const std::vector<AdminApi::Route>& AdminApi::route_table() {
  // A handler's {param} segments arrive in Call::params, in order.
  auto by_id = [](const char* what, auto answer) {
    return [what, answer](AdminApi& api, const Call& call) {
      const auto id = parse_whole_number(call.params[0], 1, std::numeric_limits<std::int64_t>::max());
      if (!id) return error_response(400, "bad_request", std::string(what) + " id must be a whole number from 1 to 2^63-1");
      return answer(api, call, *id);
    };
  };
  static const std::vector<Route> table = {
      {"GET", "/healthz", Access::anyone, [](AdminApi&, const Call&) { return json_response({{"status", "alive"}}); }},
      {"GET", "/readyz", Access::anyone, [](AdminApi& api, const Call& call) { return api.readiness(call); }},
      {"GET", "/metrics", Access::read, [](AdminApi& api, const Call&) { return api.metrics(); }},
      {"GET", "/", Access::anyone, [](AdminApi&, const Call&) { return web_asset_response(*find_web_asset("/index.html")); }},
      {"GET", "/api/v1/jobs", Access::read, [](AdminApi& api, const Call& call) { return api.list_jobs(call.request); }},
      {"GET", "/api/v1/queue", Access::read, [](AdminApi& api, const Call& call) { return api.queue(call.request); }},
      {"GET", "/api/v1/jobs/{id}", Access::read, by_id("a job", [](AdminApi& api, const Call&, std::int64_t id) { return api.job(id); })},
      {"POST", "/api/v1/jobs/{id}/retry", Access::admin,
       by_id("a job", [](AdminApi& api, const Call& call, std::int64_t id) { return api.job_action("retry", id, call.request, call.caller); })},
      {"POST", "/api/v1/jobs/{id}/cancel", Access::admin,
       by_id("a job", [](AdminApi& api, const Call& call, std::int64_t id) { return api.job_action("cancel", id, call.request, call.caller); })},
      {"POST", "/api/v1/jobs/{id}/feedback", Access::review,
       by_id("a job", [](AdminApi& api, const Call& call, std::int64_t id) { return api.post_feedback(id, call); })},
      {"GET", "/api/v1/jobs/{id}/feedback", Access::read,
       by_id("a job", [](AdminApi& api, const Call&, std::int64_t id) { return api.feedback_of(id); })},
      {"GET", "/api/v1/studies/{study_instance_uid}", Access::read, [](AdminApi& api, const Call& call) { return api.study(call.params[0]); }},
      {"POST", "/api/v1/deliveries/{id}/resend", Access::admin,
       by_id("a delivery", [](AdminApi& api, const Call& call, std::int64_t id) { return api.resend(id, call.request, call.caller); })},
      {"GET", "/api/v1/outputs/{id}/preview.png", Access::read,
       by_id("an output", [](AdminApi& api, const Call&, std::int64_t id) { return api.preview(id); })},
      {"GET", "/api/v1/destinations", Access::read, [](AdminApi& api, const Call&) { return api.destinations(); }},
      {"GET", "/api/v1/config", Access::read,
       [](AdminApi& api, const Call&) {
         HttpResponse response = json_response(json::object());
         response.body = config::to_redacted_json(api.context_.config);
         return response;
       }},
      {"GET", "/api/v1/models", Access::read, [](AdminApi& api, const Call&) { return api.models(); }},
      {"GET", "/api/v1/nodes", Access::read, [](AdminApi& api, const Call&) { return api.nodes(); }},
      {"POST", "/api/v1/studies/retrieve", Access::admin,
       [](AdminApi& api, const Call& call) { return api.retrieve_study(call.request, call.caller); }},
      {"GET", "/api/v1/retrievals", Access::read, [](AdminApi& api, const Call& call) { return api.list_retrievals(call.request); }},
      {"GET", "/api/v1/retrievals/{id}", Access::read,
       by_id("a retrieval", [](AdminApi& api, const Call&, std::int64_t id) { return api.retrieval(id); })},
      {"POST", "/api/v1/sweeps", Access::admin, [](AdminApi& api, const Call& call) { return api.start_sweep(call.request, call.caller); }},
      {"GET", "/api/v1/sweeps", Access::read, [](AdminApi& api, const Call& call) { return api.list_sweeps(call.request); }},
      {"GET", "/api/v1/sweeps/{id}", Access::read, by_id("a sweep", [](AdminApi& api, const Call&, std::int64_t id) { return api.sweep(id); })},
      // Served by the connection, which streams the body to the STOW-RS intake (upload_target);
      // these entries answer only where the node has no intake, and give 405 and the routes list.
      {"POST", "/dicomweb/studies", Access::store, [](AdminApi&, const Call&) { return stow_unavailable(); }},
      {"POST", "/dicomweb/studies/{study_instance_uid}", Access::store, [](AdminApi&, const Call&) { return stow_unavailable(); }},
  };
  return table;
}

std::vector<std::string> AdminApi::routes() {
  std::vector<std::string> out;
  for (const Route& route : route_table()) out.push_back(route.method + " " + route.pattern);
  return out;
}

AdminApi::Caller AdminApi::authenticate(const std::string& authorization) const {
  // credentials = auth-scheme 1*SP token68; the scheme is case-insensitive (RFC 9110 11.1).
  const std::string_view scheme = "bearer";
  if (authorization.size() <= scheme.size() + 1) return {};
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i]) return {};
  const std::size_t token_start = authorization.find_first_not_of(' ', scheme.size());
  if (authorization[scheme.size()] != ' ' || token_start == std::string::npos) return {};
  const std::string digest = sha256_hex(authorization.substr(token_start));
  for (const auto& token : context_.config.http.tokens)
    if (same_digest(digest, token.sha256))
      return {token.role == "admin" ? Role::admin : token.role == "review" ? Role::review : token.role == "store" ? Role::store : Role::read, token.name};
  return {};
}

HttpResponse AdminApi::refuse_credentials(const HttpRequest& request) {
  const bool presented = !request.authorization.empty();
  if (context_.audit) context_.audit->record("auth", request.client, "refused", {{"path", request.path}, {"token", presented ? "wrong" : "missing"}});
  return error_response(401, "unauthorized",
                        context_.config.http.tokens.empty()
                            ? "no API tokens are configured (http.tokens): the API is closed"
                            : presented ? "the bearer token is not valid" : "an Authorization: Bearer <token> header is required");
}

HttpResponse AdminApi::handle(const HttpRequest& request) {
  const std::string& path = request.path;
  for (std::size_t i = 0; i < request.query.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (request.query[i].first == request.query[j].first)
        return error_response(400, "bad_request", "query parameter '" + request.query[i].first + "' is given more than once");

  // The routes whose pattern matches the path; the one for this method (GET serves HEAD too).
  const Route* chosen = nullptr;
  std::vector<const Route*> matched;
  std::vector<std::string> params;
  for (const Route& route : route_table()) {
    auto found = match_pattern(route.pattern, path);
    if (!found) continue;
    matched.push_back(&route);
    if (route.method == request.method || (route.method == "GET" && request.method == "HEAD")) {
      chosen = &route;
      params = std::move(*found);
    }
  }
  auto not_allowed = [&] {
    std::string allow;
    for (const Route* route : matched) allow += (allow.empty() ? "" : ", ") + route->method + (route->method == "GET" ? ", HEAD" : "");
    HttpResponse response = error_response(405, "method_not_allowed", "use " + allow);
    response.headers.push_back({"Allow", allow});
    return response;
  };

  if (matched.empty()) {
    // The status page's other files; unknown paths under the API need a token to be told so.
    if (const WebAsset* asset = find_web_asset(path)) {
      if (request.method == "GET" || request.method == "HEAD") return web_asset_response(*asset);
      HttpResponse response = error_response(405, "method_not_allowed", "use GET, HEAD");
      response.headers.push_back({"Allow", "GET, HEAD"});
      return response;
    }
    if (path.rfind(kApiPrefix, 0) == 0 && authenticate(request.authorization).role == Role::none) return refuse_credentials(request);
    return error_response(404, "not_found", "no such path: " + path);
  }
  const Access access = chosen ? chosen->access : matched.front()->access;
  const Caller caller = authenticate(request.authorization);
  if (access != Access::anyone && caller.role == Role::none) return refuse_credentials(request);
  if (!chosen) return not_allowed();
  if (auto refused = forbidden(access, caller, request)) return *refused;
  try {
    return chosen->handler(*this, Call{request, caller, std::move(params)});
  } catch (const std::exception& e) {
    context_.log.error("admin", "request-failed", e.what(), {{"path", path}});
    return error_response(500, "internal", "the request failed inside the node; its log says why");
  }
}

std::optional<HttpResponse> AdminApi::forbidden(Access access, const Caller& caller, const HttpRequest& request) {
  const bool reader = caller.role == Role::read || caller.role == Role::review;
  const bool allowed = access == Access::anyone || caller.role == Role::admin || (access == Access::read && reader) ||
                       (access == Access::review && caller.role == Role::review) ||
                       (access == Access::store && caller.role == Role::store);
  if (allowed) return std::nullopt;
  if (context_.audit) context_.audit->record("admin", request.client, "forbidden", {{"path", request.path}, {"token", caller.name}});
  const std::string needs = access == Access::store    ? "a store or admin token"
                            : access == Access::admin  ? "admin"
                            : access == Access::review ? "review or admin"
                                                       : "a read, review or admin token";
  return error_response(403, "forbidden", std::string("this token has the ") + role_name(static_cast<int>(caller.role)) + " role; " +
                                              request.method + " " + request.path + " needs " + needs);
}

std::optional<AdminApi::UploadTarget> AdminApi::upload_target(const HttpRequest& request) const {
  if (request.method != "POST" || !context_.stow) return std::nullopt;
  if (match_pattern("/dicomweb/studies", request.path)) return UploadTarget{};
  if (auto params = match_pattern("/dicomweb/studies/{study_instance_uid}", request.path)) return UploadTarget{(*params)[0]};
  return std::nullopt;
}

std::expected<std::string, HttpResponse> AdminApi::admit_upload(const HttpRequest& request) {
  const Caller caller = authenticate(request.authorization);
  if (caller.role == Role::none) return std::unexpected(refuse_credentials(request));
  if (auto refused = forbidden(Access::store, caller, request)) return std::unexpected(*refused);
  return caller.name;
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
      auto instant = parse_instant_as_stored_utc(value);
      if (!instant)
        return error_response(400, "bad_request", key + " must be an RFC 3339 date-time with Z or an offset (2026-11-28T10:00:00Z, 2026-11-28T12:00:00.5+02:00) or a date (2026-11-28, midnight UTC)");
      (key == "since" ? filter.received_since : filter.received_until) = std::move(*instant);
    } else if (key == "limit") {
      const auto n = parse_whole_number(value, 1, kMaxPageLimit);
      if (!n) return error_response(400, "bad_request", "limit must be a whole number from 1 to " + std::to_string(kMaxPageLimit));
      filter.limit = static_cast<int>(*n);
    } else if (key == "offset") {
      const auto n = parse_whole_number(value, 0, kMaxPageOffset);
      if (!n) return error_response(400, "bad_request", "offset must be a whole number from 0 to " + std::to_string(kMaxPageOffset));
      filter.offset = static_cast<int>(*n);
    } else {
      return error_response(400, "bad_request", "unknown parameter '" + key + "' (state, study, since, until, limit, offset)");
    }
  }
  const storage::JobPage page = read_->list_jobs(filter);
  json list = json::array();
  for (const auto& j : page.jobs) list.push_back(job_summary_json(*read_, j));
  return json_response({{"jobs", std::move(list)}, {"total", page.total}, {"limit", filter.limit}, {"offset", filter.offset}});
}

HttpResponse AdminApi::queue(const HttpRequest& request) {
  int limit = 100;
  for (const auto& [key, value] : request.query) {
    if (key != "limit") return error_response(400, "bad_request", "unknown parameter '" + key + "' (limit)");
    const auto n = parse_whole_number(value, 1, kMaxPageLimit);
    if (!n) return error_response(400, "bad_request", "limit must be a whole number from 1 to " + std::to_string(kMaxPageLimit));
    limit = static_cast<int>(*n);
  }
  return json_response(queue_json(*read_, limit));
}

HttpResponse AdminApi::job(std::int64_t id) {
  const auto found = read_->job(id);
  if (!found) return error_response(404, "not_found", "no job " + std::to_string(id));
  return json_response(job_detail_json(*read_, *found, feedback_.get()));
}

HttpResponse AdminApi::study(const std::string& uid) {
  const auto list = read_->jobs_of_study(uid);
  if (list.empty()) return error_response(404, "not_found", "no study with that Study Instance UID");
  json jobs = json::array();
  for (const auto& j : list) jobs.push_back(job_detail_json(*read_, j, feedback_.get()));
  json not_reanalysed = json::array();
  for (const auto& late : read_->not_reanalysed_of_study(uid))
    not_reanalysed.push_back({{"sop_instance_uid", late.sop_instance_uid}, {"received_at", late.received_at}, {"reason", late.reason}});
  return json_response({{"study_instance_uid", uid}, {"jobs", std::move(jobs)}, {"not_reanalysed", std::move(not_reanalysed)}});
}

HttpResponse AdminApi::job_action(const std::string& action, std::int64_t id, const HttpRequest& request, const Caller& caller) {
  const std::string who = caller.name.empty() ? "an admin token" : caller.name;
  const storage::ActionResult result = action == "retry" ? jobs_->retry(id) : jobs_->cancel(id, "by " + who + " through the admin API");
  const char* outcome = result == storage::ActionResult::changed ? "changed" : result == storage::ActionResult::wrong_state ? "conflict" : "not-found";
  if (context_.audit) context_.audit->record("admin", request.client, outcome, {{"action", action + " job"}, {"job", std::to_string(id)}, {"token", caller.name}});
  context_.log.info("admin", "job-" + action, std::string("admin action: ") + outcome, {{"job", std::to_string(id)}});
  if (result == storage::ActionResult::not_found) return error_response(404, "not_found", "no job " + std::to_string(id));
  if (result == storage::ActionResult::wrong_state) {
    const auto current = read_->job(id);
    const std::string state = current ? std::string(storage::job_state_name(current->state)) : "unknown";
    return error_response(409, "conflict", action == "retry" ? "only failed or skipped jobs can be retried; this one is " + state
                                                             : "only queued jobs can be cancelled; this one is " + state);
  }
  return job(id);
}

HttpResponse AdminApi::resend(std::int64_t delivery_id, const HttpRequest& request, const Caller& caller) {
  const auto before = read_->delivery(delivery_id);
  const bool changed = before && outbox_->resend(delivery_id);
  const char* outcome = !before ? "not-found" : changed ? "changed" : "conflict";
  if (context_.audit)
    context_.audit->record("admin", request.client, outcome, {{"action", "resend delivery"}, {"delivery", std::to_string(delivery_id)}, {"token", caller.name}});
  if (!before) return error_response(404, "not_found", "no delivery " + std::to_string(delivery_id));
  if (!changed)
    return error_response(409, "conflict", "only dead-lettered deliveries can be re-sent; this one is " +
                                               std::string(storage::delivery_state_name(before->state)));
  context_.log.info("admin", "delivery-resend", "admin action: queued again", {{"delivery", std::to_string(delivery_id)}});
  return json_response({{"delivery", delivery_json(*read_, *read_->delivery(delivery_id))}});
}

HttpResponse AdminApi::preview(std::int64_t output_id) {
  const auto output = read_->output(output_id);
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
  const auto summaries = read_->destination_summaries();
  json list = json::array();
  for (const auto& d : context_.config.destinations) {
    json entry{{"name", d.name}, {"kind", d.kind}, {"tls", d.tls.has_value() || d.url.rfind("https://", 0) == 0}};
    if (d.kind == "dicomweb") entry["url"] = d.url;  // never has credentials (config refuses them)
    else entry.update({{"ae_title", d.ae_title}, {"host", d.host}, {"port", d.port}});
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

HttpResponse AdminApi::nodes() {
  const int lease_s = context_.config.cluster.lease_s;
  return json_response({{"lease_s", lease_s}, {"nodes", nodes_json(*read_, lease_s, context_.node_id)}});
}

HttpResponse AdminApi::readiness(const Call& call) {
  const LiveState live = context_.live ? context_.live() : LiveState{};
  const auto [writable, database_detail] = read_->database_writable();
  const std::int64_t free_bytes = context_.files.available_bytes();
  const std::int64_t watermark = context_.config.storage.min_free_mb * 1024 * 1024;
  const bool disk_ok = free_bytes >= watermark;
  const bool model_ok = !context_.models.empty();
  json checks = json::array();
  // Which database (passwords redacted) and, when it cannot be written, why.
  checks.push_back({{"name", "database"}, {"ok", writable}, {"detail", context_.storage.description() + ": " + database_detail}});
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
  // The checks name the model, device, free disk and port: only for a valid token (not a
  // store-only one). The drift check (with a baseline configured) reads the window's results,
  // so it too is only computed for one; it warns, it never makes the node unready.
  if (call.caller.role == Role::none || call.caller.role == Role::store) return json_response({{"ready", ready}}, ready ? 200 : 503);
  if (context_.config.monitoring.has_baseline()) checks.push_back(drift_check(drift()));
  return json_response({{"ready", ready}, {"checks", std::move(checks)}}, ready ? 200 : 503);
}

HttpResponse AdminApi::metrics() {
  HttpResponse response;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  std::vector<std::string> destinations;
  for (const auto& d : context_.config.destinations) destinations.push_back(d.name);
  NodeState node{context_.node_id, "", "", 0, 0};
  for (const auto& n : read_->nodes(context_.config.cluster.lease_s)) {
    ++(n.alive ? node.alive_nodes : node.silent_nodes);
    if (n.id == context_.node_id) node.address = n.address, node.version = n.version;
  }
  response.body = prometheus_text(read_->statistics(), context_.live ? context_.live() : LiveState{}, context_.models,
                                  {context_.files.available_bytes(), context_.config.storage.min_free_mb * 1024 * 1024}, destinations,
                                  node, drift());
  return response;
}

}  // namespace evax::admin
