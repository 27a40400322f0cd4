#include "evax/dicomweb/stow_client_transport.h"

#include <map>

#include "evax/dicomweb/stow_client.h"

namespace evax::dicomweb {
namespace {

pipeline::TransportOutcome outcome_of(StowOutcome outcome) {
  switch (outcome) {
    case StowOutcome::stored: return pipeline::TransportOutcome::sent;
    case StowOutcome::permanent: return pipeline::TransportOutcome::permanent;
    case StowOutcome::retryable: break;
  }
  return pipeline::TransportOutcome::retryable;
}

class StowTransport final : public pipeline::ObjectTransport {
 public:
  StowTransport(const config::Destination& destination, int connect_timeout_s) : client_(destination, connect_timeout_s) {}

  pipeline::BatchResult send(const std::vector<storage::Delivery>& batch,
                             const std::function<void(std::size_t, const pipeline::ObjectResult&)>& on_sent) override {
    // The batch's indices per study, studies in the order they first appear.
    std::vector<std::string> studies;
    std::map<std::string, std::vector<std::size_t>> members;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto& list = members[batch[i].output.study_instance_uid];
      if (list.empty()) studies.push_back(batch[i].output.study_instance_uid);
      list.push_back(i);
    }
    pipeline::BatchResult out;
    out.objects.resize(batch.size());
    out.answered = false;
    std::string unanswered;  // why the last request got no answer
    for (const auto& study : studies) {
      const auto& indices = members[study];
      if (!unanswered.empty()) {
        for (const auto i : indices) out.objects[i] = {pipeline::TransportOutcome::retryable, std::nullopt, unanswered};
        continue;
      }
      std::vector<StowInstance> instances;
      for (const auto i : indices)
        instances.push_back({batch[i].output.file_path, batch[i].output.sop_class_uid, batch[i].output.sop_instance_uid});
      const auto stored = client_.store(study, instances);
      out.answered = out.answered || stored.answered;
      if (!stored.answered && !stored.instances.empty()) unanswered = stored.instances.front().detail;
      for (std::size_t k = 0; k < indices.size() && k < stored.instances.size(); ++k) {
        const auto& r = stored.instances[k];
        pipeline::ObjectResult result{outcome_of(r.outcome), r.failure_reason, r.detail};
        if (result.outcome == pipeline::TransportOutcome::sent && on_sent) on_sent(indices[k], result);
        out.objects[indices[k]] = std::move(result);
      }
    }
    return out;
  }

  std::string address() const override { return client_.address(); }

 private:
  StowClient client_;
};

}  // namespace

std::unique_ptr<pipeline::ObjectTransport> make_stow_transport(const config::Destination& destination, int connect_timeout_s) {
  return std::make_unique<StowTransport>(destination, connect_timeout_s);
}

}  // namespace evax::dicomweb
