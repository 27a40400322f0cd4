// The label files `evax-node evaluate` reads, parsed into one table: ChestX-ray14's
// Data_Entry_2017.csv (with the official test_list.txt), CheXpert's valid.csv / test.csv, and a
// plain CSV (file or SOP Instance UID, one 0/1 column per label). Pure functions over the files'
// text: no file system, no model; every error names the line.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evax::app {

enum class LabelFormat { cxr14, chexpert, csv };
std::optional<LabelFormat> parse_label_format(std::string_view name);

// What an uncertain CheXpert label (-1) becomes: positive (U-Ones, the default), negative
// (U-Zeros), or left out of that finding's evaluation (U-Ignore).
enum class UncertainPolicy { ones, zeros, ignore };
std::optional<UncertainPolicy> parse_uncertain_policy(std::string_view name);

struct LabelledImage {
  std::string key;                       // the image's file name (relative path) or SOP Instance UID
  std::vector<std::optional<int>> truth;  // per LabelTable::labels: 1, 0, or none (not labelled)
};

struct LabelTable {
  enum class KeyKind { file, sop_instance_uid };
  KeyKind key_kind = KeyKind::file;
  std::vector<std::string> labels;  // the dataset's label names, in its column order
  std::vector<LabelledImage> images;
  int uncertain = 0;                // CheXpert: uncertain labels met (each handled by the policy)
};

// Data_Entry_2017.csv: "Image Index" and "Finding Labels" ("A|B", or "No Finding"); each of the
// 14 findings is 1 when listed, else 0. With `test_list` (test_list.txt: one image name a line)
// only the listed images, each of which must have a row.
std::expected<LabelTable, std::string> parse_cxr14_labels(std::string_view data_entry,
                                                          const std::optional<std::string_view>& test_list);

// CheXpert valid.csv / test.csv: "Path" and the 14 observation columns with 1, 0, -1 (uncertain,
// by `policy`) or blank (not mentioned: negative, the CheXpert convention). Values may be
// written "1.0", "0.0", "-1.0".
std::expected<LabelTable, std::string> parse_chexpert_labels(std::string_view csv, UncertainPolicy policy);

// A plain CSV: the first column "file" or "sop_instance_uid", every other column a label with
// 1, 0 or blank (not labelled: left out of that finding).
std::expected<LabelTable, std::string> parse_plain_labels(std::string_view csv);

// Which dataset column feeds each of the model's labels, matched by name with case, '_' and
// spaces ignored, and ChestX-ray14's "Effusion" taken as CheXpert's "Pleural Effusion".
struct LabelMapping {
  std::vector<std::optional<std::size_t>> column_of_model_label;  // per model label
  std::vector<std::string> dataset_only;  // dataset labels the model lacks (reported, skipped)
  std::vector<std::string> model_only;    // model labels the dataset lacks (not evaluated)
};
LabelMapping map_labels(const std::vector<std::string>& dataset_labels, const std::vector<std::string>& model_labels);

// One CSV record split into fields (RFC 4180 quotes; a trailing '\r' dropped).
std::vector<std::string> split_csv_record(std::string_view line);

}  // namespace evax::app
