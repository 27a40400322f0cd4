// NodeConfig: everything the node is told by its JSON configuration file, as plain values with
// documented defaults. Parsing validates the whole file and reports every problem with its key
// path; an object is only built from a config that passed. Plain values; thread-safe to share.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace evax::config {

struct AllowedPeer {
  std::string ae_title;  // calling AE title; empty = any
  std::string host;      // IPv4/IPv6 address; empty = any
};

struct TlsSettings {
  std::string certificate;                    // PEM
  std::string private_key;                    // PEM, unencrypted
  std::vector<std::string> trusted_certificates;  // PEM files of peers' CAs
  bool require_peer_certificate = false;
};

struct DicomSettings {
  std::string ae_title = "EVAX";
  int port = 11112;
  std::vector<AllowedPeer> allowed_peers;     // empty = accept any peer
  int max_associations = 16;                  // concurrent associations; more are refused
  int max_pending_associations = 256;         // connections still sending their request (no thread each)
  int acse_timeout_s = 10;
  int dimse_timeout_s = 60;
  int max_pdu = 65536;
  std::optional<TlsSettings> tls;
};

// Where the index and queues live: SQLite in data_dir (one node), or PostgreSQL (a cluster).
struct DatabaseSettings {
  std::string kind = "sqlite";                // sqlite | postgresql
  std::string dsn;                            // postgresql: libpq keyword/value or URI (TLS via sslmode)
  int pool_size = 4;                          // postgresql: connections ingest commits on in parallel
};

struct StorageSettings {
  std::string data_dir = "evax-data";         // shared by every node of a cluster (NFS or similar)
  DatabaseSettings database;
  std::int64_t min_free_mb = 1024;            // below this, stores are answered 0xA700
  int retention_hours = 720;                  // received files kept this long once analysed; 0 = forever
  int purge_interval_s = 3600;
};

// This node among others on one PostgreSQL database.
struct ClusterSettings {
  std::string node_id;                        // unique per node; "" = <hostname>:<dicom.port>
  std::string address;                        // shown in the nodes view; "" = the hostname
  int heartbeat_s = 2;                        // how often the node says it is alive
  int lease_s = 15;                           // a node silent this long is dead: others take over its work
};

struct StudySettings {
  int quiet_period_s = 10;                    // a study is complete after this long without new instances
  bool accept_empty_body_part = true;         // BodyPartExamined may be empty (else it must be CHEST)
};

// Which studies are analysed first (dicom_node/study_priority.h). A study takes the highest
// priority that its RequestedProcedurePriority or any matching rule gives it; routine otherwise.
struct PriorityRule {
  std::string tag;                            // "(0008,1030)" or a DICOM keyword ("StudyDescription")
  std::string matches;                        // a regular expression (ECMAScript) found in the value, any case; or
  std::string equals;                         // the value itself, trimmed, any case (exactly one of the two)
  std::string priority;                       // stat | high
};

struct PrioritySettings {
  bool requested_procedure_priority = true;   // read RequestedProcedurePriority (0040,1003)
  std::vector<PriorityRule> rules;            // at most 64
};

struct ModelSettings {
  std::string classifier_checkpoint = "demo:tiny";  // a file or demo:tiny|small|base
  std::string classifier_task;                // empty = from the checkpoint's head
  std::string device = "auto";                // cpu | cuda | auto
  std::string precision = "fp32";             // fp32 | bf16 | fp16
  int max_batch = 8;                          // images per forward pass, across studies
  int max_batch_wait_ms = 20;
  int cam_top_k = 3;                          // Grad-CAM maps for the k most probable findings
  int cpu_threads = 0;                        // 0 = LibTorch's default
  // Lung segmentation (UperNet on EVA-X): runs when segmenter_checkpoint is set.
  std::string segmenter_checkpoint;           // an mmseg checkpoint file, "demo", or "" = off
  double segmenter_threshold = 0.3;           // on the sigmoid; mmseg's default
  int segmenter_input_size = 0;               // 0 = the checkpoint's training size (512)
  double lung_min_region_fraction = 0.02;     // each lung at least this share of the image
  double lung_max_total_fraction = 0.80;      // both lungs at most this share
};

struct WorkerSettings {
  int count = 2;
  int max_attempts = 5;                       // then the job ends failed
  int retry_initial_s = 5;                    // capped exponential backoff between attempts
  int retry_max_s = 300;
};

