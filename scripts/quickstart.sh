#!/usr/bin/env bash
# The README's first command: installs what the node needs (Debian 12 packages), builds it,
# and runs its main job on the embedded default: the node starts with the shipped example
# config (demo model, SQLite), receives the bundled synthetic chest X-ray from DCMTK's storescu
# like a PACS would send it, analyses it, and sends its Structured Report and Secondary Capture
# heatmap to a local DCMTK storescp standing in for the PACS. The demo weights are
# deterministic and UNTRAINED; every output says so. Everything goes to out/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh

node=build/app/evax-node
out=out/quickstart
rm -rf "$out"
mkdir -p "$out/pacs"
# The shipped example, with its data under out/ and one destination: the stand-in PACS.
config=$out/evax-node.json
/usr/bin/python3 - packaging/evax-node.example.json "$config" "$out" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["storage"]["data_dir"] = sys.argv[3] + "/evax-data"
config["storage"]["min_free_mb"] = 64
config["destinations"] = [{"name": "quickstart-pacs", "ae_title": "QUICKPACS", "host": "127.0.0.1", "port": 11113}]
# The untrained demo lung model: its probability map of the example lies above mmseg's 0.3
# nearly everywhere (a mask the node would reject), and splits into one region per side at 0.93.
config["model"]["segmenter"]["checkpoint"] = "demo"
config["model"]["segmenter"]["threshold"] = 0.93
json.dump(config, open(sys.argv[2], "w"), indent=2)
PY
port=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dicom"]["port"])' "$config")
"$node" check-config "$config"
storescp -aet QUICKPACS -od "$out/pacs" 11113 2>"$out/pacs.log" &
pacs_pid=$!
"$node" serve --config "$config" 2>"$out/node.log" &
node_pid=$!
trap 'kill -TERM $node_pid $pacs_pid 2>/dev/null; wait $node_pid $pacs_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q " node ready: " "$out/node.log" && break
  sleep 0.2
done
echo "quickstart: node listening as EVAX on port $port; sending the example study" >&2
storescu -aec EVAX 127.0.0.1 "$port" examples/synthetic_chest_pa.dcm
echo "quickstart: waiting for the quiet period, the analysis and the results at the stand-in PACS" >&2
for _ in $(seq 120); do
  "$node" status --config "$config" --limit 1 | grep -q '"delivered": "' && break
  "$node" status --config "$config" --limit 1 | grep -q '"state": "\(skipped\|failed\)"' && break
  sleep 0.5
done
"$node" status --config "$config" --limit 1 | tee "$out/status.json"
# What the radiologist's viewer gets: the SR as a tree, the heatmap as a PNG.
for f in "$out"/pacs/*; do
  case "$(basename "$f")" in
    SR*) dsrdump +Pc "$f" >"$out/structured-report.txt" ;;
    SC*) dcmj2pnm +on "$f" "$out/secondary-capture.png" ;;
  esac
done
# The same image through the command line, with Grad-CAM overlays and lung masks to look at.
"$node" infer --checkpoint demo:small --cam-classes Cardiomegaly,Effusion --cam-dir "$out" \
  examples/synthetic_chest_pa.dcm >"$out/infer.json"
"$node" segment --checkpoint demo --threshold 0.93 --out "$out/lungs" examples/synthetic_chest_pa.dcm >"$out/segment.json"
echo "quickstart: job status in $out/status.json, node log in $out/node.log; the results the" \
  "PACS received in $out/pacs/ (SR as text: $out/structured-report.txt, heatmap:" \
  "$out/secondary-capture.png, lung SEG: $out/pacs/SG.*); Grad-CAM overlays of the infer command in" \
  "$out/*.png, lung masks of the segment command in $out/lungs/" >&2
