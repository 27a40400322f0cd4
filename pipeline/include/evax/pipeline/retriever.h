// Retriever: pulls the studies queued in the RetrievalLog (POST /api/v1/studies/retrieve,
// sweeps) from their source, by C-MOVE to the node's own AE title or by C-GET, so that each
// arrives through the node's ordinary intake (the listener's StoreHandler) and is analysed as
// if it had been pushed. At most retrieval.max_concurrent at once and retrieval.per_minute
// started per minute, across all its threads. A retrieval left running by a stopped node is
// queued again at start (requeue_running, in serve()).
// Owns max_concurrent threads: start() starts them, stop() / the destructor join them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "evax/config/node_config.h"
#include "evax/dicom_node/query_retrieve_scu.h"
#include "evax/logging/logger.h"
#include "evax/storage/storage_backend.h"

namespace evax::pipeline {

// How the SCU reaches a source.
dicom_node::Peer peer_of(const config::Source& source);
dicom_node::ScuSettings retrieval_scu_settings(const config::NodeConfig& config);

class Retriever {
 public:
  // `handler` receives the instances a C-GET brings (the listener's); it and `log` must
  // outlive this object. Each thread opens its own RetrievalLog from `storage`.
  Retriever(storage::StorageBackend& storage, const config::NodeConfig& config, dicom_node::StoreHandler& handler,
            logging::Logger& log);
  ~Retriever();
  Retriever(const Retriever&) = delete;
  Retriever& operator=(const Retriever&) = delete;

  void start();
  // Lets the retrievals in progress end (each is bounded by retrieval.timeout_s), joins.
  void stop();
  // Something was queued: look now rather than at the next poll.
  void wake();

 private:
  void run();
  void retrieve(storage::RetrievalLog& log, const storage::Retrieval& retrieval);

  storage::StorageBackend& storage_;
  const std::vector<config::Source> sources_;
  const config::RetrievalSettings settings_;
  const dicom_node::ScuSettings scu_;
  const std::string own_ae_title_;
  dicom_node::StoreHandler& handler_;
  logging::Logger& log_;

  std::mutex mutex_;  // guards stopping_, woken_ and next_start_
  std::condition_variable wake_;
  bool stopping_ = false;
  bool woken_ = false;
  std::chrono::steady_clock::time_point next_start_{};  // the rate limit: no retrieval starts before
  std::vector<std::thread> threads_;
};

}  // namespace evax::pipeline
