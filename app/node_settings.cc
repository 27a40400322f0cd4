#include "node_settings.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "evax/dicom_node/storage_scu.h"
#include "evax/dicom_node/study_priority.h"
#include "evax/dicom_node/tls_files.h"
#include "evax/dicomweb/stow_client.h"
#include "evax/dicomweb/stow_client_transport.h"
#include "evax/pipeline/notification_transport.h"
#include "evax/pipeline/output_builders.h"
#include "evax/reporting/result_objects.h"
#include "evax/storage/file_store.h"
#include "version.h"

namespace evax::app {

namespace {

// Whether the file exists and can be read: "" when it can.
std::string check_readable_file(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) return "no such file: " + path;
  if (::access(path.c_str(), R_OK) != 0) return "cannot read " + path + ": " + std::strerror(errno);
  return "";
}

// Whether the node can append to this file (creating it if need be): "" when it can. Nothing is
// created here; check-config leaves the disk as it found it.
std::string check_appendable_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path file(path);
  if (fs::exists(file, error)) {
    if (!fs::is_regular_file(file, error)) return "not a regular file: " + path;
    if (::access(path.c_str(), W_OK) != 0) return "cannot write " + path + ": " + std::strerror(errno);
    return "";
  }
  const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  if (!fs::exists(dir, error)) return "its directory does not exist: " + dir.string();
  if (!fs::is_directory(dir, error)) return "its directory is not a directory: " + dir.string();
  if (::access(dir.c_str(), W_OK | X_OK) != 0) return "cannot create files in " + dir.string() + ": " + std::strerror(errno);
  return "";
}

// Whether `host` is this machine: a loopback or wildcard address, "localhost", its host name, or
// an address of one of its interfaces. Names are not resolved: check-config must not wait on DNS.
bool is_this_machine(const std::string& host) {
  char name[256] = {};
  if (host == "localhost" || (::gethostname(name, sizeof name - 1) == 0 && host == name)) return true;
  in_addr v4{};
  in6_addr v6{};
  const bool is_v4 = ::inet_pton(AF_INET, host.c_str(), &v4) == 1;
  const bool is_v6 = !is_v4 && ::inet_pton(AF_INET6, host.c_str(), &v6) == 1;
  if (is_v4 && ((ntohl(v4.s_addr) >> 24) == 127 || v4.s_addr == INADDR_ANY)) return true;
  if (is_v6 && (IN6_IS_ADDR_LOOPBACK(&v6) || IN6_IS_ADDR_UNSPECIFIED(&v6))) return true;
  if (!is_v4 && !is_v6) return false;
  ifaddrs* interfaces = nullptr;
  if (::getifaddrs(&interfaces) != 0) return false;
  bool found = false;
  for (const ifaddrs* i = interfaces; i && !found; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    if (is_v4 && i->ifa_addr->sa_family == AF_INET)
      found = reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr == v4.s_addr;
    if (is_v6 && i->ifa_addr->sa_family == AF_INET6)
      found = IN6_ARE_ADDR_EQUAL(&reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr, &v6);
  }
  ::freeifaddrs(interfaces);
  return found;
}

}  // namespace

