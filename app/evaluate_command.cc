#include "evaluate_command.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "command_line.h"
#include "evax/config/node_config.h"
#include "evax/evaluation/evaluation.h"
#include "evax/inference/engine.h"
#include "evaluation_images.h"
#include "evaluation_labels.h"
#include "evaluation_run.h"
#include "file_digest.h"
#include "infer_command.h"
#include "node_settings.h"

namespace evax::app {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// The label source that is no file: the radiologists' verdicts in the node's feedback store.
constexpr const char* kFeedbackFormat = "feedback";

// Flags that choose the model without a config; with --config the config's model is used.
const std::vector<std::string> kModelFlags{"--checkpoint", "--task", "--dtype", "--input-size", "--legacy-pos-embed"};

std::expected<std::string, std::string> read_text(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected(flag + ": cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::unexpected(flag + ": cannot read " + path);
  return text.str();
}

std::expected<void, std::string> write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return std::unexpected("cannot write " + path.string());
  return {};
}

// A target rate: a number in (0, 1].
std::expected<std::optional<double>, std::string> target(const CommandLine& cl, const std::string& flag) {
  if (!cl.has(flag)) return std::optional<double>{};
  const std::string& text = cl.values.at(flag);
  try {
    std::size_t used = 0;
    const double value = std::stod(text, &used);
    if (used == text.size() && value > 0.0 && value <= 1.0) return std::optional<double>{value};
  } catch (const std::exception&) {
  }
  return std::unexpected(flag + " needs a number in (0, 1], not '" + text + "'");
}

std::string targets_problem(const CommandLine& cl) {
  if (cl.has("--target-sensitivity") && cl.has("--target-specificity"))
    return "give --target-sensitivity or --target-specificity, not both";
  if (cl.has("--write-operating-points") && !cl.has("--target-sensitivity") && !cl.has("--target-specificity"))
    return "--write-operating-points needs --target-sensitivity or --target-specificity";
  return "";
}

// What the command line asks for, checked before anything is loaded.
std::string usage_problem(const CommandLine& cl) {
  const bool by_config = cl.has("--config");
  for (const auto& flag : kModelFlags)
    if (by_config && cl.has(flag)) return "the model comes from --config or from " + flag + ", not both";
  if (!by_config && !cl.has("--checkpoint")) return "--config FILE or --checkpoint FILE|demo:tiny is required";
  for (const char* flag : {"--format", "--out"})
    if (!cl.has(flag)) return std::string(flag) + " is required";
  if (cl.values.at("--format") == kFeedbackFormat) {
    if (cl.has("--labels")) return "--format feedback takes the labels from the node's feedback store, not from --labels";
    if (cl.has("--images")) return "--format feedback evaluates the node's stored images, not --images";
    if (!by_config) return "--format feedback reads the node's database: it needs --config";
    if (cl.has("--test-list") || cl.has("--uncertain")) return "--test-list and --uncertain go with --format cxr14 and chexpert";
    return targets_problem(cl);
  }
  if (!cl.has("--labels")) return "--labels is required";
  const auto format = parse_label_format(cl.values.at("--format"));
  if (!format) return "--format must be cxr14, chexpert, csv or feedback";
  if (cl.has("--test-list") && *format != LabelFormat::cxr14) return "--test-list goes with --format cxr14";
  if (cl.has("--uncertain") && *format != LabelFormat::chexpert) return "--uncertain goes with --format chexpert";
  if (cl.has("--uncertain") && !parse_uncertain_policy(cl.values.at("--uncertain"))) return "--uncertain must be ones, zeros or ignore";
  if (cl.has("--images") == cl.has("--stored")) return "give the images by --images DIR or by --stored (one of them)";
  if (cl.has("--stored")) {
    if (!by_config) return "--stored reads the node's database: it needs --config";
    if (!cl.has("--from") || !cl.has("--to")) return "--stored needs --from DATE and --to DATE";
    if (*format != LabelFormat::csv) return "--stored matches images by SOP Instance UID: it needs --format csv with a sop_instance_uid column";
  } else if (cl.has("--from") || cl.has("--to")) {
    return "--from and --to go with --stored";
  }
  return targets_problem(cl);
}

std::expected<LabelTable, std::string> load_labels(const CommandLine& cl) {
  auto text = read_text("--labels", cl.values.at("--labels"));
  if (!text) return std::unexpected(text.error());
  const LabelFormat format = *parse_label_format(cl.values.at("--format"));
  std::expected<LabelTable, std::string> table;
  if (format == LabelFormat::cxr14) {
    std::optional<std::string> test_list;
    if (cl.has("--test-list")) {
      auto list = read_text("--test-list", cl.values.at("--test-list"));
      if (!list) return std::unexpected(list.error());
      test_list = std::move(*list);
    }
    table = parse_cxr14_labels(*text, test_list ? std::optional<std::string_view>(*test_list) : std::nullopt);
  } else if (format == LabelFormat::chexpert) {
    table = parse_chexpert_labels(*text, *parse_uncertain_policy(cl.value_or("--uncertain", "ones")));
  } else {
    table = parse_plain_labels(*text);
  }
  if (!table) return std::unexpected("--labels " + cl.values.at("--labels") + ": " + table.error());
  if (table->images.empty()) return std::unexpected("--labels " + cl.values.at("--labels") + ": no labelled image");
  if (format == LabelFormat::csv && cl.has("--images") && table->key_kind != LabelTable::KeyKind::file)
    return std::unexpected(std::string("--images finds files by name: the labels' first column must be \"file\""));
  if (cl.has("--stored") && table->key_kind != LabelTable::KeyKind::sop_instance_uid)
    return std::unexpected(std::string("--stored finds images by SOP Instance UID: the labels' first column must be \"sop_instance_uid\""));
  return table;
}

// The image file of every labelled image, in the labels' order.
std::expected<std::vector<std::string>, std::string> image_files(const CommandLine& cl, const config::NodeConfig& config,
                                                                 const LabelTable& table, std::ostream& err) {
  std::vector<std::string> keys;
  for (const auto& image : table.images) keys.push_back(image.key);
  if (cl.has("--images")) return find_image_files(cl.values.at("--images"), keys);
  const storage::FileStore files = node_files(config);
  const auto backend = storage::make_storage_backend(backend_settings(config), files);
  const StoredInstances stored = stored_instance_files(*backend, cl.values.at("--from"), cl.values.at("--to"));
  if (stored.purged > 0)
    err << "evax-node evaluate: " << stored.purged << " stored instances in the range were purged by retention\n";
  std::vector<std::string> paths;
  std::vector<std::string> missing;
  for (const auto& key : keys) {
    const auto it = stored.file_of_uid.find(key);
    if (it == stored.file_of_uid.end()) missing.push_back(key);
    else paths.push_back(it->second);
  }
  if (missing.empty()) return paths;
  return std::unexpected(std::to_string(missing.size()) + " of " + std::to_string(keys.size()) +
                         " labelled SOP Instance UIDs are not stored (with their files) in studies received from " +
                         cl.values.at("--from") + " to " + cl.values.at("--to") + ", e.g. " + missing[0]);
}

// --format feedback: the radiologists' verdicts on the node's stored images (received in
// [--from, --to) where given), and those images' files. Throws where the database cannot be read.
std::expected<FeedbackLabels, std::string> stored_feedback(const CommandLine& cl, const config::NodeConfig& config, std::ostream& err) {
  const storage::FileStore files = node_files(config);
  const auto backend = storage::make_storage_backend(backend_settings(config), files);
  const std::string from = cl.value_or("--from", ""), to = cl.value_or("--to", "");
  const StoredInstances stored = stored_instance_files(*backend, from, to);
  FeedbackLabels labelled = feedback_labels(backend->open_feedback_store()->labels_from_feedback(), stored);
  const std::string range = from.empty() && to.empty() ? ""
                            : " in studies received from " + (from.empty() ? std::string("the first") : from) + " to " +
                                  (to.empty() ? std::string("now") : to);
  if (labelled.not_stored > 0)
    err << "evax-node evaluate: " << labelled.not_stored << " images with feedback are left out: not stored (with their files)" << range
        << "\n";
  if (labelled.table.images.empty()) return std::unexpected("no stored image" + range + " has radiologist feedback");
  return labelled;
}

// The dataset's name in the report.
std::string dataset_name(const CommandLine& cl) {
  if (cl.values.at("--format") == kFeedbackFormat)
    return "radiologist feedback on stored images" + (cl.has("--from") ? " from " + cl.values.at("--from") : std::string()) +
           (cl.has("--to") ? " to " + cl.values.at("--to") : std::string());
  return fs::path(cl.values.at("--labels")).filename().string() +
         (cl.has("--test-list") ? " (" + fs::path(cl.values.at("--test-list")).filename().string() + ")" : "");
}

// What names the model's scores in the cache: the checkpoint's content (or the demo weights),
// the head, and what changes the numbers (input size, precision, position-embedding resampling).
std::string model_key(const inference::ModelInfo& info, const std::string& checkpoint_sha256, bool legacy_pos_embed) {
  return (info.demo ? info.checkpoint : "sha256:" + checkpoint_sha256) + " task " +
         std::string(inference::task_info(info.task).name) + " input " + std::to_string(info.input_size) + " " +
         std::string(inference::precision_name(info.precision)) + (legacy_pos_embed ? " legacy-pos-embed" : "");
}

std::string scores_csv(const LabelTable& table, const std::vector<std::string>& model_labels, const ScoredImages& scored) {
  std::string text = table.key_kind == LabelTable::KeyKind::file ? "file" : "sop_instance_uid";
  for (const auto& label : model_labels) text += "," + label;
  text += '\n';
  char number[32];
  for (std::size_t i = 0; i < table.images.size(); ++i) {
    if (!scored.scores[i]) continue;
    const std::string& key = table.images[i].key;
    if (key.find_first_of(",\"") == std::string::npos) {
      text += key;
    } else {  // RFC 4180: quoted, inner quotes doubled
      text += '"';
      for (char c : key) text += c == '"' ? std::string("\"\"") : std::string(1, c);
      text += '"';
    }
    for (double score : *scored.scores[i]) {
      std::snprintf(number, sizeof number, ",%.17g", score);
      text += number;
    }
    text += '\n';
  }
  return text;
}

}  // namespace

