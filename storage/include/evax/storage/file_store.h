// FileStore: the node's files under one data directory. Received instances are written to
// tmp/, fsync'd, renamed into instances/ (or quarantine/; results go to outputs/) under a name derived from a hash and
// a random part, never from a UID or AE title, and the directory is fsync'd.
// Thread-safe: every call works on its own files.
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <expected>
#include <string>
#include <vector>

namespace evax::storage {

enum class FileArea { instances, quarantine, outputs };

struct FileError {
  std::string message;
  bool out_of_space = false;  // ENOSPC or EDQUOT: the caller answers "out of resources"
};

class FileStore {
 public:
  // Creates data_dir and its areas if needed. Throws std::runtime_error when it cannot.
  // `temp_scope` (a cluster node's id) gives the node a temp folder of its own under tmp/, so
  // that its start-up sweep never removes another live node's files in progress.
  explicit FileStore(std::string data_dir, const std::string& temp_scope = "");

  const std::string& data_dir() const { return data_dir_; }
  std::string database_path() const { return data_dir_ + "/evax-node.sqlite"; }

  // A fresh path under tmp/ to write into.
  std::string new_temp_path() const;

  // fsync the temp file, rename it into `area` as <hash of seed>-<random>.dcm, fsync the
  // directories touched. Returns the final path, or why it failed.
  std::expected<std::string, FileError> commit(const std::string& temp_path, FileArea area, const std::string& seed) const;

  // Writes `bytes` to a temp file and commits it into `area` (as commit() does).
  std::expected<std::string, FileError> write_durably(const std::vector<std::uint8_t>& bytes, FileArea area,
                                                      const std::string& seed) const;

  // Bytes available to this process on the data directory's file system.
  std::int64_t available_bytes() const;

  // Removes every file left in this node's temp folder (after a crash); returns how many.
  int sweep_temp() const;

  // Removes the files under instances/ and outputs/ that are not in `referenced` (renamed into
  // place, never committed) and were last written at least `min_age` ago; returns how many.
  int sweep_unreferenced(const std::set<std::string>& referenced, std::chrono::seconds min_age) const;

 private:
  std::string data_dir_;
  std::string temp_dir_;  // tmp/, or tmp/<hash of the temp scope>
};

// SHA-256 of `text` as lowercase hex.
std::string sha256_hex(const std::string& text);

}  // namespace evax::storage
