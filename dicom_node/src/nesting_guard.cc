#include "nesting_guard.h"

#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcdicent.h>
#include <dcmtk/dcmdata/dctag.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <memory>
#include <vector>

namespace evax::dicom_node {
namespace {

constexpr std::uint32_t kUndefined = 0xFFFFFFFF;

// Bytes in order, with the ability to skip a value.
class Source {
 public:
  virtual ~Source() = default;
  virtual bool read(void* out, std::size_t n) = 0;
  virtual bool skip(std::uint64_t n) = 0;
};

class FileSource final : public Source {
 public:
  explicit FileSource(std::ifstream& in) : in_(in) {}
  bool read(void* out, std::size_t n) override { return static_cast<bool>(in_.read(static_cast<char*>(out), static_cast<std::streamsize>(n))); }
  // Seeking past the end does not fail; the next read does, which ends the scan.
  bool skip(std::uint64_t n) override { return !in_.seekg(static_cast<std::streamoff>(n), std::ios::cur).fail(); }

 private:
  std::ifstream& in_;
};

// Raw deflate (RFC 1951), as the Deflated Explicit VR Little Endian transfer syntax uses it.
class InflateSource final : public Source {
 public:
  explicit InflateSource(std::ifstream& in) : in_(in), input_(1 << 16) {
    stream_.zalloc = Z_NULL;
    stream_.zfree = Z_NULL;
    stream_.opaque = Z_NULL;
    ok_ = inflateInit2(&stream_, -MAX_WBITS) == Z_OK;
  }
  ~InflateSource() override { inflateEnd(&stream_); }
  bool read(void* out, std::size_t n) override {
    stream_.next_out = static_cast<Bytef*>(out);
    stream_.avail_out = static_cast<uInt>(n);
    while (ok_ && stream_.avail_out > 0) {
      if (stream_.avail_in == 0) {
        in_.read(reinterpret_cast<char*>(input_.data()), static_cast<std::streamsize>(input_.size()));
        if (in_.gcount() <= 0) return false;
        stream_.next_in = input_.data();
        stream_.avail_in = static_cast<uInt>(in_.gcount());
      }
      const int rc = inflate(&stream_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END && stream_.avail_out > 0) return false;
      if (rc != Z_OK && rc != Z_STREAM_END) ok_ = false;
    }
    return ok_;
  }
  bool skip(std::uint64_t n) override {
    unsigned char scratch[1 << 14];
    while (n > 0) {
      const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(n, sizeof scratch));
      if (!read(scratch, chunk)) return false;
      n -= chunk;
    }
    return true;
  }

