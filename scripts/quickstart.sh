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
tools_python=$(bash scripts/install-python-tools.sh | tail -1)  # highdicom, to draw the SR's regions
bash scripts/build.sh

node=build/app/evax-node
out=out/quickstart
rm -rf "$out"
mkdir -p "$out/pacs"
# The shipped example, with its data under out/ and one destination: the stand-in PACS.
config=$out/evax-node.json
# An admin token for this run: the config keeps only its SHA-256.
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
/usr/bin/python3 - packaging/evax-node.example.json "$config" "$out" "$token" <<'PY'
import hashlib, json, sys
config = json.load(open(sys.argv[1]))
config["storage"]["data_dir"] = sys.argv[3] + "/evax-data"
config["storage"]["min_free_mb"] = 64
config["destinations"] = [{"name": "quickstart-pacs", "ae_title": "QUICKPACS", "host": "127.0.0.1", "port": 11113}]
# The untrained demo lung model: its probability map of the example lies above mmseg's 0.3
# nearly everywhere (a mask the node would reject), and splits into one region per side at 0.93.
config["model"]["segmenter"]["checkpoint"] = "demo"
config["model"]["segmenter"]["threshold"] = 0.93
config["http"]["listen_address"] = "127.0.0.1"
config["http"]["tokens"] = [{"sha256": hashlib.sha256(sys.argv[4].encode()).hexdigest(), "role": "admin", "name": "quickstart"}]
json.dump(config, open(sys.argv[2], "w"), indent=2)
PY
port=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dicom"]["port"])' "$config")
http_port=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"]["port"])' "$config")
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
# What the radiologist's viewer gets: the SR as a tree, the heatmap as a PNG, and the SR's
# regions drawn from the SR alone (as a viewer places them) beside the heatmap.
for f in "$out"/pacs/*; do
  case "$(basename "$f")" in
    SR*) dsrdump +Pc "$f" >"$out/structured-report.txt" ;;
    SC*) dcmj2pnm +on "$f" "$out/secondary-capture.png" ;;
  esac
done
"$tools_python" scripts/render_sr_regions.py --sr "$out"/pacs/SR* --source examples/synthetic_chest_pa.dcm \
  --sc "$out"/pacs/SC* --out "$out/sr-regions.png" >/dev/null
# What an admin sees: the API's answers and the status page (rendered by headless Chromium,
# kept off the network, when it is installed).
api() { /usr/bin/python3 -c 'import sys, urllib.request as u; r = u.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]}); sys.stdout.write(u.urlopen(r).read().decode())' "http://127.0.0.1:$http_port$1" "$token"; }
api /api/v1/jobs >"$out/api-jobs.json"
api /metrics >"$out/metrics.txt"
if command -v chromium >/dev/null; then
  chromium --headless=new --no-sandbox --disable-gpu --no-first-run --disable-background-networking --disable-component-update \
    --disable-sync --disable-extensions --user-data-dir="$out/chromium-profile" --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
    --no-proxy-server --window-size=1280,900 --virtual-time-budget=10000 --screenshot="$out/status-page.png" \
    "http://127.0.0.1:$http_port/#token=$token" 2>/dev/null || echo "quickstart: chromium could not render the status page" >&2
  rm -rf "$out/chromium-profile"
fi
# The same image through the command line, with Grad-CAM overlays and lung masks to look at.
"$node" infer --checkpoint demo:small --cam-classes Cardiomegaly,Effusion --cam-dir "$out" \
  examples/synthetic_chest_pa.dcm >"$out/infer.json"
"$node" segment --checkpoint demo --threshold 0.93 --out "$out/lungs" examples/synthetic_chest_pa.dcm >"$out/segment.json"
echo "quickstart: job status in $out/status.json, node log in $out/node.log; the results the" \
  "PACS received in $out/pacs/ (SR as text: $out/structured-report.txt, heatmap:" \
  "$out/secondary-capture.png, the SR's regions beside it: $out/sr-regions.png, lung SEG:" \
  "$out/pacs/SG.*); Grad-CAM overlays of the infer command in" \
  "$out/*.png, lung masks of the segment command in $out/lungs/; the admin API's jobs and metrics in" \
  "$out/api-jobs.json and $out/metrics.txt, the status page in $out/status-page.png" >&2
