#include "evaluation_run.h"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>

#include "file_digest.h"
#include "image_input.h"

namespace evax::app {
namespace {

using Clock = std::chrono::steady_clock;

// Set by the handlers below; a signal handler can only reach a variable of static storage.
volatile std::sig_atomic_t stop_requested = 0;
extern "C" void request_stop(int) { stop_requested = 1; }

// SIGINT and SIGTERM ask the run to stop between batches while it lives; the previous
// handlers come back when it ends.
class StopOnSignal {
 public:
  StopOnSignal() {
    stop_requested = 0;
    struct sigaction action {};
    action.sa_handler = request_stop;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &previous_int_);
    ::sigaction(SIGTERM, &action, &previous_term_);
  }
  ~StopOnSignal() {
    ::sigaction(SIGINT, &previous_int_, nullptr);
    ::sigaction(SIGTERM, &previous_term_, nullptr);
  }
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

 private:
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};

std::string clock_text(double seconds) {
  const long total = static_cast<long>(seconds + 0.5);
  char text[32];
  if (total >= 3600) std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
  else std::snprintf(text, sizeof text, "%ld:%02ld", total / 60, total % 60);
  return text;
}

// "evaluate: 240/500 images (48%), 180 computed at 35.2/s, 60 from the cache, ETA 0:07"
class ProgressLine {
 public:
  ProgressLine(std::ostream& out, std::size_t total) : out_(out), total_(total), terminal_(::isatty(STDERR_FILENO) == 1) {}

  void update(std::size_t done, std::size_t computed, std::size_t from_cache, bool last) {
    const auto now = Clock::now();
    if (!last && now - shown_ < (terminal_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(2000))) return;
    shown_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(computed) / seconds : 0.0;
    char line[200];
    std::snprintf(line, sizeof line, "evaluate: %zu/%zu images (%.0f%%), %zu computed at %.1f/s, %zu from the cache", done, total_,
                  total_ ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 100.0, computed, rate, from_cache);
    std::string text = line;
    if (!last && rate > 0) text += ", ETA " + clock_text(static_cast<double>(total_ - done) / rate);
    else if (last) text += ", " + clock_text(seconds) + " in all";
    if (terminal_) out_ << '\r' << text << "\x1b[K" << (last ? "\n" : "") << std::flush;
    else out_ << text << '\n' << std::flush;
  }

 private:
  std::ostream& out_;
  std::size_t total_;
  bool terminal_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point shown_{};
};

}  // namespace

std::expected<ScoredImages, std::string> score_images(const inference::Engine& engine, ScoreCache& cache,
                                                      const std::vector<std::string>& files, int batch,
                                                      std::ostream& progress) {
  const StopOnSignal stop_on_signal;
  ScoredImages out;
  out.scores.resize(files.size());
  ProgressLine line(progress, files.size());
  for (std::size_t first = 0; first < files.size(); first += static_cast<std::size_t>(batch)) {
    if (stop_requested) {
      out.interrupted = true;
      break;
    }
    const std::size_t last = std::min(files.size(), first + static_cast<std::size_t>(batch));
    std::vector<std::size_t> to_compute;
    std::vector<std::string> digests;
    std::vector<inference::ClassifyRequest> requests;
    for (std::size_t i = first; i < last; ++i) {
      auto digest = sha256_of_file(files[i]);
      if (!digest) {
        out.failures.emplace_back(i, digest.error());
        continue;
      }
      if (auto cached = cache.find(*digest)) {
        out.scores[i] = std::move(*cached);
        ++out.from_cache;
        continue;
      }
      auto input = read_input_image(files[i]);
      if (!input) {
        out.failures.emplace_back(i, input.error());
        continue;
      }
      to_compute.push_back(i);
      digests.push_back(*digest);
      requests.push_back({std::move(input->image), {}});
    }
    if (!requests.empty()) {
      auto classified = engine.classify(requests);
      if (!classified) return std::unexpected("inference failed: " + classified.error());
      for (std::size_t r = 0; r < requests.size(); ++r) {
        std::vector<double> scores;
        for (const auto& finding : (*classified)[r].findings) scores.push_back(finding.probability);
        cache.add(digests[r], scores);
        out.scores[to_compute[r]] = std::move(scores);
      }
      out.computed += requests.size();
      if (auto flushed = cache.flush(); !flushed) return std::unexpected(flushed.error());
    }
    line.update(last, out.computed, out.from_cache, last == files.size());
  }
  return out;
}

}  // namespace evax::app
