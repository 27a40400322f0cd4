// The outbox's transport for a RIS target: each delivery's file is one notification, sent on
// its own (an MLLP exchange waiting for the ACK, or the FHIR requests). The target "answered"
// unless every message of the batch failed without a word from it (no connection, no ACK, no
// HTTP status): then the outbox pauses the target as a whole, as for an unreachable PACS.
#include "evax/pipeline/notification_transport.h"

#include <fstream>
#include <sstream>

#include "evax/notifications/notification_clients.h"

namespace evax::pipeline {
namespace {

class NotificationTransport final : public ObjectTransport {
 public:
  explicit NotificationTransport(config::Notification target) : target_(std::move(target)) {}

  BatchResult send(const std::vector<storage::Delivery>& batch,
                   const std::function<void(std::size_t, const ObjectResult&)>& on_sent) override {
    BatchResult out;
    out.answered = false;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      std::ifstream in(batch[i].output.file_path, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      if (!in) {
        out.objects.push_back({TransportOutcome::permanent, std::nullopt, "the notification file cannot be read", false, "", ""});
        out.answered = true;
        continue;
      }
      const auto sent = target_.kind == "hl7"
                            ? notifications::send_mllp({target_.host, target_.port, target_.connect_timeout_s, target_.ack_timeout_s},
                                                       text.str())
                            : notifications::send_fhir({target_.url, target_.bearer_token, target_.mode == "transaction",
                                                        target_.timeout_s},
                                                       text.str());
      ObjectResult result;
      result.outcome = sent.outcome == notifications::Outcome::sent        ? TransportOutcome::sent
                       : sent.outcome == notifications::Outcome::permanent ? TransportOutcome::permanent
                                                                           : TransportOutcome::retryable;
      result.status = sent.http_status;
      result.detail = sent.detail;
      result.sent_sop_instance_uid = batch[i].output.sop_instance_uid;
      if (!sent.ack_code.empty() || sent.http_status) out.answered = true;
      if (result.outcome == TransportOutcome::sent && on_sent) on_sent(i, result);
      out.objects.push_back(std::move(result));
    }
    return out;
  }

  std::string address() const override {
    return target_.kind == "hl7" ? "mllp://" + target_.host + ":" + std::to_string(target_.port) : target_.url;
  }

 private:
  const config::Notification target_;
};

}  // namespace

std::unique_ptr<ObjectTransport> make_notification_transport(const config::Notification& target) {
  return std::make_unique<NotificationTransport>(target);
}

}  // namespace evax::pipeline
