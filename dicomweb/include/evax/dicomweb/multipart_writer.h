// MultipartWriter: the body of a STOW-RS request (PS3.18 10.5): multipart/related with
// type="application/dicom", one part per DICOM Part 10 file, streamed from the files (the body
// is never held in memory). The boundary is random and checked against the files' bytes, so a
// part can never end early. Not thread-safe; one writer per request.
#pragma once

#include <cstdint>
#include <expected>
#include <ostream>
#include <string>
#include <vector>

namespace evax::dicomweb {

class MultipartWriter {
 public:
  // Checks that every file can be read and picks a boundary none of them contains; the error
  // names the file that cannot be read.
  static std::expected<MultipartWriter, std::string> open(std::vector<std::string> paths);

  // The request's Content-Type: multipart/related; type="application/dicom"; boundary=...
  std::string content_type() const;
  std::int64_t content_length() const { return content_length_; }
  const std::string& boundary() const { return boundary_; }

  // Writes the whole body; false when a file could not be read (or the stream failed) midway.
  bool write(std::ostream& out) const;

 private:
  MultipartWriter(std::vector<std::string> paths, std::vector<std::int64_t> sizes, std::string boundary);
  std::string part_header() const;

  std::vector<std::string> paths_;
  std::vector<std::int64_t> sizes_;
  std::string boundary_;
  std::int64_t content_length_ = 0;
};

}  // namespace evax::dicomweb
