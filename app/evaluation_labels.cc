#include "evaluation_labels.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>

namespace evax::app {
namespace {

// ChestX-ray14's findings, as Data_Entry_2017.csv spells them (the cxr14 head's order).
constexpr std::array<std::string_view, 14> kCxr14Findings{
    "Atelectasis", "Cardiomegaly", "Effusion",  "Infiltration", "Mass",     "Nodule",             "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema",    "Fibrosis", "Pleural_Thickening", "Hernia"};

// CheXpert's 14 observations, as valid.csv's header spells them.
constexpr std::array<std::string_view, 14> kChexpertObservations{
    "No Finding",   "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity",     "Lung Lesion",
    "Edema",        "Consolidation",              "Pneumonia",    "Atelectasis",      "Pneumothorax",
    "Pleural Effusion", "Pleural Other",          "Fracture",     "Support Devices"};

std::string trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return std::string(text);
}

// The file's lines with their 1-based numbers; a UTF-8 byte order mark and blank lines dropped.
std::vector<std::pair<int, std::string_view>> lines_of(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::vector<std::pair<int, std::string_view>> lines;
  int number = 0;
  while (!text.empty()) {
    const std::size_t end = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty()) continue;
    lines.emplace_back(number, line);
  }
  return lines;
}

std::optional<std::size_t> column(const std::vector<std::string>& header, std::string_view name) {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (trim(header[i]) == name) return i;
  return std::nullopt;
}

std::string at_line(int number) { return "line " + std::to_string(number) + ": "; }

// A label value: 1, 0, -1 (also written 1.0, 0.0, -1.0), or blank (none).
std::expected<std::optional<int>, std::string> label_value(const std::string& raw) {
  const std::string value = trim(raw);
  if (value.empty()) return std::optional<int>{};
  if (value == "1" || value == "1.0") return std::optional<int>{1};
  if (value == "0" || value == "0.0") return std::optional<int>{0};
  if (value == "-1" || value == "-1.0") return std::optional<int>{-1};
  return std::unexpected("'" + value + "' is not 1, 0, -1 or blank");
}

std::string canonical_label(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '_' || c == ' ' || c == '-') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out == "effusion" ? "pleuraleffusion" : out;
}

}  // namespace

std::optional<LabelFormat> parse_label_format(std::string_view name) {
  if (name == "cxr14") return LabelFormat::cxr14;
  if (name == "chexpert") return LabelFormat::chexpert;
  if (name == "csv") return LabelFormat::csv;
  return std::nullopt;
}

std::optional<UncertainPolicy> parse_uncertain_policy(std::string_view name) {
  if (name == "ones") return UncertainPolicy::ones;
  if (name == "zeros") return UncertainPolicy::zeros;
  if (name == "ignore") return UncertainPolicy::ignore;
  return std::nullopt;
}

