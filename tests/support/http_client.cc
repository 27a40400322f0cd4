#include "http_client.h"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/StreamCopier.h>

#include <cctype>
#include <memory>
#include <mutex>
#include <sstream>

namespace evax::testing {

HttpAnswer http_call(int port, const HttpCall& call) {
  HttpAnswer answer;
  try {
    std::unique_ptr<Poco::Net::HTTPClientSession> session;
    if (call.ca_file.empty()) {
      session = std::make_unique<Poco::Net::HTTPClientSession>("127.0.0.1", static_cast<Poco::UInt16>(port));
    } else {
      static std::once_flag once;
      std::call_once(once, [] { Poco::Net::initializeSSL(); });
      Poco::Net::Context::Ptr context =
          new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", call.ca_file, Poco::Net::Context::VERIFY_STRICT);
      session = std::make_unique<Poco::Net::HTTPSClientSession>("localhost", static_cast<Poco::UInt16>(port), context);
    }
    session->setTimeout(Poco::Timespan(static_cast<long>(call.timeout.count()), 0));
    Poco::Net::HTTPRequest request(call.method, call.path, Poco::Net::HTTPMessage::HTTP_1_1);
    if (!call.token.empty()) request.set("Authorization", "Bearer " + call.token);
    if (!call.content_type.empty()) request.setContentType(call.content_type);
    for (const auto& [name, value] : call.headers) request.set(name, value);
    request.setContentLength(static_cast<std::streamsize>(call.body.size()));
    session->sendRequest(request) << call.body;
    Poco::Net::HTTPResponse response;
    std::istream& in = session->receiveResponse(response);
    answer.status = static_cast<int>(response.getStatus());
    for (const auto& [name, value] : response) {
      std::string lower = name;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      answer.headers[lower] = value;
    }
    std::ostringstream body;
    Poco::StreamCopier::copyStream(in, body);
    answer.body = body.str();
  } catch (const Poco::Exception& e) {  // what() is only the class name
    answer.error = e.displayText();
  } catch (const std::exception& e) {
    answer.error = e.what();
  }
  return answer;
}

}  // namespace evax::testing
