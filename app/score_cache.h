// ScoreCache: the model's scores per image, kept on disk so that an interrupted `evaluate`
// continues where it stopped. One append-only file per model (checkpoint SHA-256 or demo id,
// task, input size, precision) in the cache folder; one line per image:
// "<image SHA-256> <score> <score> ...\n", scores written so that they read back exactly.
// add() buffers; flush() appends the buffer with one write and fsyncs it, so a kill -9 loses at
// most the records added since the last flush. A torn last line (a crash mid-write) is cut off
// when the cache is opened. Not thread-safe: one evaluate run owns it.
#pragma once

#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace evax::app {

class ScoreCache {
 public:
  // Opens (creating the folder and file when needed) the cache of the model that `model_key`
  // names; each record holds `labels` scores. A file whose header names another model, or whose
  // records have another number of scores, is an error, never mixed in.
  static std::expected<ScoreCache, std::string> open(const std::string& folder, const std::string& model_key,
                                                     std::size_t labels);
  ScoreCache(ScoreCache&& other) noexcept;
  ScoreCache& operator=(ScoreCache&& other) noexcept;
  ScoreCache(const ScoreCache&) = delete;
  ScoreCache& operator=(const ScoreCache&) = delete;
  ~ScoreCache();

  std::optional<std::vector<double>> find(const std::string& image_sha256) const;
  void add(const std::string& image_sha256, const std::vector<double>& scores);
  // Appends and fsyncs what add() buffered; an error says why (the records stay buffered).
  std::expected<void, std::string> flush();

  std::size_t size() const { return scores_.size(); }  // records known, flushed or not
  const std::string& path() const { return path_; }

 private:
  ScoreCache() = default;

  std::string path_;
  int fd_ = -1;
  std::size_t labels_ = 0;
  std::unordered_map<std::string, std::vector<double>> scores_;
  std::string pending_;  // records added, not yet written
};

// The file name part that identifies a model's cache: a digest of `model_key`.
std::string score_cache_file_name(const std::string& model_key);

}  // namespace evax::app