std::vector<std::string> split_csv_record(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

std::expected<LabelTable, std::string> parse_cxr14_labels(std::string_view data_entry,
                                                          const std::optional<std::string_view>& test_list) {
  const auto lines = lines_of(data_entry);
  if (lines.empty()) return std::unexpected(std::string("the labels file is empty"));
  // The real header has unquoted commas inside "OriginalImage[Width,Height]": columns are found
  // by name, and only the first two are read from each row.
  const std::vector<std::string> header = split_csv_record(lines[0].second);
  const auto image_column = column(header, "Image Index");
  const auto findings_column = column(header, "Finding Labels");
  if (!image_column || !findings_column)
    return std::unexpected(at_line(lines[0].first) + "no \"Image Index\" and \"Finding Labels\" columns: not a Data_Entry_2017.csv");

  LabelTable table;
  table.labels.assign(kCxr14Findings.begin(), kCxr14Findings.end());
  std::map<std::string, std::size_t> row_of;  // image name -> index in table.images
  for (std::size_t l = 1; l < lines.size(); ++l) {
    const auto& [number, line] = lines[l];
    const std::vector<std::string> fields = split_csv_record(line);
    if (fields.size() <= std::max(*image_column, *findings_column))
      return std::unexpected(at_line(number) + "fewer columns than the header");
    LabelledImage image{trim(fields[*image_column]), std::vector<std::optional<int>>(kCxr14Findings.size(), 0)};
    if (image.key.empty()) return std::unexpected(at_line(number) + "empty \"Image Index\"");
    const std::string findings = trim(fields[*findings_column]);
    if (findings.empty()) return std::unexpected(at_line(number) + "empty \"Finding Labels\" (write \"No Finding\")");
    std::size_t start = 0;
    bool no_finding = false;
    std::set<std::string> named;
    while (start <= findings.size()) {
      const std::size_t bar = std::min(findings.find('|', start), findings.size());
      const std::string finding = trim(std::string_view(findings).substr(start, bar - start));
      start = bar + 1;
      if (!named.insert(finding).second) continue;
      if (finding == "No Finding") {
        no_finding = true;
        continue;
      }
      const auto known = std::find(kCxr14Findings.begin(), kCxr14Findings.end(), finding);
      if (known == kCxr14Findings.end())
        return std::unexpected(at_line(number) + "\"" + finding + "\" is not a ChestX-ray14 finding");
      image.truth[static_cast<std::size_t>(known - kCxr14Findings.begin())] = 1;
    }
    if (no_finding && named.size() > 1)
      return std::unexpected(at_line(number) + "\"No Finding\" together with findings: \"" + findings + "\"");
    if (!row_of.emplace(image.key, table.images.size()).second)
      return std::unexpected(at_line(number) + image.key + " has a row already");
    table.images.push_back(std::move(image));
  }
  if (!test_list) return table;

  LabelTable selected = table;
  selected.images.clear();
  std::set<std::string> listed;
  for (const auto& [number, line] : lines_of(*test_list)) {
    const std::string name = trim(line);
    const auto row = row_of.find(name);
    if (row == row_of.end())
      return std::unexpected("test list " + at_line(number) + name + " has no row in the labels file");
    if (listed.insert(name).second) selected.images.push_back(table.images[row->second]);
  }
  if (selected.images.empty()) return std::unexpected(std::string("the test list names no image"));
  return selected;
}

std::expected<LabelTable, std::string> parse_chexpert_labels(std::string_view csv, UncertainPolicy policy) {
  const auto lines = lines_of(csv);
  if (lines.empty()) return std::unexpected(std::string("the labels file is empty"));
  const std::vector<std::string> header = split_csv_record(lines[0].second);
  const auto path_column = column(header, "Path");
  if (!path_column) return std::unexpected(at_line(lines[0].first) + "no \"Path\" column: not a CheXpert valid.csv / test.csv");
  LabelTable table;
  std::vector<std::size_t> columns;
  for (std::string_view observation : kChexpertObservations) {
    if (auto c = column(header, observation)) {
      table.labels.emplace_back(observation);
      columns.push_back(*c);
    }
  }
  if (columns.empty()) return std::unexpected(at_line(lines[0].first) + "none of CheXpert's 14 observation columns");
  for (std::size_t l = 1; l < lines.size(); ++l) {
    const auto& [number, line] = lines[l];
    const std::vector<std::string> fields = split_csv_record(line);
    if (fields.size() < header.size()) return std::unexpected(at_line(number) + "fewer columns than the header");
    LabelledImage image{trim(fields[*path_column]), {}};
    if (image.key.empty()) return std::unexpected(at_line(number) + "empty \"Path\"");
    for (std::size_t k = 0; k < columns.size(); ++k) {
      auto value = label_value(fields[columns[k]]);
      if (!value) return std::unexpected(at_line(number) + table.labels[k] + ": " + value.error());
      std::optional<int> truth = value->value_or(0);  // blank: not mentioned, negative
      if (truth == -1) {
        ++table.uncertain;
        truth = policy == UncertainPolicy::ones ? std::optional<int>(1)
              : policy == UncertainPolicy::zeros ? std::optional<int>(0)
                                                 : std::nullopt;
      }
      image.truth.push_back(truth);
    }
    table.images.push_back(std::move(image));
  }
  return table;
}

std::expected<LabelTable, std::string> parse_plain_labels(std::string_view csv) {
  const auto lines = lines_of(csv);
  if (lines.empty()) return std::unexpected(std::string("the labels file is empty"));
  std::vector<std::string> header = split_csv_record(lines[0].second);
  for (auto& name : header) name = trim(name);
  LabelTable table;
  if (header[0] == "sop_instance_uid") table.key_kind = LabelTable::KeyKind::sop_instance_uid;
  else if (header[0] != "file")
    return std::unexpected(at_line(lines[0].first) + "the first column must be \"file\" or \"sop_instance_uid\", not \"" + header[0] + "\"");
  if (header.size() < 2) return std::unexpected(at_line(lines[0].first) + "no label column after \"" + header[0] + "\"");
  for (std::size_t c = 1; c < header.size(); ++c) {
    if (header[c].empty()) return std::unexpected(at_line(lines[0].first) + "column " + std::to_string(c + 1) + " has no name");
    if (std::count(header.begin(), header.end(), header[c]) > 1)
      return std::unexpected(at_line(lines[0].first) + "column \"" + header[c] + "\" is named twice");
    table.labels.push_back(header[c]);
  }
  std::set<std::string> keys;
  for (std::size_t l = 1; l < lines.size(); ++l) {
    const auto& [number, line] = lines[l];
    const std::vector<std::string> fields = split_csv_record(line);
    if (fields.size() != header.size())
      return std::unexpected(at_line(number) + std::to_string(fields.size()) + " columns, the header has " + std::to_string(header.size()));
    LabelledImage image{trim(fields[0]), {}};
    if (image.key.empty()) return std::unexpected(at_line(number) + "empty \"" + header[0] + "\"");
    if (!keys.insert(image.key).second) return std::unexpected(at_line(number) + image.key + " has a row already");
    for (std::size_t c = 1; c < fields.size(); ++c) {
      auto value = label_value(fields[c]);
      if (!value || *value == -1)
        return std::unexpected(at_line(number) + header[c] + ": '" + trim(fields[c]) + "' is not 1, 0 or blank");
      image.truth.push_back(*value);
    }
    table.images.push_back(std::move(image));
  }
  return table;
}

LabelMapping map_labels(const std::vector<std::string>& dataset_labels, const std::vector<std::string>& model_labels) {
  LabelMapping mapping;
  std::vector<bool> used(dataset_labels.size(), false);
  for (const auto& model_label : model_labels) {
    std::optional<std::size_t> found;
    for (std::size_t d = 0; d < dataset_labels.size() && !found; ++d)
      if (canonical_label(dataset_labels[d]) == canonical_label(model_label)) found = d;
    if (found) used[*found] = true;
    else mapping.model_only.push_back(model_label);
    mapping.column_of_model_label.push_back(found);
  }
  for (std::size_t d = 0; d < dataset_labels.size(); ++d)
    if (!used[d]) mapping.dataset_only.push_back(dataset_labels[d]);
  return mapping;
}

}  // namespace evax::app
