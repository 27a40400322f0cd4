#include "evax/dicomweb/multipart_reader.h"

#include <algorithm>
#include <cctype>

namespace evax::dicomweb {
namespace {

// Longest run of transport padding (spaces, tabs) allowed after a delimiter.
constexpr std::size_t kMaxPaddingBytes = 256;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// RFC 9110 token characters.
bool token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
bool is_token(std::string_view text) { return !text.empty() && std::all_of(text.begin(), text.end(), token_char); }

}  // namespace

std::expected<MediaType, std::string> parse_media_type(std::string_view text) {
  MediaType out;
  const std::size_t semicolon = text.find(';');
  const std::string_view type = trim(text.substr(0, semicolon));
  const std::size_t slash = type.find('/');
  if (slash == std::string_view::npos || !is_token(type.substr(0, slash)) || !is_token(type.substr(slash + 1)))
    return std::unexpected("\"" + std::string(type) + "\" is not a media type (type/subtype)");
  out.type = lower(type);
  std::size_t at = semicolon == std::string_view::npos ? text.size() : semicolon + 1;
  while (at < text.size()) {
    while (at < text.size() && (text[at] == ' ' || text[at] == '\t')) ++at;
    if (at < text.size() && text[at] == ';') {  // an empty parameter
      ++at;
      continue;
    }
    if (at >= text.size()) break;
    const std::size_t equals = text.find('=', at);
    if (equals == std::string_view::npos) return std::unexpected("a media type parameter has no '='");
    const std::string_view name = trim(text.substr(at, equals - at));
    if (!is_token(name)) return std::unexpected("\"" + std::string(name) + "\" is not a parameter name");
    std::string value;
    at = equals + 1;
    if (at < text.size() && text[at] == '"') {
      for (++at;; ++at) {
        if (at >= text.size()) return std::unexpected("a quoted parameter value is not closed");
        if (text[at] == '"') break;
        if (text[at] == '\\' && at + 1 < text.size()) ++at;
        value += text[at];
      }
      ++at;
      while (at < text.size() && (text[at] == ' ' || text[at] == '\t')) ++at;
      if (at < text.size() && text[at] != ';') return std::unexpected("text after the quoted value of parameter " + std::string(name));
    } else {
      const std::size_t end = std::min(text.find(';', at), text.size());
      value = std::string(trim(text.substr(at, end - at)));
      if (!is_token(value)) return std::unexpected("parameter " + std::string(name) + " has no valid value");
      at = end;
    }
    if (at < text.size()) ++at;  // the ';'
    out.params[lower(name)] = std::move(value);
  }
  return out;
}

MultipartReader::MultipartReader(std::string boundary, PartSink& sink)
    // The opening delimiter may start the body; a CRLF put in front lets one search find it.
    : delimiter_("\r\n--" + boundary), sink_(sink), pending_("\r\n") {}

std::expected<void, std::string> MultipartReader::fail(std::string why) {
  state_ = State::failed;
  error_ = std::move(why);
  return std::unexpected(error_);
}

std::expected<void, std::string> MultipartReader::feed(std::string_view bytes) {
  if (state_ == State::failed) return std::unexpected(error_);
  if (state_ == State::epilogue) return {};
  pending_.append(bytes);
  return step();
}

std::expected<void, std::string> MultipartReader::finish() {
  if (state_ == State::failed) return std::unexpected(error_);
  if (state_ != State::epilogue) {
    return fail(state_ == State::preamble ? "the body has no delimiter line for the boundary its Content-Type names"
                                          : "the body ended before its closing delimiter");
  }
  return {};
}

std::expected<void, std::string> MultipartReader::step() {
  for (;;) {
    switch (state_) {
      case State::preamble: {
        const std::size_t at = pending_.find(delimiter_);
        const std::size_t skipped = at == std::string::npos ? pending_.size() - std::min(pending_.size(), delimiter_.size() - 1) : at;
        preamble_bytes_ += skipped;
        if (preamble_bytes_ > kMaxPreambleBytes)
          return fail("no delimiter line for the boundary in the first " + std::to_string(kMaxPreambleBytes) + " bytes");
        if (at == std::string::npos) {
          pending_.erase(0, skipped);
          return {};
        }
        pending_.erase(0, at + delimiter_.size());
        state_ = State::after_delimiter;
        break;
      }
      case State::after_delimiter: {
        if (pending_.size() < 2) return {};
        if (pending_.compare(0, 2, "--") == 0) {
          pending_.clear();
          state_ = State::epilogue;
          return {};
        }
        const std::size_t padding = std::min(pending_.find_first_not_of(" \t"), pending_.size());
        if (padding == pending_.size() || padding + 1 == pending_.size()) {
          if (padding > kMaxPaddingBytes) return fail("a delimiter line goes on past its boundary");
          return {};
        }
        if (pending_.compare(padding, 2, "\r\n") != 0) return fail("a delimiter line goes on past its boundary");
        pending_.erase(0, padding + 2);
        state_ = State::head;
        break;
      }
      case State::head: {
        std::size_t head_end = 0, consumed = 0;
        if (pending_.size() >= 2 && pending_.compare(0, 2, "\r\n") == 0) {
          consumed = 2;  // a part without header fields
        } else {
          const std::size_t at = pending_.find("\r\n\r\n");
          if (at == std::string::npos || at > kMaxPartHeadBytes) {
            if (pending_.size() > kMaxPartHeadBytes + 4 || at != std::string::npos)
              return fail("a part's header fields are longer than " + std::to_string(kMaxPartHeadBytes) + " bytes");
            return {};
          }
          head_end = at;
          consumed = at + 4;
        }
        std::map<std::string, std::string> headers;
        const std::string_view head = std::string_view(pending_).substr(0, head_end);
        for (std::size_t line_start = 0; line_start < head.size();) {
          const std::size_t line_end = std::min(head.find("\r\n", line_start), head.size());
          const std::string_view line = head.substr(line_start, line_end - line_start);
          line_start = line_end + 2;
          const std::size_t colon = line.find(':');
          if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
            return fail("a part's header line is not \"Name: value\"");
          const std::string_view value = trim(line.substr(colon + 1));
          if (std::any_of(value.begin(), value.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; }))
            return fail("a part's header value holds a control character");
          headers[lower(line.substr(0, colon))] = std::string(value);
        }
        pending_.erase(0, consumed);
        ++parts_;
        if (auto begun = sink_.begin_part(headers); !begun) return fail(begun.error());
        state_ = State::body;
        break;
      }
      case State::body: {
        const std::size_t at = pending_.find(delimiter_);
        if (at == std::string::npos) {
          // Everything but what could be the start of a delimiter goes on now.
          const std::size_t keep = std::min(pending_.size(), delimiter_.size() - 1);
          if (pending_.size() > keep) {
            if (auto sent = sink_.part_bytes(std::string_view(pending_).substr(0, pending_.size() - keep)); !sent) return fail(sent.error());
            pending_.erase(0, pending_.size() - keep);
          }
          return {};
        }
        if (at > 0)
          if (auto sent = sink_.part_bytes(std::string_view(pending_).substr(0, at)); !sent) return fail(sent.error());
        pending_.erase(0, at + delimiter_.size());
        if (auto ended = sink_.end_part(); !ended) return fail(ended.error());
        state_ = State::after_delimiter;
        break;
      }
      case State::epilogue: pending_.clear(); return {};
      case State::failed: return std::unexpected(error_);
    }
  }
}

}  // namespace evax::dicomweb
