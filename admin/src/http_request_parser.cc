#include "http_request_parser.h"

#include <algorithm>

namespace evax::admin {
namespace {

ProtocolError bad_request(std::string message) { return {400, "bad_request", std::move(message)}; }

ProtocolError request_line_too_long() {
  return {414, "uri_too_long", "the request line is longer than " + std::to_string(kMaxRequestLineBytes) + " bytes"};
}

ProtocolError head_too_large(const std::string& what) { return {431, "header_fields_too_large", what}; }

// RFC 9110 tchar: the characters of a method or a field name.
bool is_token_char(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return is_token_char(static_cast<unsigned char>(c)); });
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The comma-separated elements of a field value, trimmed and lower-cased, empty ones dropped.
std::vector<std::string> list_elements(std::string_view value) {
  std::vector<std::string> out;
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    const std::string_view element = trim(value.substr(0, comma));
    if (!element.empty()) out.push_back(lower(element));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

std::string_view without_line_end(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::expected<std::string, ProtocolError> percent_decode(std::string_view text, const char* where) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    const int high = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
    const int low = high >= 0 ? hex_value(text[i + 2]) : -1;
    if (low < 0) return std::unexpected(bad_request(std::string("the ") + where + " has a '%' not followed by two hex digits"));
    if (high == 0 && low == 0) return std::unexpected(bad_request(std::string("the ") + where + " holds an encoded NUL (%00)"));
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

}  // namespace

std::vector<std::string> RequestHead::values(std::string_view lower_case_name) const {
  std::vector<std::string> out;
  for (const auto& [name, value] : fields)
    if (name == lower_case_name) out.push_back(value);
  return out;
}

std::size_t leading_empty_lines(std::string_view buffer) {
  std::size_t at = 0;
  for (;;) {
    if (buffer.substr(at, 2) == "\r\n") at += 2;
    else if (buffer.substr(at, 1) == "\n") at += 1;
    else return at;
  }
}

std::expected<std::optional<std::size_t>, ProtocolError> RequestHeadScanner::scan(std::string_view buffer) {
  for (; next_ < buffer.size(); ++next_) {
    if (buffer[next_] != '\n') continue;
    const std::string_view line = without_line_end(buffer.substr(line_start_, next_ - line_start_));
    if (lines_ == 0) {
      if (line.size() > kMaxRequestLineBytes) return std::unexpected(request_line_too_long());
      if (auto parsed = parse_request_line(line); !parsed) return std::unexpected(parsed.error());
    } else if (line.empty()) {
      return next_ + 1;
    } else if (line.size() > kMaxHeaderLineBytes) {
      return std::unexpected(head_too_large("a header field line is longer than " + std::to_string(kMaxHeaderLineBytes) + " bytes"));
    } else if (lines_ > kMaxHeaderFields) {
      return std::unexpected(head_too_large("a request may have at most " + std::to_string(kMaxHeaderFields) + " header fields"));
    }
    ++lines_;
    line_start_ = next_ + 1;
    if (line_start_ > kMaxHeadBytes)
      return std::unexpected(head_too_large("the request head is longer than " + std::to_string(kMaxHeadBytes) + " bytes"));
  }
  const std::size_t partial = buffer.size() - line_start_;
  if (lines_ == 0 && partial > kMaxRequestLineBytes + 1) {
    // Still no line end: a long target is 414; a line that never had the shape of one is 400.
    const std::string_view start = buffer.substr(0, kMaxMethodBytes + 2);
    const std::size_t space = start.find(' ');
    if (space == std::string_view::npos || !is_token(start.substr(0, space))) return std::unexpected(bad_request("this is not an HTTP request"));
    return std::unexpected(request_line_too_long());
  }
  if (lines_ > 0 && partial > kMaxHeaderLineBytes + 1)
    return std::unexpected(head_too_large("a header field line is longer than " + std::to_string(kMaxHeaderLineBytes) + " bytes"));
  if (buffer.size() > kMaxHeadBytes + 2)
    return std::unexpected(head_too_large("the request head is longer than " + std::to_string(kMaxHeadBytes) + " bytes"));
  return std::nullopt;
}

std::expected<RequestLine, ProtocolError> parse_request_line(std::string_view line) {
  const std::size_t first = line.find(' ');
  const std::size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  const std::string_view shape = "the request line must be METHOD SP target SP HTTP/1.1";
  if (second == std::string_view::npos) {
    // "GET /" is an HTTP/0.9 request; anything with fewer parts is no request at all.
    if (first != std::string_view::npos && is_token(line.substr(0, first)))
      return std::unexpected(bad_request(std::string(shape) + " (HTTP/0.9 is not served)"));
    return std::unexpected(bad_request(std::string(shape)));
  }
  RequestLine parsed;
  const std::string_view method = line.substr(0, first);
  const std::string_view target = line.substr(first + 1, second - first - 1);
  const std::string_view version = line.substr(second + 1);
  if (!is_token(method)) return std::unexpected(bad_request(std::string(shape) + ": the method is not a token"));
  if (method.size() > kMaxMethodBytes)
    return std::unexpected(bad_request("the method is longer than " + std::to_string(kMaxMethodBytes) + " bytes"));
  const bool visible = std::all_of(target.begin(), target.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (target.empty() || !visible)
    return std::unexpected(bad_request(std::string(shape) + ": the target must be printable ASCII without spaces"));
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !digit(version[5]) || version[6] != '.' || !digit(version[7]))
    return std::unexpected(bad_request(std::string(shape) + ": the version is not HTTP/<digit>.<digit>"));
  if (version[5] != '1') return std::unexpected(ProtocolError{505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served"});
  parsed.method = method;
  parsed.target = target;
  parsed.minor_version = version[7] - '0';
  return parsed;
}

std::expected<RequestHead, ProtocolError> parse_request_head(std::string_view head) {
  RequestHead parsed;
  bool first = true;
  while (!head.empty()) {
    const std::size_t end = head.find('\n');
    const std::string_view line = without_line_end(head.substr(0, end));
    head.remove_prefix(end == std::string_view::npos ? head.size() : end + 1);
    if (first) {
      auto request_line = parse_request_line(line);
      if (!request_line) return std::unexpected(request_line.error());
      parsed.line = std::move(*request_line);
      first = false;
      continue;
    }
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') return std::unexpected(bad_request("folded header lines (obs-fold) are not accepted"));
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
      return std::unexpected(bad_request("a header field line must be name: value, the name a token with no space before the colon"));
    const std::string_view value = trim(line.substr(colon + 1));
    const bool clean = std::all_of(value.begin(), value.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u == '\t' || (u >= 0x20 && u != 0x7f);
    });
    if (!clean) return std::unexpected(bad_request("header field '" + std::string(line.substr(0, colon)) + "' holds control characters"));
    parsed.fields.emplace_back(lower(line.substr(0, colon)), std::string(value));
  }
  if (first) return std::unexpected(bad_request("the request is empty"));
  return parsed;
}

std::expected<RequestFraming, ProtocolError> request_framing(const RequestHead& head, std::int64_t max_body_bytes) {
  RequestFraming framing;
  const bool http11 = head.line.minor_version >= 1;
  const auto hosts = head.values("host");
  if (http11 && hosts.size() != 1) return std::unexpected(bad_request("an HTTP/1.1 request needs exactly one Host header field"));
  if (head.values("authorization").size() > 1) return std::unexpected(bad_request("more than one Authorization header field"));

  const auto codings = head.values("transfer-encoding");
  const auto lengths = head.values("content-length");
  if (!codings.empty()) {
    if (!http11 || !lengths.empty())
      return std::unexpected(bad_request("Transfer-Encoding is not accepted with HTTP/1.0 or beside Content-Length"));
    const auto elements = list_elements(codings.back());
    if (!elements.empty() && elements.back() == "chunked")
      return std::unexpected(ProtocolError{411, "length_required", "send a body with Content-Length, not chunked (no request needs a body)"});
    return std::unexpected(bad_request("Transfer-Encoding must end in chunked"));
  }
  if (lengths.size() > 1) return std::unexpected(bad_request("more than one Content-Length header field"));
  if (lengths.size() == 1) {
    const std::string& text = lengths.front();
    if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::unexpected(bad_request("Content-Length must be a whole number of bytes"));
    std::int64_t value = 0;
    for (const char c : text) {
      value = value * 10 + (c - '0');
      if (value > max_body_bytes)
        return std::unexpected(ProtocolError{413, "payload_too_large", "request bodies are limited to " + std::to_string(max_body_bytes) + " bytes"});
    }
    framing.content_length = value;
  }

  for (const auto& expect : head.values("expect")) {
    if (lower(expect) != "100-continue") return std::unexpected(ProtocolError{417, "expectation_failed", "only Expect: 100-continue is understood"});
    framing.expect_continue = http11 && framing.content_length > 0;
  }
  framing.keep_alive = http11;
  for (const auto& connection : head.values("connection"))
    for (const auto& option : list_elements(connection))
      if (option == "close") framing.keep_alive = false;
  return framing;
}

std::expected<RequestTarget, ProtocolError> parse_request_target(std::string_view target) {
  if (target.find('#') != std::string_view::npos) return std::unexpected(bad_request("a request target cannot hold a fragment ('#')"));
  const std::string scheme = lower(target.substr(0, 8));
  if (scheme.rfind("http://", 0) == 0 || scheme.rfind("https://", 0) == 0) {
    target.remove_prefix(target.find("//") + 2);
    const std::size_t path_start = target.find_first_of("/?");
    target = path_start == std::string_view::npos ? std::string_view("/") : target.substr(path_start);
    if (target.front() == '?') return std::unexpected(bad_request("an absolute request target needs a path before its query"));
  }
  if (target.empty() || target.front() != '/') return std::unexpected(bad_request("the request target must be a path starting with '/'"));
  RequestTarget parsed;
  const std::size_t question = target.find('?');
  auto path = percent_decode(target.substr(0, question), "path");
  if (!path) return std::unexpected(path.error());
  parsed.path = std::move(*path);
  std::string_view query = question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    if (piece.empty()) continue;
    const std::size_t equals = piece.find('=');
    auto key = percent_decode(piece.substr(0, equals), "query");
    auto value = percent_decode(equals == std::string_view::npos ? std::string_view() : piece.substr(equals + 1), "query");
    if (!key) return std::unexpected(key.error());
    if (!value) return std::unexpected(value.error());
    parsed.query.emplace_back(std::move(*key), std::move(*value));
  }
  return parsed;
}

}  // namespace evax::admin