int run_evaluate(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto parsed = parse_command_line(
      args,
      {"--config", "--checkpoint", "--task", "--device", "--dtype", "--input-size", "--labels", "--format", "--test-list",
       "--uncertain", "--images", "--from", "--to", "--out", "--cache", "--target-sensitivity", "--target-specificity",
       "--write-operating-points", "--calibration-bins", "--batch", "--threads"},
      {"--stored", "--legacy-pos-embed"});
  std::string problem = parsed ? usage_problem(*parsed) : parsed.error();
  const CommandLine cl = parsed ? *parsed : CommandLine{};
  auto sensitivity = target(cl, "--target-sensitivity");
  auto specificity = target(cl, "--target-specificity");
  auto bins = cl.integer("--calibration-bins", 10);
  if (problem.empty() && !sensitivity) problem = sensitivity.error();
  if (problem.empty() && !specificity) problem = specificity.error();
  if (problem.empty() && !bins) problem = bins.error();
  if (problem.empty() && (*bins < 1 || *bins > 100)) problem = "--calibration-bins must be 1 to 100";
  if (!problem.empty()) {
    err << "evax-node evaluate: " << problem << "\nusage: " << kEvaluateUsage << "\n";
    return 2;
  }

  config::NodeConfig config;  // without --config: the node's defaults (operating point 0.5)
  inference::EngineOptions options;
  if (cl.has("--config")) {
    auto loaded = config::load_config_file(cl.values.at("--config"));
    if (!loaded) {
      for (const auto& e : loaded.error()) err << "evax-node evaluate: config: " << config::describe(e) << "\n";
      return 2;
    }
    config = std::move(*loaded);
    options = engine_options(config.model);
    if (cl.has("--device")) {
      auto device = inference::parse_device(cl.values.at("--device"));
      if (!device) problem = "--device must be cpu, cuda or auto";
      else options.device = *device;
    }
  } else if (auto from_flags = engine_options_from(cl)) {
    options = *from_flags;
  } else {
    problem = from_flags.error();
  }
  auto batch = cl.integer("--batch", config.model.max_batch);
  auto threads = cl.integer("--threads", config.model.cpu_threads);
  if (problem.empty()) problem = !batch ? batch.error() : !threads ? threads.error() : *batch < 1 ? "--batch must be at least 1" : "";
  if (!problem.empty()) {
    err << "evax-node evaluate: " << problem << "\nusage: " << kEvaluateUsage << "\n";
    return 2;
  }

  const bool feedback = cl.values.at("--format") == kFeedbackFormat;
  std::expected<LabelTable, std::string> table;
  if (!feedback) table = load_labels(cl);
  if (!table) {
    err << "evax-node evaluate: " << table.error() << "\n";
    return 2;
  }
  std::expected<std::vector<std::string>, std::string> files;
  try {
    if (!feedback) {
      files = image_files(cl, config, *table, err);
    } else if (auto labelled = stored_feedback(cl, config, err)) {
      table = std::move(labelled->table);
      files = std::move(labelled->files);
    } else {
      files = std::unexpected(labelled.error());
    }
  } catch (const std::exception& e) {  // the node's database could not be read
    err << "evax-node evaluate: cannot read the stored studies: " << e.what() << "\n";
    return 1;
  }
  if (!files) {
    err << "evax-node evaluate: " << files.error() << "\n";
    return 2;
  }

  inference::set_cpu_threads(*threads);
  auto engine = inference::Engine::create(options);
  if (!engine) {
    err << "evax-node evaluate: cannot load the model: " << engine.error() << "\n";
    return 1;
  }
  const inference::ModelInfo& info = (*engine)->info();
  if (info.task == inference::Task::features) {
    err << "evax-node evaluate: this checkpoint is a backbone without a classification head\n";
    return 2;
  }
  if (info.demo) err << "evax-node evaluate: DEMO MODEL - UNTRAINED WEIGHTS: the report's numbers mean nothing clinically\n";
  std::string checkpoint_sha256;
  if (!info.demo) {
    auto digest = sha256_of_file(info.checkpoint);
    if (!digest) {
      err << "evax-node evaluate: " << digest.error() << "\n";
      return 1;
    }
    checkpoint_sha256 = *digest;
  }

  const LabelMapping mapping = map_labels(table->labels, info.labels);
  for (const auto& label : mapping.dataset_only)
    err << "evax-node evaluate: the labels' \"" << label << "\" is skipped: the model has no such finding\n";
  if (!mapping.model_only.empty()) {
    std::string names;
    for (const auto& label : mapping.model_only) names += (names.empty() ? "" : ", ") + label;
    err << "evax-node evaluate: not evaluated (the labels do not have them): " << names << "\n";
  }
  if (mapping.model_only.size() == info.labels.size()) {
    err << "evax-node evaluate: no label of the dataset is a finding of the model (" << std::string(inference::task_info(info.task).name)
        << " head)\n";
    return 2;
  }

  const fs::path out_dir = cl.values.at("--out");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) {
    err << "evax-node evaluate: cannot create " << out_dir.string() << ": " << ec.message() << "\n";
    return 1;
  }
  auto cache = ScoreCache::open(cl.value_or("--cache", (out_dir / "cache").string()),
                                model_key(info, checkpoint_sha256, options.legacy_pos_embed_resampling), info.labels.size());
  if (!cache) {
    err << "evax-node evaluate: " << cache.error() << "\n";
    return 1;
  }
  if (cache->size() > 0) err << "evax-node evaluate: " << cache->size() << " scores kept by earlier runs in " << cache->path() << "\n";

  auto scored = score_images(**engine, *cache, *files, *batch, err);
  if (!scored) {
    err << "evax-node evaluate: " << scored.error() << "\n";
    return 1;
  }
  for (const auto& [index, why] : scored->failures) err << "evax-node evaluate: left out: " << why << "\n";
  err << "evaluate: " << scored->computed << " computed, " << scored->from_cache << " from the cache, " << scored->failures.size()
      << " unreadable\n";
  if (scored->interrupted) {
    err << "evax-node evaluate: stopped; the scores so far are kept in " << cache->path() << ": run the same command again to continue\n";
    return 130;
  }

  evaluation::EvaluationInput input;
  input.model_name = info.name;
  input.checkpoint = info.checkpoint;
  input.checkpoint_sha256 = checkpoint_sha256;
  input.demo_weights = info.demo;
  input.dataset_name = dataset_name(cl);
  input.images = table->images.size() - scored->failures.size();
  input.target_sensitivity = *sensitivity;
  input.target_specificity = *specificity;
  input.calibration_bins = *bins;
  for (std::size_t m = 0; m < info.labels.size(); ++m) {
    const auto column = mapping.column_of_model_label[m];
    if (!column) continue;
    evaluation::LabelledScores finding{info.labels[m], {}, {}, config.reporting.default_operating_point};
    if (const auto point = config.reporting.operating_points.find(info.labels[m]); point != config.reporting.operating_points.end())
      finding.operating_point = point->second;
    for (std::size_t i = 0; i < table->images.size(); ++i) {
      const auto& truth = table->images[i].truth[*column];
      if (!scored->scores[i] || !truth) continue;
      finding.scores.push_back((*scored->scores[i])[m]);
      finding.truth.push_back(*truth);
    }
    input.findings.push_back(std::move(finding));
  }

  evaluation::EvaluationReport report;
  try {
    report = evaluation::evaluate(input);
  } catch (const std::invalid_argument& e) {
    err << "evax-node evaluate: " << e.what() << "\n";
    return 1;
  }
  std::vector<std::pair<fs::path, std::string>> outputs{{out_dir / "report.json", evaluation::report_json(report)},
                                                        {out_dir / "report.html", evaluation::report_html(report)},
                                                        {out_dir / "scores.csv", scores_csv(*table, info.labels, *scored)}};
  if (cl.has("--write-operating-points"))
    outputs.emplace_back(cl.values.at("--write-operating-points"), evaluation::operating_points_fragment(report));
  for (const auto& [path, text] : outputs) {
    if (auto written = write_text(path, text); !written) {
      err << "evax-node evaluate: " << written.error() << "\n";
      return 1;
    }
  }

  json summary{{"images", input.images},
               {"computed", scored->computed},
               {"from_cache", scored->from_cache},
               {"unreadable", scored->failures.size()},
               {"mean_auroc", std::isnan(report.mean_auroc) ? json(nullptr) : json(report.mean_auroc)},
               {"report_json", (out_dir / "report.json").string()},
               {"report_html", (out_dir / "report.html").string()},
               {"scores_csv", (out_dir / "scores.csv").string()},
               {"cache", cache->path()}};
  if (cl.has("--write-operating-points")) summary["operating_points"] = cl.values.at("--write-operating-points");
  out << summary.dump(2) << "\n";
  return scored->failures.empty() ? 0 : 3;
}

}  // namespace evax::app
