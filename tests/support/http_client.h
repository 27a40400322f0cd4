// A plain HTTP(S) client for the tests (the admin API, Orthanc's REST API): one request on a
// fresh connection, the whole answer. Poco stays in the .cc.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace evax::testing {

struct HttpAnswer {
  int status = 0;                               // 0: no answer (connection failed; see error)
  std::map<std::string, std::string> headers;   // names lower-cased
  std::string body;
  std::string error;

  std::string header(const std::string& lower_case_name) const {
    const auto it = headers.find(lower_case_name);
    return it == headers.end() ? "" : it->second;
  }
};

struct HttpCall {
  std::string method = "GET";
  std::string path = "/";
  std::string token;                            // sent as "Authorization: Bearer <token>" unless empty
  std::string body;
  std::string content_type;                     // sent with a body ("" = none)
  std::string ca_file;                          // non-empty: HTTPS, verifying against this CA
  std::chrono::seconds timeout{20};
  std::vector<std::pair<std::string, std::string>> headers;  // more header fields (Accept, ...)
};

HttpAnswer http_call(int port, const HttpCall& call);

}  // namespace evax::testing
