#include "evax/pipeline/retriever.h"

#include <algorithm>

namespace evax::pipeline {
namespace {

// Queued work that arrives without a wake() (another node's API on a shared database) is
// seen within this.
constexpr auto kPoll = std::chrono::seconds(2);

}  // namespace

dicom_node::Peer peer_of(const config::Source& source) {
  dicom_node::Peer peer{source.ae_title, source.host, source.port, std::nullopt};
  if (source.tls)
    peer.tls = dicom_node::PeerTls{source.tls->trusted_certificates, source.tls->certificate, source.tls->private_key,
                                   source.tls->verify_peer};
  return peer;
}

dicom_node::ScuSettings retrieval_scu_settings(const config::NodeConfig& config) {
  return {config.dicom.ae_title, config.retrieval.connect_timeout_s, config.retrieval.timeout_s, config.dicom.max_pdu};
}

Retriever::Retriever(storage::StorageBackend& storage, const config::NodeConfig& config, dicom_node::StoreHandler& handler,
                     logging::Logger& log)
    : storage_(storage), sources_(config.sources), settings_(config.retrieval), scu_(retrieval_scu_settings(config)),
      own_ae_title_(config.dicom.ae_title), handler_(handler), log_(log) {}

Retriever::~Retriever() { stop(); }

void Retriever::start() {
  for (int i = 0; i < settings_.max_concurrent; ++i) threads_.emplace_back([this] { run(); });
}

void Retriever::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void Retriever::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  wake_.notify_all();
}

void Retriever::run() {
  std::unique_ptr<storage::RetrievalLog> retrievals;
  const auto interval = std::chrono::microseconds(60'000'000 / settings_.per_minute);
  for (;;) {
    std::optional<storage::Retrieval> claimed;
    try {
      if (!retrievals) retrievals = storage_.open_retrieval_log();
      std::unique_lock lock(mutex_);
      // The rate limit: a slot is taken only by a retrieval that starts; another thread may
      // have taken the one this one waited for, so the time is read again after each wait.
      while (!stopping_ && std::chrono::steady_clock::now() < next_start_) wake_.wait_until(lock, next_start_);
      if (stopping_) return;
      claimed = retrievals->claim_next();
      if (claimed) next_start_ = std::chrono::steady_clock::now() + interval;
    } catch (const std::exception& e) {
      log_.error("retrieval", "claim-failed", e.what());
      retrievals.reset();  // a fresh connection next time
    }
    if (claimed) {
      retrieve(*retrievals, *claimed);
      continue;
    }
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, kPoll, [this] { return stopping_ || woken_; }) && stopping_) return;
    woken_ = false;
  }
}

void Retriever::retrieve(storage::RetrievalLog& retrievals, const storage::Retrieval& r) {
  const logging::Fields fields{{"retrieval", std::to_string(r.id)}, {"source", r.source}, {"method", r.method}};
  dicom_node::RetrieveOutcome outcome;
  // The exception boundary of one retrieval: it fails, the thread goes on.
  try {
    const auto source = std::find_if(sources_.begin(), sources_.end(), [&](const config::Source& s) { return s.name == r.source; });
    if (source == sources_.end()) {
      outcome.detail = "source '" + r.source + "' is no longer configured";
    } else {
      log_.info("retrieval", "started", "retrieving a study", fields);
      outcome = r.method == "c-get" ? dicom_node::get_study(scu_, peer_of(*source), r.study_instance_uid, handler_)
                                    : dicom_node::move_study(scu_, peer_of(*source), r.study_instance_uid, own_ae_title_);
      if (outcome.ok && outcome.completed + outcome.warning == 0) {
        outcome.ok = false;
        if (outcome.detail.empty()) outcome.detail = "the source sent no instance of the study";
      }
    }
  } catch (const std::exception& e) {
    outcome = {false, 0, 0, 0, std::string("internal error: ") + e.what()};
  }
  logging::Fields done = fields;
  done.push_back({"completed", std::to_string(outcome.completed)});
  done.push_back({"failed", std::to_string(outcome.failed)});
  if (outcome.ok) log_.info("retrieval", "done", "study retrieved", done);
  else log_.warn("retrieval", "failed", outcome.detail, done);
  try {
    retrievals.finish(r.id, outcome.ok, outcome.completed, outcome.failed, outcome.warning, outcome.detail);
  } catch (const std::exception& e) {
    // Left running in the database: queued again at the next start, and retrieved again.
    log_.error("retrieval", "record-failed", e.what(), fields);
  }
}

}  // namespace evax::pipeline
