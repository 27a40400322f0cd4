// StowClient over Poco's HTTP client: a new connection per request (a STOW-RS batch is seconds
// apart from the next at most, and a fresh connection never meets one the server closed).
#include <Poco/Crypto/X509Certificate.h>
#include <Poco/Exception.h>
#include <Poco/Net/AcceptCertificateHandler.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPBasicCredentials.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/RejectCertificateHandler.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/URI.h>

#include <memory>
#include <mutex>

#include "evax/dicomweb/multipart_writer.h"
#include "evax/dicomweb/stow_client.h"

namespace evax::dicomweb {
namespace {

constexpr std::size_t kMaxResponseBytes = 4 * 1024 * 1024;  // a response lists UIDs: far less

void initialise_ssl_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    Poco::Net::initializeSSL();
    // A certificate that fails verification (or names another host) ends the handshake: no prompt.
    Poco::Net::SSLManager::instance().initializeClient(nullptr, new Poco::Net::RejectCertificateHandler(false), nullptr);
  });
}

// TLS 1.2 and later; the destination's certificate must chain to one of trusted_certificates
// (the system's authorities when the destination has no tls block).
Poco::Net::Context::Ptr client_context(const config::Destination& destination) {
  initialise_ssl_once();
  const auto& tls = destination.tls;
  const bool verify = !tls || tls->verify_peer;
  Poco::Net::Context::Ptr context = new Poco::Net::Context(
      Poco::Net::Context::TLS_CLIENT_USE, tls ? tls->private_key : "", tls ? tls->certificate : "", "",
      verify ? Poco::Net::Context::VERIFY_RELAXED : Poco::Net::Context::VERIFY_NONE, 9, !tls,
      "ALL:!ADH:!LOW:!EXP:!MD5:!RC4:@STRENGTH");
  context->disableProtocols(Poco::Net::Context::PROTO_SSLV2 | Poco::Net::Context::PROTO_SSLV3 | Poco::Net::Context::PROTO_TLSV1 |
                            Poco::Net::Context::PROTO_TLSV1_1);
  if (tls)
    for (const auto& path : tls->trusted_certificates) context->addCertificateAuthority(Poco::Crypto::X509Certificate(path));
  return context;
}

std::string trimmed_path(const Poco::URI& uri) {
  std::string path = uri.getPath();
  while (!path.empty() && path.back() == '/') path.pop_back();
  return path;
}

}  // namespace

std::string redacted_url(const std::string& url) {
  try {
    Poco::URI uri(url);
    uri.setUserInfo("");
    uri.setQuery("");
    uri.setFragment("");
    return uri.toString();
  } catch (const Poco::Exception&) {
    return "(unparseable url)";
  }
}

struct StowClient::Impl {
  Poco::URI base;
  Poco::Net::Context::Ptr context;  // https only
  std::string bearer_token, username, password;
  Poco::Timespan connect_timeout, timeout;
  std::string address;

  std::unique_ptr<Poco::Net::HTTPClientSession> session() const {
    std::unique_ptr<Poco::Net::HTTPClientSession> s;
    if (context) s = std::make_unique<Poco::Net::HTTPSClientSession>(base.getHost(), base.getPort(), context);
    else s = std::make_unique<Poco::Net::HTTPClientSession>(base.getHost(), base.getPort());
    s->setTimeout(connect_timeout, timeout, timeout);
    s->setKeepAlive(false);
    return s;
  }
};

StowClient::StowClient(const config::Destination& destination, int connect_timeout_s) : impl_(std::make_unique<Impl>()) {
  impl_->base = Poco::URI(destination.url);
  if (impl_->base.getScheme() == "https") impl_->context = client_context(destination);
  if (destination.auth) {
    impl_->bearer_token = destination.auth->bearer_token;
    impl_->username = destination.auth->username;
    impl_->password = destination.auth->password;
  }
  impl_->connect_timeout = Poco::Timespan(connect_timeout_s, 0);
  impl_->timeout = Poco::Timespan(destination.timeout_s, 0);
  impl_->address = redacted_url(destination.url);
}

StowClient::~StowClient() = default;

std::string StowClient::address() const { return impl_->address; }

StowResult StowClient::store(const std::string& study_instance_uid, const std::vector<StowInstance>& instances) {
  StowResult result;
  auto all = [&](StowOutcome outcome, const std::string& detail) {
    result.instances.assign(instances.size(), {outcome, std::nullopt, detail});
    return result;
  };
  std::vector<std::string> paths;
  for (const auto& instance : instances) paths.push_back(instance.path);
  auto writer = MultipartWriter::open(paths);
  if (!writer) return all(StowOutcome::permanent, "the result file cannot be read: " + writer.error());

  // The UID is a DICOM UID (digits and dots) made by the node; encoded all the same.
  std::string uid_segment;
  Poco::URI::encode(study_instance_uid, "/?#&;=+ %", uid_segment);
  Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, trimmed_path(impl_->base) + "/studies/" + uid_segment,
                                 Poco::Net::HTTPMessage::HTTP_1_1);
  request.setContentType(writer->content_type());
  request.setContentLength64(writer->content_length());
  request.set("Accept", "application/dicom+json");
  if (!impl_->bearer_token.empty()) request.set("Authorization", "Bearer " + impl_->bearer_token);
  else if (!impl_->username.empty()) Poco::Net::HTTPBasicCredentials(impl_->username, impl_->password).authenticate(request);

  try {
    auto session = impl_->session();
    std::ostream& out = session->sendRequest(request);
    if (!writer->write(out)) {
      // A local problem (a file changed under us), not the service's: the service did answer
      // in the sense that matters (it is not to be paused).
      result.answered = true;
      return all(StowOutcome::retryable, "a result file could not be read while sending");
    }
    Poco::Net::HTTPResponse response;
    std::istream& in = session->receiveResponse(response);
    std::string body;
    char buffer[16 * 1024];
    while (body.size() < kMaxResponseBytes && in.read(buffer, sizeof buffer).gcount() > 0)
      body.append(buffer, static_cast<std::size_t>(in.gcount()));
    result.answered = true;
    result.http_status = static_cast<int>(response.getStatus());
    result.instances = interpret_stow_response(result.http_status, response.getReason(),
                                               response.has("Content-Type") ? response.getContentType() : "", body, instances);
    return result;
  } catch (const Poco::Exception& e) {
    // Refused, reset, timed out, TLS failed, or closed before an answer: nothing says the
    // service has the instances; they go again with the same UIDs.
    return all(StowOutcome::retryable, "no answer from " + impl_->address + ": " + e.displayText());
  } catch (const std::exception& e) {
    return all(StowOutcome::retryable, "no answer from " + impl_->address + ": " + e.what());
  }
}

std::string check_stow_tls(const config::Destination& destination) {
  try {
    if (Poco::URI(destination.url).getScheme() == "https") client_context(destination);
    return "";
  } catch (const Poco::Exception& e) {
    return e.displayText();
  }
}

}  // namespace evax::dicomweb
