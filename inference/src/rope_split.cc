#include "rope_split.h"

#include "engine_error.h"

namespace evax::inference {

std::array<at::Tensor, 3> split_heads_with_rope(const at::Tensor& qkv, std::int64_t heads, const at::Tensor& cos, const at::Tensor& sin) {
  constexpr std::int64_t kHeadDim = 64;
  const std::int64_t batch = qkv.size(0), tokens = qkv.size(1), width = heads * kHeadDim;
  if (!qkv.device().is_cpu() || qkv.scalar_type() != at::kFloat || !qkv.is_contiguous() || qkv.size(2) != 3 * width ||
      cos.size(0) != tokens || !cos.is_contiguous() || !sin.is_contiguous())
    throw EngineError("split_heads_with_rope takes a contiguous float32 CPU (B, T, 3*D) tensor and (T, 64) tables");
  std::array<at::Tensor, 3> out;
  for (auto& part : out) part = at::empty({batch, heads, tokens, kHeadDim}, qkv.options());
  const float* source = qkv.data_ptr<float>();
  const float* cos_table = cos.data_ptr<float>();
  const float* sin_table = sin.data_ptr<float>();
  float* q = out[0].data_ptr<float>();
  float* k = out[1].data_ptr<float>();
  float* v = out[2].data_ptr<float>();
  // On the calling thread: it is one pass over the projection, a few percent of the GEMM before it.
  for (std::int64_t bt = 0; bt < batch * tokens; ++bt) {
    const std::int64_t b = bt / tokens, t = bt % tokens;
    const float* row = source + bt * 3 * width;
    const float* c = cos_table + t * kHeadDim;
    const float* s = sin_table + t * kHeadDim;
    for (std::int64_t h = 0; h < heads; ++h) {
      const std::int64_t target = ((b * heads + h) * tokens + t) * kHeadDim;
      const float* qs = row + h * kHeadDim;
      const float* ks = row + width + h * kHeadDim;
      const float* vs = row + 2 * width + h * kHeadDim;
      // rotated[2j] = x[2j] cos[2j] + x[2j+1] sin[2j]; rotated[2j+1] = x[2j+1] cos[2j+1] + x[2j] sin[2j+1]
      for (std::int64_t i = 0; i < kHeadDim; i += 2) {
        q[target + i] = qs[i] * c[i] + qs[i + 1] * s[i];
        q[target + i + 1] = qs[i + 1] * c[i + 1] + qs[i] * s[i + 1];
        k[target + i] = ks[i] * c[i] + ks[i + 1] * s[i];
        k[target + i + 1] = ks[i + 1] * c[i + 1] + ks[i] * s[i + 1];
      }
      for (std::int64_t i = 0; i < kHeadDim; ++i) v[target + i] = vs[i];
    }
  }
  return out;
}

}  // namespace evax::inference
