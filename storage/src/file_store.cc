#include "evax/storage/file_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>

namespace evax::storage {
namespace fs = std::filesystem;
namespace {

std::string random_hex(int bytes) {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static const char* const digits = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < bytes; ++i) {
    const auto byte = static_cast<unsigned>(generator() & 0xff);
    out += digits[byte >> 4];
    out += digits[byte & 0xf];
  }
  return out;
}

FileError errno_error(const std::string& what) {
  const int code = errno;
  return {what + ": " + std::strerror(code), code == ENOSPC || code == EDQUOT};
}

bool fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// Creates the two-level fan-out directory for `name` and makes the new entries durable.
std::expected<std::string, FileError> ensure_fanout(const std::string& root, const std::string& name) {
  const std::string level1 = root + "/" + name.substr(0, 2);
  const std::string level2 = level1 + "/" + name.substr(2, 2);
  std::error_code error;
  const bool created1 = fs::create_directory(level1, error);
  if (error) return std::unexpected(FileError{"cannot create " + level1 + ": " + error.message(), error == std::errc::no_space_on_device});
  const bool created2 = fs::create_directory(level2, error);
  if (error) return std::unexpected(FileError{"cannot create " + level2 + ": " + error.message(), error == std::errc::no_space_on_device});
  if (created1 && !fsync_path(root, O_RDONLY | O_DIRECTORY)) return std::unexpected(errno_error("fsync " + root));
  if (created2 && !fsync_path(level1, O_RDONLY | O_DIRECTORY)) return std::unexpected(errno_error("fsync " + level1));
  return level2;
}

}  // namespace

std::string sha256_hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  static const char* const digits = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += digits[digest[i] >> 4];
    out += digits[digest[i] & 0xf];
  }
  return out;
}

FileStore::FileStore(std::string data_dir, const std::string& temp_scope)
    : data_dir_(fs::absolute(data_dir).lexically_normal().string()) {
  if (!data_dir_.empty() && data_dir_.back() == '/') data_dir_.pop_back();
  temp_dir_ = data_dir_ + "/tmp" + (temp_scope.empty() ? "" : "/" + sha256_hex(temp_scope).substr(0, 16));
  for (const std::string& area : {data_dir_, data_dir_ + "/instances", data_dir_ + "/quarantine", data_dir_ + "/outputs",
                                  data_dir_ + "/tmp", temp_dir_}) {
    std::error_code error;
    fs::create_directories(area, error);
    if (error) throw std::runtime_error("cannot create " + area + ": " + error.message());
  }
}

std::string FileStore::new_temp_path() const { return temp_dir_ + "/" + random_hex(12) + ".part"; }

std::expected<std::string, FileError> FileStore::commit(const std::string& temp_path, FileArea area,
                                                           const std::string& seed) const {
  if (!fsync_path(temp_path, O_RDONLY)) return std::unexpected(errno_error("fsync " + temp_path));
  const std::string name = sha256_hex(seed).substr(0, 32) + "-" + random_hex(6) + ".dcm";
  const std::string root = data_dir_ + (area == FileArea::instances    ? "/instances"
                                       : area == FileArea::quarantine ? "/quarantine"
                                                                      : "/outputs");
  auto directory = ensure_fanout(root, name);
  if (!directory) return std::unexpected(directory.error());
  const std::string final_path = *directory + "/" + name;
  if (::rename(temp_path.c_str(), final_path.c_str()) != 0) return std::unexpected(errno_error("rename into " + final_path));
  if (!fsync_path(*directory, O_RDONLY | O_DIRECTORY)) return std::unexpected(errno_error("fsync " + *directory));
  return final_path;
}

std::expected<std::string, FileError> FileStore::write_durably(const std::vector<std::uint8_t>& bytes, FileArea area,
                                                                const std::string& seed) const {
  const std::string temp = new_temp_path();
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) return std::unexpected(errno_error("create " + temp));
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const FileError error = errno_error("write " + temp);
      ::close(fd);
      ::unlink(temp.c_str());
      return std::unexpected(error);
    }
    written += static_cast<std::size_t>(n);
  }
  ::close(fd);
  auto placed = commit(temp, area, seed);
  if (!placed) ::unlink(temp.c_str());
  return placed;
}

std::int64_t FileStore::available_bytes() const {
  struct statvfs stats {};
  if (::statvfs(data_dir_.c_str(), &stats) != 0) return 0;
  return static_cast<std::int64_t>(stats.f_bavail) * static_cast<std::int64_t>(stats.f_frsize);
}

int FileStore::sweep_temp() const {
  int removed = 0;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(temp_dir_, error)) {
    if (entry.is_regular_file(error) && fs::remove(entry.path(), error)) ++removed;
  }
  if (removed > 0) fsync_path(temp_dir_, O_RDONLY | O_DIRECTORY);  // best effort: the files are gone either way
  return removed;
}

int FileStore::sweep_unreferenced(const std::set<std::string>& referenced, std::chrono::seconds min_age) const {
  const auto old_enough = fs::file_time_type::clock::now() - min_age;
  int removed = 0;
  for (const char* area : {"/instances", "/outputs"}) {
    std::error_code error;
    for (auto it = fs::recursive_directory_iterator(data_dir_ + area, error); it != fs::recursive_directory_iterator();
         it.increment(error)) {
      if (error) break;
      if (!it->is_regular_file() || referenced.count(it->path().string())) continue;
      std::error_code ignored;
      const auto written = fs::last_write_time(it->path(), ignored);
      if (ignored || written > old_enough) continue;
      if (fs::remove(it->path(), ignored)) ++removed;
    }
  }
  return removed;
}

}  // namespace evax::storage