std::vector<config::ConfigError> check_node_settings(const config::NodeConfig& config) {
  std::vector<config::ConfigError> errors;
  const auto& model = config.model;
  const std::string& checkpoint = model.classifier_checkpoint;
  if (checkpoint.rfind("demo:", 0) == 0) {
    const std::string size = checkpoint.substr(5);
    if (size != "tiny" && size != "small" && size != "base")
      errors.push_back({"model.classifier.checkpoint", "demo weights come as demo:tiny, demo:small or demo:base"});
  } else if (const std::string problem = check_readable_file(checkpoint); !problem.empty()) {
    errors.push_back({"model.classifier.checkpoint", problem});
  }
  const std::string& segmenter = model.segmenter_checkpoint;
  if (!segmenter.empty() && segmenter != "demo") {
    if (const std::string problem = check_readable_file(segmenter); !problem.empty())
      errors.push_back({"model.segmenter.checkpoint", problem + " (an mmsegmentation checkpoint, or demo)"});
  }
  if (!segmenter.empty() && model.classifier_task == "features")
    errors.push_back({"model.segmenter.checkpoint", "lung results need a classification task: the features task sends no results"});
  if (!model.classifier_task.empty() && !inference::parse_task(model.classifier_task))
    errors.push_back({"model.classifier.task", "must be one of " + inference::task_names()});
  for (const auto& [label, unused] : config.reporting.operating_points) {
    bool known = false;
    for (auto task : {inference::Task::cxr14, inference::Task::chexpert, inference::Task::covidx3, inference::Task::covidx4})
      for (const auto& l : inference::task_info(task).labels) known = known || l == label;
    if (!known) errors.push_back({"reporting.operating_points." + label, "is not a label of any supported head"});
  }
  if (auto rules = dicom_node::PriorityRules::create(config.priority); !rules) errors.push_back(rules.error());
  const auto kinds = pipeline::known_output_kinds();
  for (const auto& kind : config.reporting.outputs)
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
      std::string list;
      for (const auto& k : kinds) list += (list.empty() ? "" : ", ") + k;
      errors.push_back({"reporting.outputs", "\"" + kind + "\" is not an output kind of this node (" + list + ")"});
    }
  // Every file the config names is read here, so that check-config and the start refuse what
  // the running parts would fail on later, each problem under its own key.
  if (const std::string problem = admin::baseline_file_problem(config.monitoring); !problem.empty())
    errors.push_back({"monitoring.baseline_file", problem});
  auto check_tls = [&errors](const std::string& block, const dicom_node::TlsFiles& files) {
    for (const auto& p : dicom_node::check_tls_files(files)) errors.push_back({block + "." + p.field, p.problem});
  };
  if (const auto& tls = config.dicom.tls)
    check_tls("dicom.tls", {tls->certificate, "certificate", tls->private_key, "private_key", tls->trusted_certificates});
  if (const auto& tls = config.http.tls) check_tls("http.tls", {tls->certificate, "certificate", tls->key, "key", {}});
  for (std::size_t i = 0; i < config.destinations.size(); ++i) {
    const auto& d = config.destinations[i];
    const std::string entry = "destinations[" + std::to_string(i) + "]";
    // Results sent to the node's own port would come back in as a new study, and so on.
    if (d.kind == "dicom" && d.port == config.dicom.port && is_this_machine(d.host))
      errors.push_back({entry, d.host + ":" + std::to_string(d.port) + " is this node's own DICOM port: results would be sent back into the node"});
    const auto& tls = d.tls;
    if (!tls) continue;
    const std::string block = entry + ".tls";
    const std::size_t before = errors.size();
    check_tls(block, {tls->certificate, "certificate", tls->private_key, "private_key", tls->trusted_certificates});
    if (errors.size() != before) continue;
    // The files are sound; what is left is whether DCMTK (or Poco, for STOW-RS) can build a
    // TLS layer from them.
    const std::string problem =
        d.kind == "dicomweb" ? dicomweb::check_stow_tls(d) : dicom_node::check_peer_tls(*pipeline::peer_of(d).tls);
    if (!problem.empty()) errors.push_back({block, problem});
  }
  for (std::size_t i = 0; i < config.sources.size(); ++i) {
    const auto& tls = config.sources[i].tls;
    if (!tls) continue;
    const std::string block = "sources[" + std::to_string(i) + "].tls";
    const std::size_t before = errors.size();
    check_tls(block, {tls->certificate, "certificate", tls->private_key, "private_key", tls->trusted_certificates});
    if (errors.size() != before) continue;
    const dicom_node::PeerTls peer_tls{tls->trusted_certificates, tls->certificate, tls->private_key, tls->verify_peer};
    if (const std::string problem = dicom_node::check_peer_tls(peer_tls); !problem.empty()) errors.push_back({block, problem});
  }
  if (!config.logging.audit_file.empty()) {
    if (const std::string problem = check_appendable_file(config.logging.audit_file); !problem.empty())
      errors.push_back({"logging.audit_file", problem});
  }
  if (model.device == "cpu" && model.precision != "fp32")
    errors.push_back({"model.precision", "bf16 and fp16 need model.device cuda (or auto with a GPU)"});
  return errors;
}

