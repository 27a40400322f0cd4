#include "score_cache.h"

#include <Poco/DigestEngine.h>
#include <Poco/SHA2Engine.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace evax::app {
namespace {

std::string header_line(const std::string& model_key, std::size_t labels) {
  return "# evax-node evaluate scores v1; labels " + std::to_string(labels) + "; model " + model_key + "\n";
}

bool is_sha256(std::string_view text) {
  return text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// "<sha256> <score>..." with exactly `labels` scores, or nothing.
std::optional<std::pair<std::string, std::vector<double>>> parse_record(std::string_view line, std::size_t labels) {
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos || !is_sha256(line.substr(0, space))) return std::nullopt;
  std::vector<double> scores;
  const char* at = line.data() + space;
  const char* end = line.data() + line.size();
  while (at < end) {
    if (*at != ' ') return std::nullopt;
    ++at;
    double value = 0;
    const auto [next, ec] = std::from_chars(at, end, value);
    if (ec != std::errc()) return std::nullopt;
    scores.push_back(value);
    at = next;
  }
  if (scores.size() != labels) return std::nullopt;
  return std::make_pair(std::string(line.substr(0, space)), std::move(scores));
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::string score_cache_file_name(const std::string& model_key) {
  Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
  engine.update(model_key);
  return "scores-" + Poco::DigestEngine::digestToHex(engine.digest()).substr(0, 16) + ".txt";
}

std::expected<ScoreCache, std::string> ScoreCache::open(const std::string& folder, const std::string& model_key,
                                                        std::size_t labels) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) return std::unexpected("cannot create the cache folder " + folder + ": " + ec.message());
  ScoreCache cache;
  cache.path_ = (std::filesystem::path(folder) / score_cache_file_name(model_key)).string();
  cache.labels_ = labels;
  cache.fd_ = ::open(cache.path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (cache.fd_ < 0) return std::unexpected("cannot open the cache " + cache.path_ + ": " + errno_text());

  std::ifstream in(cache.path_, std::ios::binary);
  const std::string content((std::istreambuf_iterator<char>(in)), {});
  const std::string header = header_line(model_key, labels);
  if (content.empty()) {
    cache.pending_ = header;
    if (auto flushed = cache.flush(); !flushed) return std::unexpected(flushed.error());
    return cache;
  }
  if (!content.starts_with(header))
    return std::unexpected("the cache " + cache.path_ + " was written for another model or label count (delete it to start over)");
  // Complete lines only: what follows the last newline is a record torn by a crash.
  const std::size_t complete = content.rfind('\n') + 1;
  std::size_t line_start = header.size();
  int number = 1;
  while (line_start < complete) {
    const std::size_t line_end = content.find('\n', line_start);
    ++number;
    auto record = parse_record(std::string_view(content).substr(line_start, line_end - line_start), labels);
    if (!record)
      return std::unexpected("the cache " + cache.path_ + " line " + std::to_string(number) + " is damaged (delete the file to start over)");
    cache.scores_.insert_or_assign(std::move(record->first), std::move(record->second));
    line_start = line_end + 1;
  }
  if (complete < content.size() && ::ftruncate(cache.fd_, static_cast<off_t>(complete)) != 0)
    return std::unexpected("cannot cut the torn last record of " + cache.path_ + ": " + errno_text());
  return cache;
}

ScoreCache::ScoreCache(ScoreCache&& other) noexcept
    : path_(std::move(other.path_)), fd_(other.fd_), labels_(other.labels_), scores_(std::move(other.scores_)),
      pending_(std::move(other.pending_)) {
  other.fd_ = -1;
}

ScoreCache& ScoreCache::operator=(ScoreCache&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = other.fd_;
    labels_ = other.labels_;
    scores_ = std::move(other.scores_);
    pending_ = std::move(other.pending_);
    other.fd_ = -1;
  }
  return *this;
}

ScoreCache::~ScoreCache() {
  if (fd_ < 0) return;
  (void)flush();
  ::close(fd_);
}

std::optional<std::vector<double>> ScoreCache::find(const std::string& image_sha256) const {
  const auto it = scores_.find(image_sha256);
  if (it == scores_.end()) return std::nullopt;
  return it->second;
}

void ScoreCache::add(const std::string& image_sha256, const std::vector<double>& scores) {
  if (scores.size() != labels_ || !scores_.emplace(image_sha256, scores).second) return;
  pending_ += image_sha256;
  char number[32];
  for (double score : scores) {
    const auto [end, ec] = std::to_chars(number, number + sizeof number, score);  // shortest exact form
    pending_ += ' ';
    pending_.append(number, end);
  }
  pending_ += '\n';
}

std::expected<void, std::string> ScoreCache::flush() {
  if (pending_.empty()) return {};
  std::size_t written = 0;
  while (written < pending_.size()) {
    const ssize_t n = ::write(fd_, pending_.data() + written, pending_.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      pending_.erase(0, written);
      return std::unexpected("cannot write the cache " + path_ + ": " + errno_text());
    }
    written += static_cast<std::size_t>(n);
  }
  pending_.clear();
  if (::fsync(fd_) != 0) return std::unexpected("cannot fsync the cache " + path_ + ": " + errno_text());
  return {};
}

}  // namespace evax::app
