// The scoring half of `evax-node evaluate`: every image's scores, from the score cache or from the
// engine in batches, each batch's new records fsync'd before the next starts, with a progress
// line (rate and ETA) on `progress`. SIGINT and SIGTERM stop it cleanly between batches (what
// was scored is kept); a kill -9 loses at most the batch in flight. Owns no thread.
#pragma once

#include <cstddef>
#include <expected>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "evax/inference/engine.h"
#include "score_cache.h"

namespace evax::app {

struct ScoredImages {
  std::vector<std::optional<std::vector<double>>> scores;    // per file, head order; none: unreadable
  std::vector<std::pair<std::size_t, std::string>> failures;  // file index, why it could not be read
  std::size_t computed = 0;    // images the model ran on in this run
  std::size_t from_cache = 0;  // images whose scores an earlier run had kept
  bool interrupted = false;    // stopped by SIGINT/SIGTERM: `scores` is incomplete
};

// An error when the model fails or the cache cannot be written (what was flushed is kept).
std::expected<ScoredImages, std::string> score_images(const inference::Engine& engine, ScoreCache& cache,
                                                      const std::vector<std::string>& files, int batch,
                                                      std::ostream& progress);

}  // namespace evax::app