 private:
  std::ifstream& in_;
  std::vector<Bytef> input_;
  z_stream stream_{};
  bool ok_ = false;
};

std::uint16_t u16(const unsigned char* p, bool big) { return big ? (p[0] << 8) | p[1] : p[0] | (p[1] << 8); }
std::uint32_t u32(const unsigned char* p, bool big) {
  return big ? (std::uint32_t{p[0]} << 24) | (p[1] << 16) | (p[2] << 8) | p[3]
             : p[0] | (p[1] << 8) | (p[2] << 16) | (std::uint32_t{p[3]} << 24);
}

bool long_form_vr(const unsigned char* vr) {
  static const char* const vrs[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"};
  for (const char* v : vrs)
    if (vr[0] == v[0] && vr[1] == v[1]) return true;
  return false;
}

bool is_sequence_in_dictionary(std::uint16_t group, std::uint16_t element) {
  return DcmTag(group, element).getEVR() == EVR_SQ;
}

// What each open level is, and where a defined-length one ends (in bytes read so far).
struct Level {
  bool pixel_fragments;  // encapsulated pixel data: its items are raw bytes, not datasets
  std::uint64_t end;     // kOpen when it ends with a delimiter
};
constexpr std::uint64_t kOpen = ~std::uint64_t{0};

std::optional<std::string> scan(Source& source, bool explicit_vr, bool big_endian, int max_depth) {
  std::vector<Level> levels;
  std::uint64_t position = 0;
  int sequences = 0;
  auto close_finished = [&] {
    while (!levels.empty() && levels.back().end != kOpen && levels.back().end <= position) levels.pop_back();
  };
  for (;;) {
    close_finished();
    unsigned char header[8];
    if (!source.read(header, 8)) return std::nullopt;  // the end, or too broken to tell
    position += 8;
    const std::uint16_t group = u16(header, big_endian), element = u16(header + 2, big_endian);
    if (group == 0xFFFE) {
      const std::uint32_t length = u32(header + 4, big_endian);
      if (element == 0xE000) {
        if (!levels.empty() && levels.back().pixel_fragments) {
          if (!source.skip(length)) return std::nullopt;
          position += length;
        } else {
          levels.push_back({false, length == kUndefined ? kOpen : position + length});
        }
      } else if (!levels.empty()) {  // E00D item or E0DD sequence delimiter
        levels.pop_back();
      }
      continue;
    }
    std::uint32_t length = 0;
    bool sequence = false;
    if (explicit_vr) {
      const unsigned char* vr = header + 4;
      if (long_form_vr(vr)) {
        unsigned char extra[4];
        if (!source.read(extra, 4)) return std::nullopt;
        position += 4;
        length = u32(extra, big_endian);
        sequence = (vr[0] == 'S' && vr[1] == 'Q') || (length == kUndefined && !(group == 0x7FE0 && element == 0x0010));
      } else {
        length = u16(header + 6, big_endian);
      }
    } else {
      length = u32(header + 4, big_endian);
      sequence = is_sequence_in_dictionary(group, element) || (length == kUndefined && !(group == 0x7FE0 && element == 0x0010));
    }
    if (group == 0x7FE0 && element == 0x0010 && length == kUndefined) {
      levels.push_back({true, kOpen});
      continue;
    }
    if (sequence) {
      levels.push_back({false, length == kUndefined ? kOpen : position + length});
      sequences = 0;
      for (const auto& level : levels) sequences += level.pixel_fragments ? 0 : 1;
      // A sequence and its item per nesting level, and this new sequence, whose item is not open yet.
      if ((sequences + 1) / 2 > max_depth)
        return "sequences nested more than " + std::to_string(max_depth) + " deep";
      continue;
    }
    if (length == kUndefined || !source.skip(length)) return std::nullopt;
    position += length;
  }
}

}  // namespace

std::optional<std::string> excessive_nesting(const std::string& path, int max_depth) {
  std::ifstream in(path, std::ios::binary);
  unsigned char preamble[132];
  if (!in.read(reinterpret_cast<char*>(preamble), sizeof preamble) || std::string(reinterpret_cast<char*>(preamble + 128), 4) != "DICM")
    return std::nullopt;
  // The meta header: explicit VR little endian, group 0002; it names the dataset's syntax.
  std::string syntax;
  for (;;) {
    unsigned char header[8];
    const auto start = in.tellg();
    if (!in.read(reinterpret_cast<char*>(header), 8)) return std::nullopt;
    if (u16(header, false) != 0x0002) {
      in.seekg(start);
      break;
    }
    std::uint32_t length = u16(header + 6, false);
    if (long_form_vr(header + 4)) {
      unsigned char extra[4];
      if (!in.read(reinterpret_cast<char*>(extra), 4)) return std::nullopt;
      length = u32(extra, false);
    }
    if (length > (1u << 20)) return std::nullopt;
    std::string value(length, '\0');
    if (!in.read(value.data(), length)) return std::nullopt;
    if (u16(header + 2, false) == 0x0010) syntax = value.c_str();
  }
  const bool implicit = syntax == "1.2.840.10008.1.2";
  const bool big_endian = syntax == "1.2.840.10008.1.2.2";
  if (syntax == "1.2.840.10008.1.2.1.99") {
    InflateSource source(in);
    return scan(source, true, false, max_depth);
  }
  FileSource source(in);
  return scan(source, !implicit, big_endian, max_depth);
}

}  // namespace evax::dicom_node