// What the results say and look like.
struct ReportingSettings {
  // IHE AI Results: the SR as Comprehensive 3D SR (the AIR object), unless sr_document_type
  // names a type; an explicit sr_document_type always wins.
  bool air = true;
  std::string sr_document_type;                      // comprehensive | enhanced | comprehensive-3d; "" = by air
  std::string sr_document_type_in_force() const {
    return !sr_document_type.empty() ? sr_document_type : air ? "comprehensive-3d" : "comprehensive";
  }
  double default_operating_point = 0.5;              // a finding is Present at or above it
  std::map<std::string, double> operating_points;    // per label, e.g. {"Effusion": 0.4}
  // The result objects made, built in a fixed order whatever the list's (SEG before SR): "seg"
  // (lung Segmentations, when a segmentation model runs), "sr", "sc". Checked against the node's
  // kinds at start-up.
  std::vector<std::string> outputs = {"seg", "sr", "sc", "pmap", "kos"};
  bool secondary_capture = true;                     // false removes "sc" from outputs
  int sc_max_side = 2048;                            // larger images are scaled down to this
};

// Sending results to the destinations: retries and when to give up.
struct DeliverySettings {
  int max_attempts = 50;                      // then the output is dead-lettered
  int max_age_h = 72;                         // or once it is this old, whatever the attempts
  int retry_initial_s = 10;                   // capped exponential backoff between attempts
  int retry_max_s = 600;
  int connect_timeout_s = 10;                 // TCP connect and association negotiation
  int dimse_timeout_s = 60;                   // each C-STORE response
};

// A bearer token of the admin API, stored only as the SHA-256 of the token.
struct ApiToken {
  std::string sha256;                         // 64 lowercase hex digits
  std::string role;                           // read | review (read + radiologist feedback) | admin | store (STOW-RS only)
  std::string name;                           // who holds it, for the audit log ("" = unnamed)
};

struct HttpTls {
  std::string certificate;                    // PEM (chain)
  std::string key;                            // PEM, unencrypted
};

// The admin API and status page. Bounded so slow or many clients cannot starve the node.
struct HttpSettings {
  int port = 8080;
  std::string listen_address = "0.0.0.0";     // an IPv4 address; 127.0.0.1 keeps it local
  std::vector<ApiToken> tokens;               // none: every /api/v1 request is refused (401)
  std::optional<HttpTls> tls;
  int max_connections = 8;                    // requests served at once (threads)
  int max_queued = 32;                        // accepted connections waiting for a thread
  int timeout_s = 10;                         // to send a request / receive a response
  int max_request_bytes = 65536;              // request body; larger is refused (413)
};

// STOW-RS intake (POST /dicomweb/studies on the admin server): a study's upload is far larger
// and slower than an API request, so it has limits of its own in place of http.max_request_bytes
// and http.timeout_s. The body is streamed to disk, never held in memory.
struct StowSettings {
  std::int64_t max_body_bytes = 1LL << 30;    // 1 GiB; larger is refused (413) before it is read
  int max_instances = 1000;                   // parts of one request; more is refused (413)
  int timeout_s = 300;                        // for the whole request to arrive
};

struct LoggingSettings {
  std::string level = "info";                 // trace | debug | info | warn | error
  std::string format = "text";                // text | json
  std::string audit_file;                     // JSON lines; "" = <data_dir>/audit.log
};

// TLS to a destination: its certificate must chain to one of trusted_certificates (unless
// verify_peer is false); certificate and private_key are the node's own, for a PACS that
// requires client certificates.
struct DestinationTls {
  std::vector<std::string> trusted_certificates;  // PEM files
  std::string certificate;                        // PEM, optional
  std::string private_key;                        // PEM, unencrypted, with certificate
  bool verify_peer = true;
};

// How a DICOMweb destination logs in: a bearer token, or a username and password (HTTP basic).
// The secrets as read from the config, a file or an environment variable; never logged or shown.
struct DestinationAuth {
  std::string bearer_token;
  std::string username;
  std::string password;
};

struct Destination {
  std::string name;
  std::string kind = "dicom";                     // "dicom" (C-STORE) or "dicomweb" (STOW-RS)
  std::string ae_title;                           // dicom
  std::string host;                               // dicom
  int port = 104;                                 // dicom
  std::string url;                                // dicomweb: the service's base URL (http or https)
  std::optional<DestinationTls> tls;              // dicom: TLS; dicomweb: for an https url
  std::optional<DestinationAuth> auth;            // dicomweb
  int timeout_s = 60;                             // dicomweb: one request, from sending to the whole answer
  std::vector<std::string> outputs;               // the output kinds it gets (output_kinds()); empty = all
};

