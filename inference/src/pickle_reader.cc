#include "pickle_reader.h"

#include <cstring>
#include <map>
#include <optional>
#include <unordered_map>

namespace evax::inference {
namespace {

using Kind = PickleValue::Kind;

// What an admitted global may do. Nothing here ever runs Python code: each role is a data
// constructor interpreted below, and `inert` objects are recorded by type and otherwise ignored.
enum class Role { ordered_dict, rebuild_tensor, rebuild_parameter, storage_type, torch_size, inert };

struct Admitted {
  Role role;
  c10::ScalarType dtype = c10::ScalarType::Undefined;
};

const std::map<std::string, Admitted, std::less<>>& admitted_globals() {
  using c10::ScalarType;
  static const std::map<std::string, Admitted, std::less<>> table{
      {"collections.OrderedDict", {Role::ordered_dict}},
      {"torch._utils._rebuild_tensor_v2", {Role::rebuild_tensor}},
      {"torch._utils._rebuild_parameter", {Role::rebuild_parameter}},
      {"torch.Size", {Role::torch_size}},
      {"torch.FloatStorage", {Role::storage_type, ScalarType::Float}},
      {"torch.DoubleStorage", {Role::storage_type, ScalarType::Double}},
      {"torch.HalfStorage", {Role::storage_type, ScalarType::Half}},
      {"torch.BFloat16Storage", {Role::storage_type, ScalarType::BFloat16}},
      {"torch.LongStorage", {Role::storage_type, ScalarType::Long}},
      {"torch.IntStorage", {Role::storage_type, ScalarType::Int}},
      {"torch.ShortStorage", {Role::storage_type, ScalarType::Short}},
      {"torch.CharStorage", {Role::storage_type, ScalarType::Char}},
      {"torch.ByteStorage", {Role::storage_type, ScalarType::Byte}},
      {"torch.BoolStorage", {Role::storage_type, ScalarType::Bool}},
      // Present in real checkpoints but never needed: fine-tune `args`, and the numpy palette
      // mmsegmentation keeps in `meta`. Admitted as placeholders that are never called.
      {"argparse.Namespace", {Role::inert}},
      {"numpy.core.multiarray._reconstruct", {Role::inert}},
      {"numpy.ndarray", {Role::inert}},
      {"numpy.dtype", {Role::inert}},
      {"_codecs.encode", {Role::inert}},
  };
  return table;
}

PickleRef make(Kind kind) {
  auto value = std::make_shared<PickleValue>();
  value->kind = kind;
  return value;
}

class Interpreter {
 public:
  explicit Interpreter(std::string_view bytes) : bytes_(bytes) {}

