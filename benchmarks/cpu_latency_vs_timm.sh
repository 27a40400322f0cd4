#!/usr/bin/env bash
# EVA-X fp32 batch-1 latency on this CPU: the C++ engine against timm's Python model on the
# same Debian LibTorch, in one run, alternating the two so drift hits both alike.
#
# usage: benchmarks/cpu_latency_vs_timm.sh TIMM_SOURCE_DIR [SIZE] [ROUNDS]
#   TIMM_SOURCE_DIR  a checkout of https://github.com/huggingface/pytorch-image-models (timm is
#                    not a Debian package; see benchmarks/timm_baseline.py for the version used)
#   SIZE             tiny | small | base (default small)
#   ROUNDS           engine/timm pairs, each the median of 20 runs (default 3)
# Prints each measurement, then one JSON line with the ratio engine/timm (target: <= 0.8).
set -euo pipefail
cd "$(dirname "$0")/.."
timm_dir=${1:?usage: $0 TIMM_SOURCE_DIR [SIZE] [ROUNDS]}
size=${2:-small}
rounds=${3:-3}
python=${EVAX_PYTHON:-/usr/bin/python3}
bench=${EVAX_BUILD_DIR:-build}/benchmarks/evax-engine-bench
[[ -x $bench ]] || bash scripts/build.sh -DEVAX_ENGINE_ONLY=OFF >/dev/null

engine_ms=() timm_ms=()
for ((round = 1; round <= rounds; round++)); do
  engine=$("$bench" --checkpoint "demo:$size" --device cpu --batch 1 --warmup 3 --iterations 20)
  timm=$("$python" benchmarks/timm_baseline.py --timm-path "$timm_dir" --size "$size" --device cpu --batch 1 --warmup 3 --iterations 20)
  echo "$engine"
  echo "$timm"
  engine_ms+=("$(echo "$engine" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')")
  timm_ms+=("$(echo "$timm" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')")
done

"$python" - "$size" "${engine_ms[*]}" "${timm_ms[*]}" <<'PY'
import json, statistics, sys
size, engine, timm = sys.argv[1], [float(v) for v in sys.argv[2].split()], [float(v) for v in sys.argv[3].split()]
e, t = statistics.median(engine), statistics.median(timm)
print(json.dumps({"benchmark": "cpu fp32 batch-1 latency", "model": size, "engine_median_ms": e, "timm_median_ms": t,
                  "ratio_engine_over_timm": round(e / t, 3), "target_ratio": 0.8, "meets_target": e / t <= 0.8}))
PY
