// The attention's input on the CPU in one pass: the fused qkv projection (B, T, 3 * D) split
// into q, k and v as contiguous (B, heads, T, 64) tensors, with RoPE applied to q and k. The
// eager form (permute, multiply by cos, swap pairs, multiply by sin, add, then the attention
// copying its strided inputs) passes over the data six times. The same two products and one
// sum per element as EvaXModel's eager RoPE.
#pragma once

#include <array>

#include <ATen/ATen.h>

namespace evax::inference {

// qkv: (B, T, 3 * heads * 64) float32, contiguous, on the CPU. cos, sin: (T, 64) float32
// contiguous, the tables of rope_tables() (the sine's signs folded in). Returns {q, k, v}.
std::array<at::Tensor, 3> split_heads_with_rope(const at::Tensor& qkv, std::int64_t heads, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace evax::inference
