// A JSON string literal of any text: shared by the log's JSON lines and the audit log.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace evax::logging {

inline void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        } else {
          out += c;
        }
    }
  }
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
