#!/usr/bin/env bash
# Fuzzes the admin HTTP API of a throwaway node (demo weights, loopback ports, a temporary
# directory): (a) schemathesis generates requests from docs/openapi.json and checks the answers
# against it (no 5xx, documented status codes, content types and schemas), with an admin token;
# (b) scripts/fuzz_admin_http.py sends mutated raw requests and checks every answer is a
# well-formed HTTP/1.x status line with a JSON error body, or a closed connection. Then the node
# must still be running and healthy. Bounded: EVAX_FUZZ_EXAMPLES per operation (default 100),
# EVAX_FUZZ_RAW_CASES (default 1500) and EVAX_FUZZ_SECONDS per part (default 300).
# schemathesis lives in its own venv, build-tools/fuzz-venv, created here from
# scripts/fuzz-requirements.txt (every package pinned, installed with --no-deps).
# Usage: scripts/fuzz_admin_api.sh [path/to/evax-node]   (default build/app/evax-node)
set -euo pipefail
cd "$(dirname "$0")/.."
node=${1:-build/app/evax-node}
examples=${EVAX_FUZZ_EXAMPLES:-100}
raw_cases=${EVAX_FUZZ_RAW_CASES:-1500}
seconds=${EVAX_FUZZ_SECONDS:-300}
[[ -x $node ]] || { echo "fuzz: no node binary at $node (build first: scripts/build.sh)" >&2; exit 2; }

venv=build-tools/fuzz-venv
requirements=scripts/fuzz-requirements.txt
stamp=$venv/.requirements.sha256
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$wanted" ]]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
  echo "$wanted" >"$stamp"
fi

dir=$(mktemp -d /tmp/evax-fuzz-XXXXXX)
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
dicom_port=$(free_port)
http_port=$(free_port)
python3 - "$dir" "$token" "$dicom_port" "$http_port" <<'PY'
import hashlib, json, sys
d, token, dicom_port, http_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
config = {
    "dicom": {"ae_title": "EVAX", "port": dicom_port},
    "storage": {"data_dir": d + "/data", "min_free_mb": 16},
    "model": {"classifier": {"checkpoint": "demo:tiny"}, "device": "cpu"},
    "http": {"port": http_port, "listen_address": "127.0.0.1", "timeout_s": 2,
             "tokens": [{"sha256": hashlib.sha256(token.encode()).hexdigest(), "role": "admin", "name": "fuzz"}]},
}
json.dump(config, open(d + "/config.json", "w"), indent=2)
PY
"$node" serve --config "$dir/config.json" 2>"$dir/node.log" &
node_pid=$!
trap 'kill -TERM $node_pid 2>/dev/null; wait $node_pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 300); do
  grep -q "node ready" "$dir/node.log" && break
  kill -0 $node_pid 2>/dev/null || { cat "$dir/node.log" >&2; exit 1; }
  sleep 0.2
done
echo "fuzz: node on 127.0.0.1:$http_port (log $dir/node.log)" >&2

status=0
echo "fuzz: (a) schemathesis, $examples examples per operation" >&2
timeout "$seconds" "$venv/bin/schemathesis" run docs/openapi.json --url "http://127.0.0.1:$http_port" \
  --header "Authorization: Bearer $token" --checks all --max-examples "$examples" --seed 1 \
  --request-timeout 10 --no-color || status=1
echo "fuzz: (b) raw HTTP mutations" >&2
"$venv/bin/python" scripts/fuzz_admin_http.py "$http_port" "$token" --cases "$raw_cases" --seconds "$seconds" || status=1
if ! kill -0 $node_pid 2>/dev/null; then
  echo "fuzz: the node died" >&2
  tail -20 "$dir/node.log" >&2
  status=1
fi
exit $status
