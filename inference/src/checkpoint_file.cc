#include "checkpoint_file.h"

#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "pickle_reader.h"
#include "safetensors_reader.h"

namespace evax::inference {
namespace {

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw EngineError("cannot open checkpoint file " + path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw EngineError("cannot read checkpoint file " + path);
  return std::move(buffer).str();
}

std::string describe_foreign(const std::string& head) {
  if (head.rfind("\x89PNG", 0) == 0) return " (it is a PNG image)";
  if (head.size() > 132 && head.compare(128, 4, "DICM") == 0) return " (it is a DICOM file)";
  if (!head.empty() && static_cast<unsigned char>(head[0]) == 0x80)
    return " (it looks like a legacy pre-1.6 torch.save pickle; re-save it with torch.save from PyTorch >= 1.6)";
  if (head.empty()) return " (it is empty)";
  return "";
}

at::Tensor materialise(const TensorRef& ref, caffe2::serialize::PyTorchStreamReader& archive,
                       std::map<std::string, at::Tensor>& storages) {
  auto found = storages.find(ref.storage.key);
  if (found == storages.end()) {
    const std::string record = "data/" + ref.storage.key;
    if (!archive.hasRecord(record)) throw EngineError("checkpoint archive lacks the tensor record " + record);
    auto [data, size] = archive.getRecord(record);
    const std::size_t needed = static_cast<std::size_t>(ref.storage.numel) * c10::elementSize(ref.storage.dtype);
    if (size < needed) throw EngineError("checkpoint tensor record " + record + " is shorter than its storage");
    at::Tensor storage = at::empty({ref.storage.numel}, ref.storage.dtype);
    if (needed > 0) std::memcpy(storage.data_ptr(), data.get(), needed);
    found = storages.emplace(ref.storage.key, storage).first;
  }
  // as_strided trusts its arguments: prove the view stays inside the storage first.
  std::int64_t last = ref.offset;
  bool empty = false;
  for (std::size_t d = 0; d < ref.sizes.size(); ++d) {
    if (ref.sizes[d] < 0 || ref.strides[d] < 0) throw EngineError("checkpoint tensor has a negative size or stride");
    if (ref.sizes[d] == 0) empty = true;
    else last += (ref.sizes[d] - 1) * ref.strides[d];
  }
  if (empty) return at::empty(ref.sizes, ref.storage.dtype);
  if (ref.offset < 0 || last >= ref.storage.numel)
    throw EngineError("checkpoint tensor reaches past the end of its storage " + ref.storage.key);
  return found->second.as_strided(ref.sizes, ref.strides, ref.offset).clone();
}

bool holds_tensors(const PickleValue& dict) {
  for (const auto& [key, value] : dict.entries)
    if (value->is(PickleValue::Kind::tensor)) return true;
  return false;
}

NamedTensors read_zip(const std::string& path, const std::vector<std::string>& wrappers) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> archive;
  try {
    archive = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& e) {
    throw EngineError("checkpoint " + path + " is a damaged or truncated PyTorch archive: " +
                          e.what_without_backtrace());
  }
  NamedTensors out;
  out.format = "pytorch-zip";
  try {
    if (!archive->hasRecord("data.pkl")) throw EngineError("checkpoint archive " + path + " has no data.pkl");
    auto [data, size] = archive->getRecord("data.pkl");
    const PickleRef root = read_restricted_pickle(std::string_view(static_cast<const char*>(data.get()), size));
    if (!root->is(PickleValue::Kind::dict)) throw EngineError("checkpoint " + path + " does not hold a dict");

    PickleRef state = root;
    for (const auto& wrapper : wrappers) {
      if (auto inner = root->find(wrapper); inner && inner->is(PickleValue::Kind::dict)) {
        state = inner;
        out.wrapper = wrapper;
        break;
      }
    }
    if (!holds_tensors(*state)) throw EngineError("checkpoint " + path + " holds no tensors where weights were expected");

    std::map<std::string, at::Tensor> storages;
    for (const auto& [key, value] : state->entries) {
      if (!key->is(PickleValue::Kind::string) || !value->is(PickleValue::Kind::tensor)) continue;
      out.tensors.emplace_back(key->text, materialise(value->tensor, *archive, storages));
    }
  } catch (const c10::Error& e) {
    throw EngineError("checkpoint " + path + " is damaged: " + e.what_without_backtrace());
  }
  return out;
}

}  // namespace

NamedTensors read_checkpoint_file(const std::string& path, const std::vector<std::string>& wrappers) {
  std::ifstream probe(path, std::ios::binary);
  if (!probe) throw EngineError("cannot open checkpoint file " + path);
  std::string head(512, '\0');
  probe.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(probe.gcount()));
  probe.close();

  if (head.rfind("PK\x03\x04", 0) == 0) return read_zip(path, wrappers);

  if (head.size() >= 10 && head[8] == '{') {
    const std::string bytes = read_whole_file(path);
    if (looks_like_safetensors(bytes)) {
      NamedTensors out;
      out.format = "safetensors";
      out.tensors = read_safetensors(bytes);
      return out;
    }
    throw EngineError("checkpoint " + path + " looks like a safetensors file but its header is cut off (truncated?)");
  }
  throw EngineError("file " + path + " is not a checkpoint: neither a PyTorch zip archive nor safetensors" +
                        describe_foreign(head));
}

}  // namespace evax::inference
