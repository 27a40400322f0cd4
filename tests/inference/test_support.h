// Shared helpers of the inference tests: where the fixtures live and how to read them.
#pragma once

#include <cstdlib>
#include <map>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "evax/inference/grey_image.h"
#include "safetensors_reader.h"

namespace evax::inference::testing {

// Small fixtures carried in the repository (tests/data/evax).
// (Built by appending: GCC 12 warns falsely on `std::string + "literal"` once inlined.)
inline std::string data_path(const std::string& name) { return std::string(EVAX_TEST_DATA_DIR).append("/evax/").append(name); }

// Large checkpoints the suite regenerates byte-identically (tests/fixtures/make_evax_checkpoints.py).
inline std::string generated_path(const std::string& name) { return std::string(EVAX_GENERATED_FIXTURES_DIR) + "/" + name; }

// Every tensor of a .safetensors fixture file, by name.
inline std::map<std::string, at::Tensor> read_safetensors_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) throw std::runtime_error(std::string("missing fixture ").append(path));
  std::string bytes;
  char buffer[1 << 16];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, file)) > 0;) bytes.append(buffer, n);
  std::fclose(file);
  std::map<std::string, at::Tensor> out;
  for (auto& [name, tensor] : read_safetensors(bytes)) out.emplace(name, tensor);
  return out;
}

// The timm reference outputs (shared/fixtures/evax/oracle.safetensors), read once.
inline const std::map<std::string, at::Tensor>& oracle() {
  static const std::map<std::string, at::Tensor> tensors = read_safetensors_file(data_path("oracle.safetensors"));
  return tensors;
}

inline const at::Tensor& reference(const std::string& name) {
  auto it = oracle().find(name);
  if (it == oracle().end()) throw std::runtime_error("oracle has no " + name);
  return it->second;
}

inline GreyImage oracle_image(const std::string& name) {
  const at::Tensor pixels = reference(name).contiguous();
  GreyImage image{static_cast<int>(pixels.size(1)), static_cast<int>(pixels.size(0)), {}};
  image.pixels.assign(pixels.data_ptr<std::uint8_t>(), pixels.data_ptr<std::uint8_t>() + pixels.numel());
  return image;
}

// The lung model's fixtures (tests/data/evax-seg): the trimmed float64 reference of the 512 model.
inline std::string seg_data(const std::string& name) { return std::string(EVAX_TEST_DATA_DIR).append("/evax-seg/").append(name); }

inline const at::Tensor& main_ref(const std::string& name) {
  static const std::map<std::string, at::Tensor> tensors = read_safetensors_file(seg_data("oracle_trimmed.safetensors"));
  return tensors.at(name);
}

// An 8-bit (..., H, W) tensor as a grey image.
inline GreyImage grey_from(const at::Tensor& u8) {
  const at::Tensor pixels = u8.contiguous();
  GreyImage image{static_cast<int>(pixels.size(-1)), static_cast<int>(pixels.size(-2)), {}};
  image.pixels.assign(pixels.data_ptr<std::uint8_t>(), pixels.data_ptr<std::uint8_t>() + pixels.numel());
  return image;
}

inline double max_abs_difference(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble).cpu() - b.to(at::kDouble).cpu()).abs().max().item<double>();
}

}  // namespace evax::inference::testing
