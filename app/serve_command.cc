#include "serve_command.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <csignal>
#include <pthread.h>

#include "command_line.h"
#include "evax/dicom_node/codecs.h"
#include "evax/dicom_node/storage_scp.h"
#include "evax/dicomweb/stow_client_transport.h"
#include "evax/inference/compute_backend.h"
#include "evax/pipeline/analysis_workers.h"
#include "evax/pipeline/output_builders.h"
#include "evax/pipeline/delivery_workers.h"
#include "evax/pipeline/ingest_handler.h"
#include "evax/pipeline/node_heartbeat.h"
#include "evax/pipeline/retention_purger.h"
#include "evax/pipeline/retriever.h"
#include "evax/pipeline/study_assembler.h"
#include "evax/storage/storage_backend.h"
#include "file_digest.h"
#include "node_settings.h"
#include "stow_route.h"

namespace evax::app {
namespace {

std::expected<config::NodeConfig, std::vector<config::ConfigError>> load_and_check(const std::string& path) {
  auto loaded = config::load_config_file(path);
  if (!loaded) return loaded;
  auto errors = check_node_settings(*loaded);
  if (!errors.empty()) return std::unexpected(errors);
  return loaded;
}

// The admin API's C-FIND at a source (POST /api/v1/studies/retrieve and /api/v1/sweeps).
std::function<std::expected<std::vector<admin::StudyMatch>, std::string>(const config::Source&, const admin::StudySearch&)>
find_at_source(const config::NodeConfig& config) {
  return [scu = pipeline::retrieval_scu_settings(config)](const config::Source& source, const admin::StudySearch& search)
             -> std::expected<std::vector<admin::StudyMatch>, std::string> {
    const dicom_node::StudyQuery query{search.study_instance_uid, search.accession_number, search.modalities,
                                       search.body_part, search.date_from, search.date_to};
    auto found = dicom_node::find_studies(scu, pipeline::peer_of(source), query);
    if (!found) return std::unexpected(found.error());
    std::vector<admin::StudyMatch> out;
    for (const auto& f : *found) out.push_back({f.study_instance_uid, f.accession_number, f.study_date, f.modalities});
    return out;
  };
}

// The node proper, from a validated config to a clean stop.
int serve(const config::NodeConfig& config, const sigset_t& stop_signals) {
  logging::Logger log(logging::parse_level(config.logging.level).value_or(logging::Level::info),
                      config.logging.format == "json" ? logging::Logger::Format::json : logging::Logger::Format::text);
  try {
    // A node told to use CUDA where it cannot fails now, naming the cause, rather than after the
    // start-up scan and model loading.
    const inference::ComputeBackend backend = inference::probe_compute_backend();
    if (config.model.device == "cuda" && !backend.cuda_usable()) {
      log.error("node", "device-unavailable", "model.device is cuda, but CUDA cannot be used: " + backend.cuda_unusable_reason,
                {{"libtorch", inference::describe_libtorch(backend)}});
      return 1;
    }
    dicom_node::configure_dcmtk_globals();
    dicom_node::DicomCodecs codecs;
    inference::set_cpu_threads(config.model.cpu_threads);

    const storage::FileStore files = node_files(config);
    logging::AuditLog audit(audit_log_path(config));
    // The one place the node's storage is chosen; every component opens its stores from it.
    const auto storage_backend = storage::make_storage_backend(backend_settings(config), files);
    const auto store = storage_backend->open_instance_index();
    const auto sweep = store->sweep_at_startup();
    const int requeued = storage_backend->open_job_queue()->requeue_running();
    const auto outbox = storage_backend->open_outbox();
    const int resend = outbox->requeue_sending();
    // A retrieval the node stopped in is asked for again: the PACS sends the study again and
    // what the node holds already is acknowledged without being stored twice.
    const int retrievals_requeued = storage_backend->open_retrieval_log()->requeue_running();
    for (const auto& [name, count] : outbox->unfinished_by_destination()) {
      const bool configured = std::any_of(config.destinations.begin(), config.destinations.end(),
                                          [&](const config::Destination& d) { return d.name == name; }) ||
                              std::any_of(config.notifications.begin(), config.notifications.end(),
                                          [&](const config::Notification& n) { return n.name == name; });
      if (!configured)
        log.warn("delivery", "destination-unknown", "results wait for a destination that is no longer configured",
                 {{"destination", name}, {"results", std::to_string(count)}});
    }
    log.info("node", "startup-scan", "start-up scan done",
             {{"data_dir", files.data_dir()}, {"temp_files_removed", std::to_string(sweep.temp_files)},
              {"orphan_files_removed", std::to_string(sweep.orphan_files)}, {"jobs_requeued", std::to_string(requeued)},
              {"deliveries_requeued", std::to_string(resend)}, {"retrievals_requeued", std::to_string(retrievals_requeued)}});

    auto engine = inference::Engine::create(engine_options(config.model));
    if (!engine) {
      log.error("node", "model-load-failed", engine.error());
      return 1;
    }
    const inference::ModelInfo& model = (*engine)->info();
    log.info("node", "model-loaded", model.name + " " + std::string(inference::task_info(model.task).name),
             {{"checkpoint", model.checkpoint}, {"device", model.device}, {"demo", model.demo ? "true" : "false"}});
    if (!model.device_note.empty()) {
      // Expected of a CPU-only build; on a CUDA build it means the GPU is missing or broken.
      const logging::Fields fields{{"libtorch", inference::describe_libtorch(backend)}};
      if (backend.cuda_version) log.warn("node", "device-fallback", model.device_note, fields);
      else log.info("node", "device-fallback", model.device_note, fields);
    }
    if (model.demo) log.warn("node", "demo-model", "DEMO MODEL - UNTRAINED WEIGHTS: results carry no clinical meaning");
    (*engine)->warm_up(config.model.max_batch);

    std::string checkpoint_sha256;
    if (!model.demo) {
      auto digest = sha256_of_file(config.model.classifier_checkpoint);
      if (!digest) {
        log.error("node", "model-load-failed", digest.error());
        return 1;
      }
      checkpoint_sha256 = *digest;
    }

    std::unique_ptr<inference::Segmenter> segmenter;
    std::optional<LoadedSegmenter> loaded_segmenter;
    if (auto options = segmenter_options(config.model)) {
      auto created = inference::Segmenter::create(*options);
      if (!created) {
        log.error("node", "segmenter-load-failed", created.error());
        return 1;
      }
      segmenter = std::move(*created);
      const inference::SegmenterInfo& info = segmenter->info();
      std::string digest;
      if (!info.demo) {
        auto sha = sha256_of_file(info.checkpoint);
        if (!sha) {
          log.error("node", "segmenter-load-failed", sha.error());
          return 1;
        }
        digest = *sha;
      }
      log.info("node", "segmenter-loaded", info.name,
               {{"checkpoint", info.checkpoint}, {"device", info.device}, {"demo", info.demo ? "true" : "false"},
                {"input_size", std::to_string(info.input_size)}});
      if (info.demo)
        log.warn("node", "demo-segmenter", "DEMO SEGMENTATION MODEL - UNTRAINED WEIGHTS: lung masks carry no clinical meaning");
      segmenter->warm_up(1);
      loaded_segmenter.emplace(LoadedSegmenter{info, digest});
    }

    inference::BatchingClassifier classifier(**engine, batching_options(config.model), segmenter.get());
    const pipeline::SteadyClock clock;
    // Each destination's transport by its kind (C-STORE or STOW-RS), each RIS target's by its
    // notification kind (HL7 MLLP or FHIR).
    const auto deliveries = delivery_settings(config);
    pipeline::DeliveryWorkers senders(*storage_backend, deliveries, clock, log, &audit, transport_factory(config, deliveries.scu));
    auto settings = analysis_settings(config, model, checkpoint_sha256, loaded_segmenter);
    auto outputs = pipeline::make_output_builders(settings.results.outputs, settings.results);
    if (!outputs) {  // check_node_settings refused unknown kinds already
      log.error("node", "config-invalid", outputs.error());
      return 1;
    }
    // The RIS notifications come after the DICOM kinds, one builder per notifications[] target.
    for (auto& builder : pipeline::make_notification_outputs(config.notifications, settings.results))
      outputs->push_back(std::move(builder));
    pipeline::AnalysisWorkers workers(files, *storage_backend, classifier, model, std::move(settings), std::move(*outputs),
                                      clock, log, [&senders] { senders.wake(); });
    // On PostgreSQL (a cluster) the quiet period runs on the database's clock, across nodes.
    const auto quiet_clock = config.storage.database.kind == "postgresql" ? pipeline::StudyAssembler::QuietClock::database
                                                                          : pipeline::StudyAssembler::QuietClock::this_node;
    pipeline::StudyAssembler assembler(*storage_backend, std::chrono::seconds(config.study.quiet_period_s), intake_settings(config), clock, log,
                                       [&workers] { workers.wake(); }, quiet_clock);
    pipeline::IngestHandler ingest(files, *store, assembler, log, &audit);
    pipeline::RetentionPurger purger(*storage_backend, std::chrono::hours(config.storage.retention_hours),
                                     std::chrono::seconds(config.storage.purge_interval_s), log);
    pipeline::NodeHeartbeat heartbeat(*storage_backend, node_announcement(config), std::chrono::seconds(config.cluster.heartbeat_s),
                                      std::chrono::seconds(config.cluster.lease_s), log, [&workers, &senders] {
                                        workers.wake();
                                        senders.wake();
                                      });
    pipeline::Retriever retriever(*storage_backend, config, ingest, log);
    heartbeat.start();
    senders.start();
    workers.start();
    assembler.start();
    purger.start();
    auto priority_rules = dicom_node::PriorityRules::create(config.priority);
    if (!priority_rules) {  // check_node_settings refused them already
      log.error("node", "config-invalid", config::describe(priority_rules.error()));
      return 1;
    }
    dicom_node::StorageScp scp(config.dicom, ingest, log, &audit, *priority_rules);
    // STOW-RS: the same handler as the listener's, so the same durability, audit and assembly.
    dicomweb::StowIntake stow_intake(config.stow, ingest, log, &audit);
    retriever.start();  // after the listener: a C-MOVE's instances come back to it
    admin::RetrievalHooks retrieval_hooks{find_at_source(config), [&retriever] { retriever.wake(); },
                                          {model.name, std::string(inference::task_info(model.task).name), model.demo, checkpoint_sha256}};
    admin::AdminServer admin_server(admin::AdminContext{
        config, files, *storage_backend, log, &audit, model_descriptions(model, checkpoint_sha256, loaded_segmenter), [&scp, &classifier] {
          const auto dicom = scp.stats();
          const auto inference = classifier.stats();
          admin::LiveState live{true, dicom.associations_accepted, dicom.associations_refused, dicom.active_associations,
                                dicom.instances_received, dicom.bytes_received, inference.batches, inference.images,
                                inference.batches_by_size, {}, inference.seconds_sum};
          for (std::size_t i = 0; i < inference.seconds_buckets.size(); ++i)
            live.batch_seconds_buckets.emplace_back(inference::BatchingClassifier::Stats::kSecondsBuckets[i], inference.seconds_buckets[i]);
          return live;
        },
        node_id(config), stow_upload_route(stow_intake), std::move(retrieval_hooks)});
    log.info("node", "ready", "node ready",
             {{"ae_title", config.dicom.ae_title}, {"port", std::to_string(config.dicom.port)}, {"http_port", std::to_string(config.http.port)}});

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    log.info("node", "stopping", "stopping on a signal", {{"signal", std::to_string(signal_number)}});
    // Stop taking new work first, then let the work in hand finish.
    admin_server.stop();
    retriever.stop();
    scp.stop();
    assembler.stop();
    workers.stop();
    senders.stop();
    purger.stop();
    log.info("node", "stopped", "node stopped cleanly");
    return 0;
  } catch (const std::exception& e) {
    log.error("node", "startup-failed", e.what());
    return 1;
  }
}

}  // namespace

int run_serve(const std::vector<std::string>& args, std::ostream& err) {
  auto parsed = parse_command_line(args, {"--config"}, {});
  if (!parsed || !parsed->has("--config") || !parsed->positional.empty()) {
    err << "evax-node serve: " << (parsed ? "--config FILE is required" : parsed.error()) << "\nusage: " << kServeUsage << "\n";
    return 2;
  }
  auto config = load_and_check(parsed->values.at("--config"));
  if (!config) {
    for (const auto& e : config.error()) err << "evax-node serve: config: " << config::describe(e) << "\n";
    return 2;
  }
  // Every thread the node starts inherits this mask, so only sigwait() sees the stop signals.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a peer closing its socket must not end the process
  return serve(*config, stop_signals);
}

int run_check_config(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.size() != 1) {
    err << "usage: " << kCheckConfigUsage << "\n";
    return 2;
  }
  auto config = load_and_check(args[0]);
  if (!config) {
    for (const auto& e : config.error()) out << args[0] << ": " << config::describe(e) << "\n";
    return 1;
  }
  out << args[0] << ": valid; AE " << config->dicom.ae_title << " on port " << config->dicom.port << ", data in "
      << config->storage.data_dir << ", model " << config->model.classifier_checkpoint << ", "
      << config->destinations.size() << " destination(s)\n";
  return 0;
}

}  // namespace evax::app
