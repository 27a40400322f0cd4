#!/usr/bin/env bash
# The README's first command: installs what the node needs (Debian 12 packages), builds it,
# and runs its main job on the bundled synthetic chest X-ray with the demo model, whose
# weights are deterministic and UNTRAINED (every output says so).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
out=out/quickstart
mkdir -p "$out"
./build/app/evax-node infer --checkpoint demo:small --cam-classes Cardiomegaly,Effusion --cam-dir "$out" \
  examples/synthetic_chest_pa.dcm | tee "$out/result.json"
echo "quickstart: findings in $out/result.json, Grad-CAM overlays in $out/*.png" >&2
