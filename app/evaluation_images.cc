#include "evaluation_images.h"

#include <filesystem>
#include <optional>
#include <set>

namespace evax::app {
namespace fs = std::filesystem;

namespace {

// The first of `relative`, and `relative` with .png and .dcm for its extension, that exists.
std::optional<std::string> existing(const fs::path& folder, fs::path relative) {
  std::error_code ec;
  if (fs::is_regular_file(folder / relative, ec)) return (folder / relative).string();
  for (const char* extension : {".png", ".dcm"}) {
    relative.replace_extension(extension);
    if (fs::is_regular_file(folder / relative, ec)) return (folder / relative).string();
  }
  return std::nullopt;
}

}  // namespace

std::expected<std::vector<std::string>, std::string> find_image_files(const std::string& folder,
                                                                      const std::vector<std::string>& keys) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return std::unexpected("--images: " + folder + " is not a folder");
  std::map<std::string, std::vector<std::string>> by_name;  // built on first need
  bool indexed = false;
  std::vector<std::string> files;
  std::vector<std::string> missing;
  for (const auto& key : keys) {
    std::optional<std::string> found;
    fs::path relative(key);
    while (!found && !relative.empty()) {
      found = existing(folder, relative);
      if (found) break;
      auto part = relative.begin();
      if (part == relative.end() || std::next(part) == relative.end()) break;
      fs::path rest;
      for (++part; part != relative.end(); ++part) rest /= *part;
      relative = rest;
    }
    if (!found && fs::path(key).filename() == key) {
      if (!indexed) {
        for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
          if (it->is_regular_file()) by_name[it->path().filename().string()].push_back(it->path().string());
        indexed = true;
      }
      for (const std::string& name : {key, fs::path(key).replace_extension(".png").string(), fs::path(key).replace_extension(".dcm").string()}) {
        const auto hit = by_name.find(name);
        if (hit == by_name.end()) continue;
        if (hit->second.size() > 1)
          return std::unexpected("--images: " + key + " matches " + std::to_string(hit->second.size()) + " files, e.g. " +
                                 hit->second[0] + " and " + hit->second[1]);
        found = hit->second[0];
        break;
      }
    }
    if (found) files.push_back(*found);
    else missing.push_back(key);
  }
  if (missing.empty()) return files;
  std::string list;
  for (std::size_t i = 0; i < missing.size() && i < 10; ++i) list += (i ? ", " : "") + missing[i];
  return std::unexpected("--images: no file in " + folder + " for " + std::to_string(missing.size()) + " of " +
                         std::to_string(keys.size()) + " labelled images: " + list + (missing.size() > 10 ? ", ..." : ""));
}

StoredInstances stored_instance_files(storage::StorageBackend& backend, const std::string& from, const std::string& to) {
  StoredInstances out;
  const auto read_model = backend.open_read_model();
  const auto queue = backend.open_job_queue();
  storage::JobFilter filter;
  filter.received_since = from;
  filter.received_until = to;
  filter.limit = 500;
  std::set<std::string> seen;  // a re-analysis covers the study's earlier instances again
  for (filter.offset = 0;; filter.offset += filter.limit) {
    const storage::JobPage page = read_model->list_jobs(filter);
    for (const auto& job : page.jobs) {
      for (const auto& instance : queue->instances_for(job)) {
        if (!seen.insert(instance.attributes.sop_instance_uid).second) continue;
        if (instance.file_path.empty()) ++out.purged;
        else out.file_of_uid[instance.attributes.sop_instance_uid] = instance.file_path;
      }
    }
    if (page.jobs.size() < static_cast<std::size_t>(filter.limit)) break;
  }
  return out;
}

FeedbackLabels feedback_labels(const std::map<std::string, std::map<std::string, int>>& verdicts, const StoredInstances& stored) {
  FeedbackLabels out;
  out.table.key_kind = LabelTable::KeyKind::sop_instance_uid;
  std::set<std::string> findings;
  for (const auto& [uid, by_finding] : verdicts) {
    if (!stored.file_of_uid.contains(uid)) continue;
    for (const auto& verdict : by_finding) findings.insert(verdict.first);
  }
  out.table.labels.assign(findings.begin(), findings.end());
  for (const auto& [uid, by_finding] : verdicts) {
    const auto file = stored.file_of_uid.find(uid);
    if (file == stored.file_of_uid.end()) {
      ++out.not_stored;
      continue;
    }
    LabelledImage image{uid, std::vector<std::optional<int>>(out.table.labels.size())};
    for (std::size_t column = 0; column < out.table.labels.size(); ++column)
      if (const auto verdict = by_finding.find(out.table.labels[column]); verdict != by_finding.end()) image.truth[column] = verdict->second;
    out.table.images.push_back(std::move(image));
    out.files.push_back(file->second);
  }
  return out;
}

}  // namespace evax::app