// Watching the model in production: each finding's probabilities over the last window_days
// against a baseline (a window of stored results, or a file of probabilities), as histograms and
// drift scores (PSI, KS) in /metrics, and a warning in /readyz and the status page when a
// finding's PSI reaches psi_threshold.
struct MonitoringSettings {
  int window_days = 7;                        // the recent window, ending now
  std::string baseline_from;                  // YYYY-MM-DD (UTC, inclusive) with baseline_to, or
  std::string baseline_to;                    // YYYY-MM-DD (UTC, exclusive)
  std::string baseline_file;                  // CSV: a first column naming the image, one column per finding
  double psi_threshold = 0.2;                 // at or above: the finding is drifting (a warning)
  int min_images = 30;                        // fewer in either sample: no drift score
  bool has_baseline() const { return !baseline_file.empty() || !baseline_from.empty(); }
};

// A RIS that is told of every finished study (kind "hl7": an ORU^R01 over MLLP; kind "fhir": a
// DiagnosticReport with Observations), through the outbox like a destination.
struct Notification {
  std::string name;
  std::string kind;                               // hl7 | fhir
  std::vector<std::string> urgent_findings;       // labels that make a study urgent when present
  // hl7
  std::string host;
  int port = 2575;
  std::string sending_application = "EVAX";       // MSH-3 .. MSH-6
  std::string sending_facility;
  std::string receiving_application;
  std::string receiving_facility;
  int connect_timeout_s = 10;
  int ack_timeout_s = 30;                         // no ACK by then: retried
  // fhir
  std::string url;                                // the server's base URL, http:// or https://
  std::string bearer_token;                       // "" = none
  std::string mode = "transaction";               // transaction | resources
  int timeout_s = 30;
};

// A PACS the node may query (C-FIND) and retrieve studies from (POST /api/v1/studies/retrieve,
// POST /api/v1/sweeps). With "c-move" the PACS sends the study to the node's own AE title
// (dicom.ae_title: the PACS must know it and the node must accept the PACS, dicom.allowed_peers);
// with "c-get" the study comes back on the node's own association.
struct Source {
  std::string name;
  std::string ae_title;
  std::string host;
  int port = 104;
  std::optional<DestinationTls> tls;
  std::string retrieve = "c-move";                // c-move | c-get
};

// Retrieving studies from the sources: how fast, how many at once, how long to wait.
struct RetrievalSettings {
  int per_minute = 30;                            // retrievals started per minute, at most
  int max_concurrent = 2;                         // retrievals in progress at once
  int connect_timeout_s = 10;                     // TCP connect and association negotiation
  int timeout_s = 600;                            // each C-FIND / C-MOVE / C-GET response
  int max_sweep_studies = 1000;                   // the most a sweep may queue (max_studies' ceiling)
};

// The kinds of result object the node makes: "sr" (Structured Report), "sc" (Secondary Capture
// heatmap), "seg" (Segmentation), "pmap" (Parametric Map), "kos" (Key Object Selection).
const std::vector<std::string>& output_kinds();

struct NodeConfig {
  DicomSettings dicom;
  StorageSettings storage;
  ClusterSettings cluster;
  StudySettings study;
  PrioritySettings priority;
  ModelSettings model;
  WorkerSettings workers;
  ReportingSettings reporting;
  DeliverySettings delivery;
  HttpSettings http;
  StowSettings stow;
  LoggingSettings logging;
  MonitoringSettings monitoring;
  std::vector<Destination> destinations;
  std::vector<Notification> notifications;
  std::vector<Source> sources;
  RetrievalSettings retrieval;
};

struct ConfigError {
  std::string key_path;  // "dicom.allowed_peers[1].host", or "" for the file as a whole
  std::string message;
};

using ConfigResult = std::expected<NodeConfig, std::vector<ConfigError>>;

ConfigResult parse_config(const std::string& json_text);
ConfigResult load_config_file(const std::string& path);

// "dicom.port: must be an integer from 1 to 65535"
std::string describe(const ConfigError& error);

// The effective configuration (defaults filled in) as JSON, with secrets replaced by
// "<redacted>": token digests, private key paths.
std::string to_redacted_json(const NodeConfig& config);

}  // namespace evax::config
