#!/usr/bin/env bash
# The GPU check, in one run on a machine with PyTorch 2.x + CUDA, timm, CMake and ninja but no
# Debian packages: builds the engine alone against the Python package's LibTorch, checks CUDA
# parity against the timm fixtures, then times the engine beside the Python timm baseline
# (eager, torch.compile, CUDA graphs) on the same GPU. Writes logs and summary.json to $OUT.
#
# usage: scripts/gpu_check.sh [GOOGLETEST_SOURCES]
#   GOOGLETEST_SOURCES  GoogleTest source tree (default .device/googletest; copy it from
#                       Debian's /usr/src/googletest, the GPU machine has none)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-check-out}
mkdir -p "$out"
gtest=$(realpath "${1:-.device/googletest}")
prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
python3 -c 'import torch, timm; print("torch", torch.__version__, "timm", timm.__version__)' | tee -a "$out/gpu.txt"

build() {
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DEVAX_ENGINE_ONLY=ON -DCMAKE_PREFIX_PATH="$prefix" \
    -DEVAX_GTEST_SOURCE_DIR="$gtest" -DEVAX_PYTHON="$(command -v python3)" -DTORCH_CUDA_ARCH_LIST=9.0 "$@" &&
    cmake --build build-gpu --parallel "$(nproc)" --target evax_model_parity_tests evax_engine_tests evax_segmentation_parity_tests evax-engine-bench
}
if ! build >"$out/build.log" 2>&1; then
  echo "build with CUDA graphs failed (see build.log); building without them" | tee -a "$out/gpu.txt"
  build -DEVAX_CUDA_GRAPHS=OFF >"$out/build-without-graphs.log" 2>&1 || { tail -50 "$out/build-without-graphs.log"; exit 1; }
fi

# Parity: every CUDA test, and the CPU ones as a sanity check of this LibTorch.
./build-gpu/tests/inference/evax_model_parity_tests 2>&1 | tee "$out/parity.log"
./build-gpu/tests/inference/evax_engine_tests --gtest_filter='*Cuda*:Engine.Demo*:Engine.Covidx*:Batcher.*' 2>&1 | tee "$out/engine-tests.log"
./build-gpu/tests/inference/evax_segmentation_parity_tests 2>&1 | tee "$out/segmentation-parity.log"

bench=./build-gpu/benchmarks/evax-engine-bench
py=benchmarks/timm_baseline.py
run() { echo "+ $*" >&2; "$@" | tail -1 | tee -a "$out/bench.jsonl"; }
: >"$out/bench.jsonl"
# EVA-X-S bf16 throughput at batch 256: engine vs eager and torch.compile
run $bench --checkpoint demo:small --device cuda --dtype bf16 --batch 256 --warmup 5 --iterations 30
run python3 $py --size small --device cuda --dtype bf16 --batch 256 --warmup 5 --iterations 30
run python3 $py --size small --device cuda --dtype bf16 --batch 256 --warmup 5 --iterations 30 --compile default
# batch-1 latency: engine (CUDA graph) vs eager and torch.compile(mode='reduce-overhead')
run $bench --checkpoint demo:small --device cuda --dtype bf16 --batch 1 --warmup 20 --iterations 200
run python3 $py --size small --device cuda --dtype bf16 --batch 1 --warmup 20 --iterations 200
run python3 $py --size small --device cuda --dtype bf16 --batch 1 --warmup 20 --iterations 200 --compile reduce-overhead
# Grad-CAM, all 14 classes, bf16, batch 32: engine vs the Python recipe
run $bench --checkpoint demo:small --device cuda --dtype bf16 --batch 32 --mode gradcam --warmup 3 --iterations 20
run python3 $py --size small --device cuda --dtype bf16 --batch 32 --mode gradcam --warmup 3 --iterations 20
# Lung UperNet (EVA-X-S at 512): bf16 batch 32 and batch-1 latency, engine vs the eager Python
# reference of the same module (targets: >= 1.5x its throughput; <= 5 ms at batch 1)
seg=benchmarks/upernet_reference.py
run $bench --mode segment --checkpoint demo --input-size 512 --device cuda --dtype bf16 --batch 32 --warmup 5 --iterations 30
run python3 $seg --device cuda --dtype bf16 --batch 32 --warmup 5 --iterations 30
run $bench --mode segment --checkpoint demo --input-size 512 --device cuda --dtype bf16 --batch 1 --warmup 20 --iterations 200
run python3 $seg --device cuda --dtype bf16 --batch 1 --warmup 20 --iterations 200
# fp32 for the record
run $bench --checkpoint demo:small --device cuda --dtype fp32 --batch 256 --warmup 3 --iterations 20
run python3 $py --size small --device cuda --dtype fp32 --batch 256 --warmup 3 --iterations 20

python3 - "$out/bench.jsonl" <<'PY' | tee "$out/summary.json"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
def pick(engine, batch, mode="forward", precision="bf16", compiled=None):
    for r in rows:
        is_engine = r["engine"].startswith("evax-node")
        if is_engine != engine or r["batch"] != batch or r["mode"] != mode or r["precision"] != precision:
            continue
        if not engine and (compiled or "") not in r["engine"] or (not engine and compiled is None and "compile" in r["engine"]):
            continue
        return r
    return None
summary = {}
e, c = pick(True, 256), pick(False, 256, compiled="compile(default)")
if e and c: summary["bf16_b256_images_per_s"] = {"engine": e["images_per_second"], "torch_compile": c["images_per_second"], "ratio": round(e["images_per_second"] / c["images_per_second"], 3), "target": ">= 1.0"}
e, c = pick(True, 1), pick(False, 1, compiled="compile(reduce-overhead)")
if e and c: summary["bf16_b1_latency_ms"] = {"engine": e["median_ms"], "reduce_overhead": c["median_ms"], "ratio": round(e["median_ms"] / c["median_ms"], 3), "target": "<= 1.0"}
e, p = pick(True, 32, "gradcam"), pick(False, 32, "gradcam")
if e and p: summary["gradcam14_bf16_b32_images_per_s"] = {"engine": e["images_per_second"], "python_recipe": p["images_per_second"], "ratio": round(e["images_per_second"] / p["images_per_second"], 3), "target": ">= 5"}
e, p = pick(True, 32, "segment"), pick(False, 32, "segment")
if e and p: summary["upernet_bf16_b32_images_per_s"] = {"engine": e["images_per_second"], "python_eager": p["images_per_second"], "ratio": round(e["images_per_second"] / p["images_per_second"], 3), "target": ">= 1.5"}
e, p = pick(True, 1, "segment"), pick(False, 1, "segment")
if e and p: summary["upernet_bf16_b1_latency_ms"] = {"engine": e["median_ms"], "python_eager": p["median_ms"], "target": "engine <= 5"}
print(json.dumps(summary, indent=1))
PY
