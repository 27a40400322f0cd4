#!/usr/bin/env bash
# The GPU check, in one run on a machine with PyTorch 2.x + CUDA, timm, CMake and ninja but no
# Debian packages and no network: builds the engine alone (EVAX_ENGINE_ONLY) against the machine's
# own PyTorch (the CUDA flavour's build logic, cmake/EvaxLibTorch.cmake), runs every GPU test
# (label gpu: CUDA parity in fp32/bf16/fp16, CUDA graph replays) and the CPU kernel tests, then
# times the engine beside the Python baselines (eager, torch.compile, CUDA graphs) on the same
# GPU. Writes versions, logs, bench.jsonl and summary.json (each ratio against its target) to $OUT.
#
# usage: scripts/gpu_check.sh [GOOGLETEST_SOURCES]
#   GOOGLETEST_SOURCES  GoogleTest source tree (default .device/googletest; copy it from
#                       Debian's /usr/src/googletest, the GPU machine has none)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-check-out}
mkdir -p "$out"
gtest=$(realpath "${1:-.device/googletest}")
torch_dir=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python3 -c 'import torch, timm; print("torch", torch.__version__, "cuda", torch.version.cuda, "timm", timm.__version__)'
  # The pins CI builds against; the GPU machine has no network, so its own PyPI torch is used.
  echo "pinned (scripts/libtorch-cuda-requirements.txt): $(grep -v '^#' scripts/libtorch-cuda-requirements.txt | xargs)"
} | tee "$out/versions.txt"

build() {
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DEVAX_ENGINE_ONLY=ON -DEVAX_LIBTORCH_DIR="$torch_dir" \
    -DEVAX_GTEST_SOURCE_DIR="$gtest" -DEVAX_PYTHON="$(command -v python3)" "$@" &&
    cmake --build build-gpu --parallel "$(nproc)" --target evax_cuda_tests evax_inference_unit_tests evax_engine_tests \
      evax_segmentation_parity_tests evax-engine-bench
}
if ! build >"$out/build.log" 2>&1; then
  echo "build with CUDA graphs failed (see build.log); building without them" | tee -a "$out/versions.txt"
  build -DEVAX_CUDA_GRAPHS=OFF >"$out/build-without-graphs.log" 2>&1 || { tail -50 "$out/build-without-graphs.log"; exit 1; }
fi

# Every GPU test, then the CPU ones as a sanity check of this LibTorch.
./build-gpu/tests/inference/evax_cuda_tests 2>&1 | tee "$out/parity.log"
./build-gpu/tests/inference/evax_inference_unit_tests 2>&1 | tail -3 | tee "$out/unit-tests.log"
./build-gpu/tests/inference/evax_engine_tests --gtest_filter='Engine.Demo*:Engine.Covidx*:Batcher.*' 2>&1 | tee "$out/engine-tests.log"
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
# (the engine's batch 1 replays the segmenter's CUDA graph; the reference runs eager, contiguous
# and channels-last; the faster counts)
run $bench --mode segment --checkpoint demo --input-size 512 --device cuda --dtype bf16 --batch 32 --warmup 5 --iterations 30
run python3 $seg --device cuda --dtype bf16 --batch 32 --warmup 5 --iterations 30
run python3 $seg --device cuda --dtype bf16 --batch 32 --warmup 5 --iterations 30 --channels-last
run $bench --mode segment --checkpoint demo --input-size 512 --device cuda --dtype bf16 --batch 1 --warmup 20 --iterations 200
run python3 $seg --device cuda --dtype bf16 --batch 1 --warmup 20 --iterations 200
run python3 $seg --device cuda --dtype bf16 --batch 1 --warmup 20 --iterations 200 --channels-last
# fp32 for the record
run $bench --checkpoint demo:small --device cuda --dtype fp32 --batch 256 --warmup 3 --iterations 20
run python3 $py --size small --device cuda --dtype fp32 --batch 256 --warmup 3 --iterations 20

python3 - "$out/bench.jsonl" "$out/parity.log" <<'PY' | tee "$out/summary.json"
import json, re, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
def fastest(engine, batch, mode="forward", precision="bf16", compiled=None):
    """The engine's row, or the fastest Python row of that kind (compiled: a torch.compile mode; None: eager)."""
    found = []
    for r in rows:
        if r["engine"].startswith("evax-node") != engine or r["batch"] != batch or r["mode"] != mode or r["precision"] != precision:
            continue
        if not engine and ((compiled is None and "compile" in r["engine"]) or (compiled is not None and compiled not in r["engine"])):
            continue
        found.append(r)
    return min(found, key=lambda r: r["median_ms"]) if found else None
def ratio(name, engine, baseline, key, target):
    if engine and baseline:
        summary[name] = {"engine": engine[key], "baseline": baseline[key], "baseline_is": baseline["engine"],
                         "ratio": round(engine[key] / baseline[key], 3), "target": target}
parity = open(sys.argv[2]).read()
def count(status):  # gtest's per-test lines ("[  FAILED  ] Suite.Test (12 ms)"), not its closing list
    return len(re.findall(r"\[ *" + status + r" *\] \S+ .*\(\d+ ms\)", parity))
summary = {"gpu_tests": {"passed": count("OK"), "failed": count("FAILED"), "skipped": count("SKIPPED")}}
ratio("bf16_b256_images_per_s", fastest(True, 256), fastest(False, 256, compiled="compile(default)"), "images_per_second", ">= 1.0")
ratio("bf16_b1_latency_ms", fastest(True, 1), fastest(False, 1, compiled="compile(reduce-overhead)"), "median_ms", "<= 1.0")
ratio("gradcam14_bf16_b32_images_per_s", fastest(True, 32, "gradcam"), fastest(False, 32, "gradcam"), "images_per_second", ">= 5")
ratio("upernet_bf16_b32_images_per_s", fastest(True, 32, "segment"), fastest(False, 32, "segment"), "images_per_second", ">= 1.5")
ratio("upernet_bf16_b1_latency_ms", fastest(True, 1, "segment"), fastest(False, 1, "segment"), "median_ms", "engine <= 5 ms")
print(json.dumps(summary, indent=1))
PY
