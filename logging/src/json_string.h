// A JSON string literal of any text: shared by the log's JSON lines and the audit log.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace evax::logging {

// The length of the well-formed UTF-8 sequence starting text[i] (1 to 4), or 0 when the bytes
// there are not one (a stray continuation byte, an overlong form, a surrogate, a cut sequence).
inline std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  std::size_t length = lead >= 0xF0 && lead <= 0xF4 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 && lead <= 0xDF ? 2 : 0;
  if (length == 0 || i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  const unsigned char second = byte(i + 1);
  if ((lead == 0xE0 && second < 0xA0) || (lead == 0xED && second > 0x9F) || (lead == 0xF0 && second < 0x90) ||
      (lead == 0xF4 && second > 0x8F))
    return 0;
  return length;
}

// Appends text from a peer (an AE title, a DICOM value, a request line) so that it can neither
// break a log line nor a terminal: control characters (and DEL) become \uXXXX in JSON or
// \xNN in text, and bytes that are not UTF-8 become the four characters \xNN in both.
inline void append_escaped(std::string& out, std::string_view text, bool json) {
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    const std::size_t length = utf8_sequence_length(text, i);
    char buffer[8];
    if (length == 0) {
      // In JSON the backslash itself is escaped, so the decoded string reads \xNN as in text.
      std::snprintf(buffer, sizeof buffer, json ? "\\\\x%02X" : "\\x%02X", static_cast<unsigned char>(c));
      out += buffer;
      ++i;
      continue;
    }
    if (length > 1) {
      out.append(text.substr(i, length));
      i += length;
      continue;
    }
    ++i;
    if (json && (c == '"' || c == '\\')) {
      out += '\\';
      out += c;
    } else if (json && c == '\n') {
      out += "\\n";
    } else if (json && c == '\r') {
      out += "\\r";
    } else if (json && c == '\t') {
      out += "\\t";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      std::snprintf(buffer, sizeof buffer, json ? "\\u%04x" : "\\x%02X", static_cast<unsigned char>(c));
      out += buffer;
    } else {
      out += c;
    }
  }
}

inline void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  append_escaped(out, text, true);
  out += '"';
}

// ,"key":"value" for each field, appended to a JSON object being written.
template <class Fields>
void append_json_fields(std::string& out, const Fields& fields) {
  for (const auto& [key, value] : fields) {
    out += ',';
    append_json_string(out, key);
    out += ':';
    append_json_string(out, value);
  }
}

}  // namespace evax::logging