inference::EngineOptions engine_options(const config::ModelSettings& model) {
  inference::EngineOptions options;
  options.checkpoint = model.classifier_checkpoint;
  if (!model.classifier_task.empty()) options.task = inference::parse_task(model.classifier_task);
  options.device = inference::parse_device(model.device).value_or(inference::DeviceChoice::automatic);
  options.precision = inference::parse_precision(model.precision).value_or(inference::Precision::fp32);
  // Graphs for every batch size the batcher can form.
  options.cuda_graph_batches.clear();
  for (int b = 1; b <= model.max_batch; b *= 2) options.cuda_graph_batches.push_back(b);
  return options;
}

std::optional<inference::SegmenterOptions> segmenter_options(const config::ModelSettings& model) {
  if (model.segmenter_checkpoint.empty()) return std::nullopt;
  inference::SegmenterOptions options;
  options.checkpoint = model.segmenter_checkpoint;
  if (model.segmenter_input_size > 0) options.input_size = model.segmenter_input_size;
  options.threshold = model.segmenter_threshold;
  options.device = inference::parse_device(model.device).value_or(inference::DeviceChoice::automatic);
  options.precision = inference::parse_precision(model.precision).value_or(inference::Precision::fp32);
  return options;
}

inference::BatchingOptions batching_options(const config::ModelSettings& model) {
  return {model.max_batch, std::chrono::milliseconds(model.max_batch_wait_ms)};
}

dicom_node::IntakeSettings intake_settings(const config::NodeConfig& config) {
  dicom_node::IntakeSettings intake;
  intake.accept_empty_body_part = config.study.accept_empty_body_part;
  return intake;
}

pipeline::AnalysisSettings analysis_settings(const config::NodeConfig& config, const inference::ModelInfo& model,
                                             const std::string& checkpoint_sha256,
                                             const std::optional<LoadedSegmenter>& segmenter) {
  pipeline::AnalysisSettings settings;
  settings.workers = config.workers;
  settings.intake = intake_settings(config);
  settings.cam_top_k = config.model.cam_top_k;
  auto& results = settings.results;
  results.algorithm.software_version = kVersion;
  results.algorithm.model_name = model.name;
  results.algorithm.model_task = std::string(inference::task_info(model.task).name);
  results.algorithm.checkpoint_sha256 = checkpoint_sha256;
  results.algorithm.demo = model.demo;
  results.algorithm.device_observer_uid = device_observer_uid(config.storage.data_dir, config.dicom.ae_title);
  results.algorithm.station_name = config.dicom.ae_title;
  results.document_type = reporting::parse_sr_document_type(config.reporting.sr_document_type_in_force())
                              .value_or(reporting::SrDocumentType::comprehensive);
  results.default_operating_point = config.reporting.default_operating_point;
  results.operating_points = config.reporting.operating_points;
  results.outputs = config.reporting.outputs;
  if (!config.reporting.secondary_capture) std::erase(results.outputs, "sc");
  results.sc_max_side = config.reporting.sc_max_side;
  // A route with no kinds takes every kind, the notifications' too: a destination whose
  // `outputs` is empty gets every DICOM kind, and each RIS target only its own notification.
  for (const auto& d : config.destinations)
    results.destinations.push_back({d.name, d.outputs.empty() ? config::output_kinds() : d.outputs});
  for (const auto& n : config.notifications)
    results.destinations.push_back({n.name, {pipeline::notification_output_kind(n)}});
  if (segmenter && model.task != inference::Task::features) {
    settings.segment_lungs = true;
    settings.lung_limits = {config.model.lung_min_region_fraction, config.model.lung_max_total_fraction};
    reporting::AlgorithmIdentity lung_model = results.algorithm;
    lung_model.model_name = segmenter->info.name;
    lung_model.model_task = "lungs";
    lung_model.checkpoint_sha256 = segmenter->checkpoint_sha256;
    lung_model.demo = segmenter->info.demo;
    char parameters[160];
    std::snprintf(parameters, sizeof parameters, "input %d, threshold %.3g; lungs each >= %.3g and together <= %.3g of the image",
                  segmenter->info.input_size, segmenter->info.threshold, config.model.lung_min_region_fraction,
                  config.model.lung_max_total_fraction);
    lung_model.parameters = parameters;
    results.segmenter = lung_model;
  }
  return settings;
}

namespace {

std::string host_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "localhost";
  return host;
}

}  // namespace

