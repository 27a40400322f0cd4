#!/usr/bin/env bash
# Lung UperNet (EVA-X-S at 512) time per image on this CPU: the C++ engine against the eager
# Python reference of the same module (benchmarks/upernet_reference.py: timm's Eva plus mmseg
# 0.29.1's UPerHead) on the same Debian LibTorch, in one run, alternating the two so drift hits
# both alike. Both time a ready (B, 3, 512, 512) tensor to its probability map, fp32.
#
# usage: benchmarks/segmentation_vs_python.sh TIMM_SOURCE_DIR [BATCH] [ROUNDS] [THREADS]
#   TIMM_SOURCE_DIR  a checkout of https://github.com/huggingface/pytorch-image-models
#   BATCH            images per forward pass (default 1)
#   ROUNDS           engine/Python pairs, each the median of 5 runs after 1 warm-up (default 3)
#   THREADS          CPU threads for both (default: nproc)
# Prints each measurement, then one JSON line with the per-image times and the ratio engine/Python.
set -euo pipefail
cd "$(dirname "$0")/.."
timm_dir=${1:?usage: $0 TIMM_SOURCE_DIR [BATCH] [ROUNDS] [THREADS]}
batch=${2:-1}
rounds=${3:-3}
threads=${4:-$(nproc)}
python=${EVAX_PYTHON:-/usr/bin/python3}
bench=${EVAX_BUILD_DIR:-build}/benchmarks/evax-engine-bench
[[ -x $bench ]] || bash scripts/build.sh >/dev/null

engine_ms=() python_ms=()
for ((round = 1; round <= rounds; round++)); do
  engine=$("$bench" --mode segment --checkpoint demo --input-size 512 --device cpu --batch "$batch" --threads "$threads" \
    --warmup 1 --iterations 5)
  reference=$("$python" benchmarks/upernet_reference.py --timm-path "$timm_dir" --device cpu --batch "$batch" \
    --threads "$threads" --warmup 1 --iterations 5)
  echo "$engine"
  echo "$reference"
  engine_ms+=("$(echo "$engine" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')")
  python_ms+=("$(echo "$reference" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')")
done

"$python" - "$batch" "$threads" "${engine_ms[*]}" "${python_ms[*]}" <<'PY'
import json, statistics, sys
batch, threads = int(sys.argv[1]), int(sys.argv[2])
engine = [float(v) for v in sys.argv[3].split()]
python = [float(v) for v in sys.argv[4].split()]
e, p = statistics.median(engine), statistics.median(python)
print(json.dumps({"what": "EVA-X-S UperNet at 512, fp32, CPU", "batch": batch, "threads": threads,
                  "engine_ms_per_image": round(e / batch, 1), "python_ms_per_image": round(p / batch, 1),
                  "ratio_engine_over_python": round(e / p, 3), "rounds": len(engine)}))
PY
