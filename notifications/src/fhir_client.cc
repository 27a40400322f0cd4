// POSTing a notification's FHIR Bundle: one request for a transaction, or one per resource in
// the Bundle's order (Observations before the DiagnosticReport that refers to them).
#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <sstream>

#include "evax/notifications/notification_clients.h"

namespace evax::notifications {
namespace {

using json = nlohmann::json;

struct Response {
  int status = 0;
  std::string location;  // the Location header ("" when none)
};

std::unique_ptr<Poco::Net::HTTPClientSession> open_session(const Poco::URI& uri, int timeout_s) {
  std::unique_ptr<Poco::Net::HTTPClientSession> session;
  if (uri.getScheme() == "https") {
    // The system's trusted CAs verify the server.
    static const Poco::Net::Context::Ptr context = new Poco::Net::Context(
        Poco::Net::Context::TLS_CLIENT_USE, "", "", "", Poco::Net::Context::VERIFY_RELAXED, 9, true);
    session = std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(), uri.getPort(), context);
  } else {
    session = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
  }
  session->setTimeout(Poco::Timespan(timeout_s, 0));
  return session;
}

// One POST of a FHIR JSON body to base + path; throws Poco exceptions on network failures.
Response post(const FhirTarget& target, const std::string& path, const std::string& body, const std::string& if_none_exist) {
  Poco::URI uri(target.base_url);
  std::string base = uri.getPathEtc();
  while (!base.empty() && base.back() == '/') base.pop_back();
  auto session = open_session(uri, target.timeout_s);
  Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, base + (path.empty() ? "/" : "/" + path),
                                 Poco::Net::HTTPMessage::HTTP_1_1);
  request.setContentType("application/fhir+json");
  request.set("Accept", "application/fhir+json");
  if (!target.bearer_token.empty()) request.set("Authorization", "Bearer " + target.bearer_token);
  if (!if_none_exist.empty()) request.set("If-None-Exist", if_none_exist);
  request.setContentLength(static_cast<std::streamsize>(body.size()));
  session->sendRequest(request) << body;
  Poco::Net::HTTPResponse response;
  std::istream& in = session->receiveResponse(response);
  std::ostringstream ignored;
  Poco::StreamCopier::copyStream(in, ignored);
  return {static_cast<int>(response.getStatus()), response.get("Location", "")};
}

// "Observation/123" from a Location "http://server/fhir/Observation/123/_history/1".
std::string reference_of(const std::string& location, const std::string& type) {
  const auto at = location.rfind("/" + type + "/");
  if (at == std::string::npos) return {};
  std::string rest = location.substr(at + 1);
  if (const auto history = rest.find("/_history"); history != std::string::npos) rest.resize(history);
  return rest;
}

void rewrite_references(json& value, const std::map<std::string, std::string>& ids) {
  if (value.is_object()) {
    for (auto& [key, child] : value.items()) {
      if (key == "reference" && child.is_string()) {
        if (const auto it = ids.find(child.get<std::string>()); it != ids.end()) child = it->second;
      } else {
        rewrite_references(child, ids);
      }
    }
  } else if (value.is_array()) {
    for (auto& child : value) rewrite_references(child, ids);
  }
}

SendResult from_status(int status, const std::string& what) {
  const Outcome outcome = classify_http_status(status);
  return {outcome, what + ": HTTP " + std::to_string(status), status, ""};
}

}  // namespace

Outcome classify_http_status(int status) {
  if (status >= 200 && status < 300) return Outcome::sent;
  if (status == 408 || status == 429 || status >= 500) return Outcome::retryable;
  return Outcome::permanent;
}

SendResult send_fhir(const FhirTarget& target, std::string_view bundle_json) {
  json bundle = json::parse(bundle_json, nullptr, false);
  if (bundle.is_discarded() || !bundle.contains("entry"))
    return {Outcome::permanent, "the notification file is not a FHIR Bundle", std::nullopt, ""};
  try {
    if (target.transaction) return from_status(post(target, "", std::string(bundle_json), "").status, "transaction Bundle");
    std::map<std::string, std::string> ids;  // urn:uuid -> Type/id
    int posted = 0;
    for (auto& entry : bundle["entry"]) {
      json resource = entry["resource"];
      const std::string type = resource.value("resourceType", "");
      rewrite_references(resource, ids);
      const std::string if_none_exist = entry["request"].value("ifNoneExist", "");
      const std::string condition = if_none_exist.rfind("identifier=", 0) == 0 ? if_none_exist : "";
      const Response response = post(target, type, resource.dump(), condition);
      if (classify_http_status(response.status) != Outcome::sent)
        return from_status(response.status, type + " " + std::to_string(posted + 1) + " of " +
                                                std::to_string(bundle["entry"].size()));
      const std::string reference = reference_of(response.location, type);
      if (!reference.empty()) ids[entry.value("fullUrl", "")] = reference;
      ++posted;
    }
    return {Outcome::sent, std::to_string(posted) + " resources created", 201, ""};
  } catch (const Poco::Exception& e) {
    return {Outcome::retryable, "the FHIR server did not answer: " + e.displayText(), std::nullopt, ""};
  } catch (const std::exception& e) {
    return {Outcome::retryable, std::string("the FHIR server did not answer: ") + e.what(), std::nullopt, ""};
  }
}

}  // namespace evax::notifications
