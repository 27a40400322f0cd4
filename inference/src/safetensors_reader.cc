#include "safetensors_reader.h"

#include <cstring>
#include <map>
#include <memory>

#include "engine_error.h"  // EngineError

namespace evax::inference {
namespace {

// Just enough JSON for a safetensors header: objects, arrays, strings, integers, and the
// scalars a `__metadata__` block may hold.
struct Json {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  double number = 0;
  std::string text;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;
};

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  Json parse_document() {
    Json value = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("trailing characters after the header object");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw EngineError("safetensors header: " + what + " (at byte " + std::to_string(pos_) + ")");
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' || text_[pos_] == '\t'))
      ++pos_;
  }
  char peek() {
    skip_space();
    if (pos_ >= text_.size()) fail("ends early");
    return text_[pos_];
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  bool consume_literal(std::string_view literal) {
    if (text_.substr(pos_, literal.size()) != literal) return false;
    pos_ += literal.size();
    return true;
  }

  Json parse_value(int depth) {
    if (depth > 32) fail("nested too deeply");
    Json value;
    const char c = peek();
    if (c == '{') {
      value.kind = Json::Kind::object;
      ++pos_;
      if (peek() == '}') { ++pos_; return value; }
      for (;;) {
        std::string key = parse_string();
        expect(':');
        value.members.emplace_back(std::move(key), parse_value(depth + 1));
        if (peek() == ',') { ++pos_; continue; }
        expect('}');
        return value;
      }
    }
    if (c == '[') {
      value.kind = Json::Kind::array;
      ++pos_;
      if (peek() == ']') { ++pos_; return value; }
      for (;;) {
        value.items.push_back(parse_value(depth + 1));
        if (peek() == ',') { ++pos_; continue; }
        expect(']');
        return value;
      }
    }
    if (c == '"') {
      value.kind = Json::Kind::string;
      value.text = parse_string();
      return value;
    }
    if (consume_literal("true") || consume_literal("false")) {
      value.kind = Json::Kind::boolean;
      value.number = text_[pos_ - 4] == 't' ? 1 : 0;  // "true" is 4 characters long
      return value;
    }
    if (consume_literal("null")) return value;
    return parse_number();
  }

  Json parse_number() {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && std::strchr("+-0123456789.eE", text_[pos_]) != nullptr) ++pos_;
    if (start == pos_) fail("unexpected character");
    Json value;
    value.kind = Json::Kind::number;
    try {
      value.number = std::stod(std::string(text_.substr(start, pos_ - start)));
    } catch (const std::exception&) {
      fail("bad number");
    }
    return value;
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char c = text_[pos_++];
      if (c != '\\') { out += c; continue; }
      if (pos_ >= text_.size()) fail("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          if (pos_ + 4 > text_.size()) fail("short \\u escape");
          const unsigned code = std::stoul(std::string(text_.substr(pos_, 4)), nullptr, 16);
          pos_ += 4;
          // Tensor names are ASCII; other code points are kept as UTF-8 for completeness.
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
          }
          break;
        }
        default: out += e;  // \" \\ \/
      }
    }
    if (pos_ >= text_.size()) fail("unterminated string");
    ++pos_;
    return out;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

std::uint64_t header_length(const std::string& bytes) {
  std::uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<std::uint8_t>(bytes[static_cast<std::size_t>(i)]);
  return length;
}

const std::map<std::string, at::ScalarType>& dtypes() {
  static const std::map<std::string, at::ScalarType> table{
      {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf}, {"BF16", at::kBFloat16},
      {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
      {"U8", at::kByte},    {"BOOL", at::kBool}};
  return table;
}

const Json* member(const Json& object, std::string_view name) {
  for (const auto& [key, value] : object.members)
    if (key == name) return &value;
  return nullptr;
}

}  // namespace

bool looks_like_safetensors(const std::string& bytes) {
  if (bytes.size() < 10) return false;
  const std::uint64_t length = header_length(bytes);
  return length >= 2 && length <= bytes.size() - 8 && bytes[8] == '{';
}

std::vector<std::pair<std::string, at::Tensor>> read_safetensors(const std::string& bytes) {
  if (!looks_like_safetensors(bytes)) throw EngineError("not a safetensors file (bad header length)");
  const std::uint64_t length = header_length(bytes);
  const Json header = JsonParser(std::string_view(bytes).substr(8, length)).parse_document();
  if (header.kind != Json::Kind::object) throw EngineError("safetensors header is not a JSON object");
  const std::uint64_t data_start = 8 + length;
  const std::uint64_t data_size = bytes.size() - data_start;

  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [name, entry] : header.members) {
    if (name == "__metadata__") continue;
    const Json* dtype = member(entry, "dtype");
    const Json* shape = member(entry, "shape");
    const Json* offsets = member(entry, "data_offsets");
    if (!dtype || !shape || !offsets || dtype->kind != Json::Kind::string || shape->kind != Json::Kind::array ||
        offsets->kind != Json::Kind::array || offsets->items.size() != 2)
      throw EngineError("safetensors entry '" + name + "' lacks dtype, shape or data_offsets");
    auto found = dtypes().find(dtype->text);
    if (found == dtypes().end()) throw EngineError("safetensors entry '" + name + "' has unsupported dtype " + dtype->text);

    std::vector<std::int64_t> sizes;
    std::uint64_t count = 1;
    for (const auto& extent : shape->items) {
      if (extent.kind != Json::Kind::number || extent.number < 0 || extent.number > 1e12)
        throw EngineError("safetensors entry '" + name + "' has a bad shape");
      sizes.push_back(static_cast<std::int64_t>(extent.number));
      count *= static_cast<std::uint64_t>(extent.number);
    }
    const auto begin = static_cast<std::uint64_t>(offsets->items[0].number);
    const auto end = static_cast<std::uint64_t>(offsets->items[1].number);
    const std::uint64_t expected = count * c10::elementSize(found->second);
    if (begin > end || end > data_size || end - begin != expected)
      throw EngineError("safetensors entry '" + name + "' has data offsets outside the file or of the wrong size "
                            "(truncated file?)");
    at::Tensor tensor = at::empty(sizes, found->second);
    if (expected > 0) std::memcpy(tensor.data_ptr(), bytes.data() + data_start + begin, expected);
    tensors.emplace_back(name, std::move(tensor));
  }
  return tensors;
}

}  // namespace evax::inference
