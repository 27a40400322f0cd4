// MultipartReader: a push parser for a multipart body (RFC 2046, as STOW-RS uses it: PS3.18
// 8.6.1.2), fed the body in whatever pieces it arrives in and handing each part's headers and
// bytes on as they are found, so that no part is ever held whole in memory: what it buffers
// is bounded by the piece fed plus the delimiter, or by kMaxPartHeadBytes for a part's
// headers. Strict: a body that does not follow the grammar (no opening delimiter, a header
// line without a colon, a folded header, headers over the limit, no closing delimiter) is an
// error naming what is wrong. Not thread-safe: one reader per body.
#pragma once

#include <cstddef>
#include <expected>
#include <map>
#include <string>
#include <string_view>

namespace evax::dicomweb {

// A media type with its parameters: `multipart/related; type="application/dicom"; boundary=x`.
struct MediaType {
  std::string type;                           // lower-cased "multipart/related"
  std::map<std::string, std::string> params;  // names lower-cased, values unquoted
};
// Parses a Content-Type value; an error for anything that is not type/subtype *(; name=value).
std::expected<MediaType, std::string> parse_media_type(std::string_view text);

inline constexpr std::size_t kMaxPartHeadBytes = 16384;
inline constexpr std::size_t kMaxPreambleBytes = 65536;

// What the reader hands each part to. An error from any of these stops the reader: feed()
// returns it.
class PartSink {
 public:
  virtual ~PartSink() = default;
  // A part's header fields, names lower-cased, values trimmed.
  virtual std::expected<void, std::string> begin_part(const std::map<std::string, std::string>& headers) = 0;
  virtual std::expected<void, std::string> part_bytes(std::string_view bytes) = 0;
  virtual std::expected<void, std::string> end_part() = 0;
};

class MultipartReader {
 public:
  // `boundary` from the Content-Type (1 to 70 characters); `sink` must outlive the reader.
  MultipartReader(std::string boundary, PartSink& sink);

  // The next bytes of the body. After an error, every later call returns it again.
  std::expected<void, std::string> feed(std::string_view bytes);
  // The body has ended: an error unless the closing delimiter has arrived.
  std::expected<void, std::string> finish();

  int parts() const { return parts_; }

 private:
  enum class State { preamble, after_delimiter, head, body, epilogue, failed };
  std::expected<void, std::string> step();
  std::expected<void, std::string> fail(std::string why);

  const std::string delimiter_;  // CRLF "--" boundary
  PartSink& sink_;
  State state_ = State::preamble;
  std::string pending_;           // received, not yet consumed
  std::size_t preamble_bytes_ = 0;
  std::string error_;
  int parts_ = 0;
};

}  // namespace evax::dicomweb
