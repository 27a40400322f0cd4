#!/usr/bin/env bash
# The README's first command: installs what the node needs (Debian 12 packages), builds it,
# and runs its main job on the embedded default: the node starts with the shipped example
# config (demo model, SQLite and files under ./evax-data), receives the bundled synthetic chest
# X-ray from DCMTK's storescu like a PACS would send it, analyses it, and prints what it found.
# The demo weights are deterministic and UNTRAINED; every output says so.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh

node=build/app/evax-node
config=packaging/evax-node.example.json
port=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dicom"]["port"])' "$config")
mkdir -p out/quickstart
"$node" check-config "$config"
"$node" serve --config "$config" 2>out/quickstart/node.log &
node_pid=$!
trap 'kill -TERM $node_pid 2>/dev/null; wait $node_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q " node ready: " out/quickstart/node.log && break
  sleep 0.2
done
echo "quickstart: node listening as EVAX on port $port; sending the example study" >&2
storescu -aec EVAX 127.0.0.1 "$port" examples/synthetic_chest_pa.dcm
echo "quickstart: waiting for the study's quiet period and its analysis" >&2
for _ in $(seq 120); do
  "$node" status --config "$config" --limit 1 | grep -q '"state": "\(done\|skipped\|failed\)"' && break
  sleep 0.5
done
"$node" status --config "$config" --limit 1 | tee out/quickstart/status.json
# The same image through the command line, with Grad-CAM overlays to look at.
"$node" infer --checkpoint demo:small --cam-classes Cardiomegaly,Effusion --cam-dir out/quickstart \
  examples/synthetic_chest_pa.dcm >out/quickstart/infer.json
echo "quickstart: job status in out/quickstart/status.json, node log in out/quickstart/node.log," \
  "Grad-CAM overlays in out/quickstart/*.png" >&2
