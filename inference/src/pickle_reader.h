// A restricted reader for the pickles inside PyTorch checkpoints. It interprets the pickle
// opcodes as data and never calls anything: only the globals a checkpoint needs are admitted,
// and any other global is refused with an error that names it. Not thread-safe per call;
// separate calls share nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <c10/core/ScalarType.h>

#include "engine_error.h"  // EngineError

namespace evax::inference {

struct PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;

// A storage record of the zip archive (`data/<key>`), as a persistent id names it.
struct StorageRef {
  std::string key;
  c10::ScalarType dtype = c10::ScalarType::Float;
  std::int64_t numel = 0;
};

// What torch._utils._rebuild_tensor_v2 would build: a strided view of a storage.
struct TensorRef {
  StorageRef storage;
  std::int64_t offset = 0;
  std::vector<std::int64_t> sizes;
  std::vector<std::int64_t> strides;
};

struct PickleValue {
  enum class Kind { none, boolean, integer, real, string, bytes, tuple, list, dict, global, tensor, storage, inert };
  Kind kind = Kind::none;
  bool boolean = false;
  std::int64_t integer = 0;
  double real = 0.0;
  std::string text;  // string, bytes, a global's "module.name", an inert object's type
  std::vector<PickleRef> items;                            // tuple, list
  std::vector<std::pair<PickleRef, PickleRef>> entries;    // dict, in insertion order
  TensorRef tensor;
  StorageRef storage;

  bool is(Kind k) const { return kind == k; }
  // The dict entry whose key is the string `key`, or nullptr.
  PickleRef find(std::string_view key) const;
};

// Interprets `bytes` (a data.pkl record) and returns the root object. Throws EngineError.
PickleRef read_restricted_pickle(std::string_view bytes);

}  // namespace evax::inference