  PickleRef run();

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw EngineError("checkpoint pickle: " + what + " (at byte " + std::to_string(pos_) + ")");
  }
  std::uint8_t byte() {
    if (pos_ >= bytes_.size()) fail("ends before its STOP opcode (truncated?)");
    return static_cast<std::uint8_t>(bytes_[pos_++]);
  }
  std::string_view take(std::uint64_t count) {
    if (count > bytes_.size() - pos_) fail("a field runs past the end of the data (truncated?)");
    auto view = bytes_.substr(pos_, count);
    pos_ += count;
    return view;
  }
  std::uint64_t little_endian(int count) {
    auto raw = take(count);
    std::uint64_t value = 0;
    for (int i = count - 1; i >= 0; --i) value = (value << 8) | static_cast<std::uint8_t>(raw[i]);
    return value;
  }
  std::string line() {
    auto end = bytes_.find('\n', pos_);
    if (end == std::string_view::npos) fail("unterminated text field");
    std::string text(bytes_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return text;
  }

  PickleRef pop() {
    if (stack_.size() <= mark_floor()) fail("stack underflow");
    auto value = std::move(stack_.back());
    stack_.pop_back();
    return value;
  }
  PickleRef& top() {
    if (stack_.size() <= mark_floor()) fail("stack underflow");
    return stack_.back();
  }
  std::size_t mark_floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<PickleRef> pop_to_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    std::vector<PickleRef> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  void push(PickleRef value) { stack_.push_back(std::move(value)); }
  void memo_put(std::uint64_t index) { memo_[index] = top(); }
  void memo_get(std::uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail("refers to a memo entry that was never stored");
    push(it->second);
  }

  PickleRef scalar_int(std::int64_t value) {
    auto v = make(Kind::integer);
    v->integer = value;
    return v;
  }
  PickleRef text_value(Kind kind, std::string_view text) {
    auto v = make(kind);
    v->text = std::string(text);
    return v;
  }
  PickleRef tuple(std::vector<PickleRef> items) {
    auto v = make(Kind::tuple);
    v->items = std::move(items);
    return v;
  }

  void global(std::string module, std::string name);
  void reduce(const PickleRef& callable, const PickleRef& args);
  void build(const PickleRef& target);
  PickleRef persistent_load(const PickleRef& pid);
  static const Admitted& role_of(const PickleRef& callable);
  static std::int64_t as_int(const PickleRef& value, const char* what);
  static std::vector<std::int64_t> as_int_list(const PickleRef& value, const char* what);

  std::string_view bytes_;
  std::size_t pos_ = 0;
  std::vector<PickleRef> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, PickleRef> memo_;
};

const Admitted& Interpreter::role_of(const PickleRef& callable) {
  if (!callable->is(Kind::global)) throw EngineError("checkpoint pickle: calls something that is not an admitted global");
  return admitted_globals().find(callable->text)->second;
}

std::int64_t Interpreter::as_int(const PickleRef& value, const char* what) {
  if (value->is(Kind::integer)) return value->integer;
  if (value->is(Kind::boolean)) return value->boolean ? 1 : 0;
  throw EngineError(std::string("checkpoint pickle: ") + what + " is not an integer");
}

std::vector<std::int64_t> Interpreter::as_int_list(const PickleRef& value, const char* what) {
  if (!value->is(Kind::tuple) && !value->is(Kind::list))
    throw EngineError(std::string("checkpoint pickle: ") + what + " is not a tuple");
  std::vector<std::int64_t> out;
  for (const auto& item : value->items) out.push_back(as_int(item, what));
  return out;
}

void Interpreter::global(std::string module, std::string name) {
  std::string qualified = module + "." + name;
  if (admitted_globals().find(qualified) == admitted_globals().end()) {
    fail("refers to the Python global '" + qualified +
         "', which a weights file never needs; refusing to load it (a pickle can run code)");
  }
  push(text_value(Kind::global, qualified));
}

PickleRef Interpreter::persistent_load(const PickleRef& pid) {
  // torch.save writes ('storage', <storage type>, key, location, numel)
  if (!pid->is(Kind::tuple) || pid->items.size() < 5 || !pid->items[0]->is(Kind::string) ||
      pid->items[0]->text != "storage")
    fail("has a persistent id that is not a tensor storage");
  const auto& type = pid->items[1];
  if (!type->is(Kind::global) || role_of(type).role != Role::storage_type)
    fail("has a storage whose type is not a torch storage type");
  auto value = make(Kind::storage);
  value->storage.dtype = role_of(type).dtype;
  if (!pid->items[2]->is(Kind::string)) fail("has a storage key that is not a string");
  value->storage.key = pid->items[2]->text;
  value->storage.numel = as_int(pid->items[4], "a storage size");
  if (value->storage.numel < 0) fail("has a negative storage size");
  return value;
}

void Interpreter::reduce(const PickleRef& callable, const PickleRef& args) {
  if (!args->is(Kind::tuple)) fail("REDUCE arguments are not a tuple");
  const auto& a = args->items;
  switch (role_of(callable).role) {
    case Role::ordered_dict:
      if (!a.empty()) fail("OrderedDict is built with arguments; only the empty form is admitted");
      push(make(Kind::dict));
      return;
    case Role::rebuild_tensor: {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (a.size() < 4 || !a[0]->is(Kind::storage)) fail("_rebuild_tensor_v2 has unexpected arguments");
      auto value = make(Kind::tensor);
      value->tensor.storage = a[0]->storage;
      value->tensor.offset = as_int(a[1], "a tensor offset");
      value->tensor.sizes = as_int_list(a[2], "a tensor size");
      value->tensor.strides = as_int_list(a[3], "a tensor stride");
      if (value->tensor.sizes.size() != value->tensor.strides.size()) fail("a tensor's size and stride differ in rank");
      push(value);
      return;
    }
    case Role::rebuild_parameter:
      if (a.empty() || !a[0]->is(Kind::tensor)) fail("_rebuild_parameter has unexpected arguments");
      push(a[0]);
      return;
    case Role::torch_size:
      push(a.empty() ? tuple({}) : a[0]);
      return;
    case Role::storage_type:
      fail("calls a storage type directly");
    case Role::inert:
      push(text_value(Kind::inert, callable->text));
      return;
  }
}

void Interpreter::build(const PickleRef& target) {
  // OrderedDict's `_metadata` (mmcv, timm) and the state of inert objects are not needed.
  if (target->is(Kind::dict) || target->is(Kind::inert)) return;
  fail("BUILD on an object that is neither a dict nor an admitted placeholder");
}

PickleRef Interpreter::run() {
  for (;;) {
    const std::uint8_t op = byte();
    switch (op) {
      case 0x80: byte(); break;                      // PROTO
      case 0x95: take(8); break;                     // FRAME
      case '.': {                                    // STOP
        auto result = pop();
        if (!stack_.empty() || !marks_.empty()) fail("leaves values on the stack at STOP");
        return result;
      }
      case '(': marks_.push_back(stack_.size()); break;   // MARK
      case '0': pop(); break;                             // POP
      case '1': pop_to_mark(); break;                     // POP_MARK
      case '2': push(top()); break;                       // DUP
      case 'N': push(make(Kind::none)); break;
      case 0x88:
      case 0x89: {                                        // NEWTRUE, NEWFALSE
        auto v = make(Kind::boolean);
        v->boolean = op == 0x88;
        push(v);
        break;
      }
      case 'J': push(scalar_int(static_cast<std::int32_t>(little_endian(4)))); break;  // BININT
      case 'K': push(scalar_int(byte())); break;                                       // BININT1
      case 'M': push(scalar_int(static_cast<std::int64_t>(little_endian(2)))); break;  // BININT2
      case 'I': {                                                                       // INT
        auto text = line();
        if (text == "01" || text == "00") {
          auto v = make(Kind::boolean);
          v->boolean = text == "01";
          push(v);
        } else {
          try { push(scalar_int(std::stoll(text))); } catch (const std::exception&) { fail("bad INT literal"); }
        }
        break;
      }
      case 0x8a: {                                        // LONG1
        const int count = byte();
        if (count > 8) fail("an integer wider than 64 bits");
        std::uint64_t raw = count ? little_endian(count) : 0;
        if (count > 0 && count < 8 && (raw >> (count * 8 - 1)) & 1) raw |= ~0ULL << (count * 8);
        push(scalar_int(static_cast<std::int64_t>(raw)));
        break;
      }
      case 'G': {                                         // BINFLOAT, big-endian double
        auto raw = take(8);
        std::uint64_t bits = 0;
        for (char c : raw) bits = (bits << 8) | static_cast<std::uint8_t>(c);
        auto v = make(Kind::real);
        std::memcpy(&v->real, &bits, sizeof bits);
        push(v);
        break;
      }
      case 'X': push(text_value(Kind::string, take(little_endian(4)))); break;    // BINUNICODE
      case 0x8c: push(text_value(Kind::string, take(byte()))); break;             // SHORT_BINUNICODE
      case 0x8d: push(text_value(Kind::string, take(little_endian(8)))); break;   // BINUNICODE8
      case 'T': push(text_value(Kind::bytes, take(little_endian(4)))); break;     // BINSTRING
      case 'U': push(text_value(Kind::bytes, take(byte()))); break;               // SHORT_BINSTRING
      case 'B': push(text_value(Kind::bytes, take(little_endian(4)))); break;     // BINBYTES
      case 'C': push(text_value(Kind::bytes, take(byte()))); break;               // SHORT_BINBYTES
      case 0x8e: push(text_value(Kind::bytes, take(little_endian(8)))); break;    // BINBYTES8
      case ')': push(tuple({})); break;                                           // EMPTY_TUPLE
      case 't': push(tuple(pop_to_mark())); break;                                // TUPLE
      case 0x85: { auto a = pop(); push(tuple({a})); break; }                     // TUPLE1
      case 0x86: { auto b = pop(); auto a = pop(); push(tuple({a, b})); break; }  // TUPLE2
      case 0x87: {                                                                // TUPLE3
        auto c = pop(); auto b = pop(); auto a = pop();
        push(tuple({a, b, c}));
        break;
      }
      case ']': push(make(Kind::list)); break;            // EMPTY_LIST
      case 'l': {                                         // LIST
        auto v = make(Kind::list);
        v->items = pop_to_mark();
        push(v);
        break;
      }
      case 'a': {                                         // APPEND
        auto item = pop();
        if (!top()->is(Kind::list)) fail("APPEND to something that is not a list");
        top()->items.push_back(item);
        break;
      }
      case 'e': {                                         // APPENDS
        auto items = pop_to_mark();
        if (!top()->is(Kind::list)) fail("APPENDS to something that is not a list");
        top()->items.insert(top()->items.end(), items.begin(), items.end());
        break;
      }
      case '}': push(make(Kind::dict)); break;            // EMPTY_DICT
      case 'd': {                                         // DICT
        auto items = pop_to_mark();
        if (items.size() % 2) fail("DICT with an odd number of items");
        auto v = make(Kind::dict);
        for (std::size_t i = 0; i < items.size(); i += 2) v->entries.emplace_back(items[i], items[i + 1]);
        push(v);
        break;
      }
      case 's': {                                         // SETITEM
        auto value = pop();
        auto key = pop();
        if (!top()->is(Kind::dict)) fail("SETITEM on something that is not a dict");
        top()->entries.emplace_back(key, value);
        break;
      }
      case 'u': {                                         // SETITEMS
        auto items = pop_to_mark();
        if (items.size() % 2) fail("SETITEMS with an odd number of items");
        if (!top()->is(Kind::dict)) fail("SETITEMS on something that is not a dict");
        for (std::size_t i = 0; i < items.size(); i += 2) top()->entries.emplace_back(items[i], items[i + 1]);
        break;
      }
      case 'c': {                                         // GLOBAL "module\nname\n"
        auto module = line();
        auto name = line();
        global(module, name);
        break;
      }
      case 0x93: {                                        // STACK_GLOBAL
        auto name = pop();
        auto module = pop();
        if (!name->is(Kind::string) || !module->is(Kind::string)) fail("STACK_GLOBAL with non-string names");
        global(module->text, name->text);
        break;
      }
      case 'R': {                                         // REDUCE
        auto args = pop();
        auto callable = pop();
        reduce(callable, args);
        break;
      }
      case 0x81: {                                        // NEWOBJ
        auto args = pop();
        auto cls = pop();
        if (!cls->is(Kind::global) || role_of(cls).role != Role::inert)
          fail("NEWOBJ of '" + cls->text + "', which is not an admitted placeholder type");
        push(text_value(Kind::inert, cls->text));
        break;
      }
      case 'b':                                           // BUILD
        pop();  // the state; build() decides whether the target may take one
        build(top());
        break;
      case 'Q': push(persistent_load(pop())); break;      // BINPERSID
      case 'h': memo_get(byte()); break;                  // BINGET
      case 'j': memo_get(little_endian(4)); break;        // LONG_BINGET
      case 'q': memo_put(byte()); break;                  // BINPUT
      case 'r': memo_put(little_endian(4)); break;        // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); break;           // MEMOIZE
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        fail(std::string("uses pickle opcode ") + hex + ", which checkpoints do not need");
      }
    }
  }
}

}  // namespace

PickleRef PickleValue::find(std::string_view key) const {
  for (const auto& [k, v] : entries)
    if (k->is(Kind::string) && k->text == key) return v;
  return nullptr;
}

PickleRef read_restricted_pickle(std::string_view bytes) { return Interpreter(bytes).run(); }

}  // namespace evax::inference