std::string node_id(const config::NodeConfig& config) {
  if (!config.cluster.node_id.empty()) return config.cluster.node_id;
  return host_name() + ":" + std::to_string(config.dicom.port);
}

storage::NodeAnnouncement node_announcement(const config::NodeConfig& config) {
  return {node_id(config), config.cluster.address.empty() ? host_name() : config.cluster.address, kVersion,
          logging::utc_now_iso()};
}

storage::BackendSettings backend_settings(const config::NodeConfig& config) {
  storage::BackendSettings settings;
  settings.kind = config.storage.database.kind == "postgresql" ? storage::BackendSettings::Kind::postgresql
                                                               : storage::BackendSettings::Kind::sqlite;
  settings.min_free_bytes = config.storage.min_free_mb * 1024 * 1024;
  settings.dsn = config.storage.database.dsn;
  settings.pool_size = config.storage.database.pool_size;
  settings.node_id = node_id(config);
  return settings;
}

storage::FileStore node_files(const config::NodeConfig& config) {
  const bool shared = config.storage.database.kind == "postgresql";
  return storage::FileStore(config.storage.data_dir, shared ? node_id(config) : "");
}

pipeline::DeliverySettings delivery_settings(const config::NodeConfig& config) {
  pipeline::DeliverySettings settings;
  settings.retry = config.delivery;
  settings.destinations = config.destinations;
  // Each RIS target has its own sender in the outbox, under its name; its transport comes from
  // transport_factory (a pseudo-destination: only the name is used).
  for (const auto& n : config.notifications) {
    config::Destination target;
    target.name = n.name;
    target.kind = "notification:" + n.kind;  // never a destination's kind
    settings.destinations.push_back(std::move(target));
  }
  settings.scu = {config.dicom.ae_title, config.delivery.connect_timeout_s, config.delivery.dimse_timeout_s, config.dicom.max_pdu};
  return settings;
}

pipeline::TransportFactory transport_factory(const config::NodeConfig& config, const dicom_node::ScuSettings& scu) {
  return [&config, scu](const config::Destination& destination) -> std::unique_ptr<pipeline::ObjectTransport> {
    for (const auto& n : config.notifications)
      if (n.name == destination.name) return pipeline::make_notification_transport(n);
    if (destination.kind == "dicomweb") return dicomweb::make_stow_transport(destination, config.delivery.connect_timeout_s);
    if (destination.kind == "dicom") return pipeline::make_dicom_transport(scu, destination);
    return nullptr;
  };
}

std::vector<admin::ModelDescription> model_descriptions(const inference::ModelInfo& model, const std::string& checkpoint_sha256,
                                                        const std::optional<LoadedSegmenter>& segmenter) {
  auto file_size = [](const std::string& path, bool demo) -> std::int64_t {
    std::error_code error;
    const auto size = demo ? 0 : std::filesystem::file_size(path, error);
    return error ? 0 : static_cast<std::int64_t>(size);
  };
  std::vector<admin::ModelDescription> out;
  admin::ModelDescription classifier{"classifier", model.name, model.size, std::string(inference::task_info(model.task).name),
                                     model.checkpoint, model.checkpoint_format, checkpoint_sha256,
                                     file_size(model.checkpoint, model.demo), model.device, model.device_note,
                                     std::string(inference::precision_name(model.precision)), model.input_size, model.demo, model.labels};
  out.push_back(classifier);
  if (segmenter) {
    const auto& info = segmenter->info;
    out.push_back({"segmenter", info.name, info.embed_dim == 384 && info.depth == 12 ? "small" : "custom", "lungs", info.checkpoint,
                   info.checkpoint_format, segmenter->checkpoint_sha256, file_size(info.checkpoint, info.demo), info.device,
                   info.device_note, std::string(inference::precision_name(info.precision)), info.input_size, info.demo, {"lung"}});
  }
  return out;
}

std::string audit_log_path(const config::NodeConfig& config) {
  return config.logging.audit_file.empty() ? (std::filesystem::path(config.storage.data_dir) / "audit.log").string()
                                           : config.logging.audit_file;
}

std::string device_observer_uid(const std::string& data_dir, const std::string& ae_title) {
  return reporting::uid_from_key(std::filesystem::absolute(data_dir).lexically_normal().string() + "|" + ae_title);
}

}  // namespace evax::app
