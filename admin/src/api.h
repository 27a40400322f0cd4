// AdminApi: every route of the admin interface as plain request -> response, with no HTTP
// library in sight: authentication and roles, the JSON API under /api/v1, /healthz, /readyz,
// /metrics and the status page's files, dispatched by one route table (404 for an unknown
// path, 405 with Allow for a known one with another method). Errors are JSON `{"error": {"code", "message"}}` with a
// stable code. Admin actions and refused credentials go to the audit log. Thread-safe (the
// stores it reads each serialise their own connection). Internal to the admin module.
#pragma once

#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "drift.h"
#include "evax/admin/admin_server.h"
#include "evax/storage/storage_backend.h"

namespace evax::admin {

struct HttpRequest {
  std::string method;                         // "GET", "POST", ...
  std::string path;                           // decoded, without the query
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order; a repeated one is refused
  std::string authorization;                  // the Authorization header, "" if none
  std::string client;                         // the peer's address, for the audit log
  std::string content_type;                   // the Content-Type header, "" if none
  std::string body;                           // as sent (at most http.max_request_bytes)
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

HttpResponse error_response(int status, const std::string& code, const std::string& message);

class AdminApi {
 public:
  // Reads monitoring.baseline_file when one is configured: throws std::runtime_error naming
  // the key and the problem when it cannot be read.
  explicit AdminApi(const AdminContext& context);
  HttpResponse handle(const HttpRequest& request);

  // Every route, as "METHOD /path/{param}", read from the table that handle() dispatches by
  // (for the OpenAPI document's test). GET routes answer HEAD too.
  static std::vector<std::string> routes();

  // For an upload route (STOW-RS) the connection streams the body itself: this says whether
  // the request is one (with the study UID of its path), and admits its caller before any of
  // the body is read: the caller's token name, or the 401 / 403 answer.
  struct UploadTarget {
    std::string study_instance_uid;
  };
  std::optional<UploadTarget> upload_target(const HttpRequest& request) const;
  std::expected<std::string, HttpResponse> admit_upload(const HttpRequest& request);
  const UploadRoute& upload_route() const { return *context_.stow; }  // only once upload_target() said yes

 private:
  enum class Role { none, read, review, admin, store };  // read < review < admin; store may only STOW
  struct Caller {
    Role role = Role::none;
    std::string name;  // the token's name from the config, for the audit log
  };
  enum class Access { anyone, read, review, admin, store };  // store: a store or an admin token
  struct Call {
    const HttpRequest& request;
    const Caller& caller;
    std::vector<std::string> params;  // the {param} segments of the route's pattern, in order
  };
  struct Route {
    std::string method;   // "GET" or "POST"
    std::string pattern;  // "/api/v1/jobs/{id}/retry": a {name} segment matches any one segment
    Access access;
    std::function<HttpResponse(AdminApi&, const Call&)> handler;
  };
  static const std::vector<Route>& route_table();

  Caller authenticate(const std::string& authorization) const;
  // The 403 answer (audited) when the caller's role does not give `access`.
  std::optional<HttpResponse> forbidden(Access access, const Caller& caller, const HttpRequest& request);
  HttpResponse refuse_credentials(const HttpRequest& request);

  HttpResponse list_jobs(const HttpRequest& request);
  // Queued jobs in the order workers will claim them, with their positions.
  HttpResponse queue(const HttpRequest& request);
  HttpResponse job(std::int64_t id);
  HttpResponse study(const std::string& uid);
  HttpResponse job_action(const std::string& action, std::int64_t id, const HttpRequest& request, const Caller& caller);
  HttpResponse resend(std::int64_t delivery_id, const HttpRequest& request, const Caller& caller);
  HttpResponse preview(std::int64_t output_id);
  HttpResponse destinations();
  HttpResponse models() const;
  HttpResponse nodes();
  HttpResponse readiness(const Call& call);
  HttpResponse metrics();
  // feedback_api.cc
  HttpResponse post_feedback(std::int64_t job_id, const Call& call);
  HttpResponse feedback_of(std::int64_t job_id);
  // monitoring.cc
  DriftSnapshot drift();
  // retrieval_api.cc: pulling studies from the sources.
  HttpResponse retrieve_study(const HttpRequest& request, const Caller& caller);
  HttpResponse start_sweep(const HttpRequest& request, const Caller& caller);
  HttpResponse list_retrievals(const HttpRequest& request);
  HttpResponse retrieval(std::int64_t id);
  HttpResponse list_sweeps(const HttpRequest& request);
  HttpResponse sweep(std::int64_t id);
  HttpResponse sweep_response(std::int64_t id, int status);

  const AdminContext& context_;
  // This API object's own connections (one AdminApi per serving thread).
  const std::unique_ptr<storage::ReadModel> read_;
  const std::unique_ptr<storage::JobQueue> jobs_;
  const std::unique_ptr<storage::Outbox> outbox_;
  const std::unique_ptr<storage::FeedbackStore> feedback_;
  const FindingSamples baseline_file_;  // monitoring.baseline_file's probabilities; empty without one
  const std::unique_ptr<storage::RetrievalLog> retrievals_;
};

}  // namespace evax::admin
