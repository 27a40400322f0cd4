#include "evax/dicomweb/multipart_writer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

namespace evax::dicomweb {
namespace {

std::string random_boundary() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device device;
  std::mt19937_64 random(device());
  std::string boundary = "evax-stow-";
  for (int i = 0; i < 32; ++i) boundary += kHex[random() % 16];
  return boundary;
}

bool file_contains(const std::string& path, const std::string& needle) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return bytes.find(needle) != std::string::npos;
}

}  // namespace

std::expected<MultipartWriter, std::string> MultipartWriter::open(std::vector<std::string> paths) {
  std::vector<std::int64_t> sizes;
  for (const auto& path : paths) {
    std::error_code error;
    const auto size = std::filesystem::file_size(path, error);
    if (error || !std::ifstream(path, std::ios::binary)) return std::unexpected("cannot read " + path);
    sizes.push_back(static_cast<std::int64_t>(size));
  }
  // 128 random bits make a collision practically impossible; checking costs one read per file
  // and makes it impossible.
  for (;;) {
    std::string boundary = random_boundary();
    const bool collides = std::any_of(paths.begin(), paths.end(), [&](const auto& p) { return file_contains(p, boundary); });
    if (!collides) return MultipartWriter(std::move(paths), std::move(sizes), std::move(boundary));
  }
}

MultipartWriter::MultipartWriter(std::vector<std::string> paths, std::vector<std::int64_t> sizes, std::string boundary)
    : paths_(std::move(paths)), sizes_(std::move(sizes)), boundary_(std::move(boundary)) {
  for (const auto size : sizes_) content_length_ += static_cast<std::int64_t>(part_header().size()) + size + 2;
  content_length_ += static_cast<std::int64_t>(boundary_.size()) + 6;  // "--" boundary "--" CRLF
}

std::string MultipartWriter::content_type() const {
  return "multipart/related; type=\"application/dicom\"; boundary=" + boundary_;
}

std::string MultipartWriter::part_header() const {
  return "--" + boundary_ + "\r\nContent-Type: application/dicom\r\n\r\n";
}

bool MultipartWriter::write(std::ostream& out) const {
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    out << part_header();
    std::ifstream in(paths_[i], std::ios::binary);
    char buffer[64 * 1024];
    std::int64_t left = sizes_[i];
    while (left > 0 && in) {
      in.read(buffer, static_cast<std::streamsize>(std::min<std::int64_t>(left, sizeof buffer)));
      out.write(buffer, in.gcount());
      left -= in.gcount();
    }
    // A file that shrank since open() would make the body shorter than its Content-Length.
    if (left != 0) return false;
    out << "\r\n";
  }
  out << "--" << boundary_ << "--\r\n";
  return static_cast<bool>(out);
}

}  // namespace evax::dicomweb
