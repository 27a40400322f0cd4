// AdminApi: every route of the admin interface as plain request -> response, with no HTTP
// library in sight: authentication and roles, the JSON API under /api/v1, /healthz, /readyz,
// /metrics and the status page's files, dispatched by one route table (404 for an unknown
// path, 405 with Allow for a known one with another method). Errors are JSON `{"error": {"code", "message"}}` with a
// stable code. Admin actions and refused credentials go to the audit log. Thread-safe (the
// stores it reads each serialise their own connection). Internal to the admin module.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "evax/admin/admin_server.h"
#include "evax/storage/storage_backend.h"

namespace evax::admin {

struct HttpRequest {
  std::string method;                         // "GET", "POST", ...
  std::string path;                           // decoded, without the query
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order; a repeated one is refused
  std::string authorization;                  // the Authorization header, "" if none
  std::string client;                         // the peer's address, for the audit log
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
  explicit AdminApi(const AdminContext& context);
  HttpResponse handle(const HttpRequest& request);

  // Every route, as "METHOD /path/{param}", read from the table that handle() dispatches by
  // (for the OpenAPI document's test). GET routes answer HEAD too.
  static std::vector<std::string> routes();

 private:
  enum class Role { none, read, admin };
  struct Caller {
    Role role = Role::none;
    std::string name;  // the token's name from the config, for the audit log
  };
  enum class Access { anyone, read, admin };
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

  const AdminContext& context_;
  // This API object's own connections (one AdminApi per serving thread).
  const std::unique_ptr<storage::ReadModel> read_;
  const std::unique_ptr<storage::JobQueue> jobs_;
  const std::unique_ptr<storage::Outbox> outbox_;
};

}  // namespace evax::admin
