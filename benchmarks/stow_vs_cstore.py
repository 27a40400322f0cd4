#!/usr/bin/env python3
"""Ingest by STOW-RS against ingest by C-STORE: the same files, one node, one run.

Writes pairs of 10 MB DX instances that differ only in their SOP Instance UID (the node stores
a known UID only once), then, alternating for several rounds, sends one half of a batch with
storescu over one association and the other half by STOW-RS over one kept-alive HTTP
connection (POST /dicomweb/studies, --per-request instances per request), to the same running
node, and prints the median instances/s and MB/s of each and their ratio (STOW-RS / C-STORE).
Both paths end in the same durable store (temp file, fsync, rename, SQLite commit) before the
answer; the node's quiet period is set long so that analysis does not compete with ingest.

usage: stow_vs_cstore.py --node PATH/evax-node [--instances 12] [--rounds 3] [--per-request 4] [--workdir DIR]
Needs DCMTK (storescu) and Debian's python3-pydicom and python3-numpy.
"""
import argparse
import hashlib
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import numpy
import pydicom
from pydicom.uid import generate_uid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
from dx_files import write_dx  # noqa: E402
from local_services import free_port, wait_port  # noqa: E402

TOKEN = "stow-bench-token"


def write_pair(path_a, path_b, rows=2560, columns=2048):
    """Two instances alike in every byte but the SOP Instance UID."""
    pixels = numpy.random.randint(0, 4096, (rows, columns), dtype=numpy.uint16)
    write_dx(path_a, pixels, generate_uid(), "PA", "STOW^BENCH", "SB1")
    ds = pydicom.dcmread(path_a)
    uid = generate_uid()
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.save_as(path_b)


def send_cstore(port, files):
    start = time.perf_counter()
    result = subprocess.run(["storescu", "-aec", "EVAX", "127.0.0.1", str(port)] + files, capture_output=True, text=True)
    if result.returncode != 0 or "Failed" in result.stderr:
        raise SystemExit("storescu failed: " + result.stderr[-500:])
    return time.perf_counter() - start


def send_stow(http_port, files, per_request):
    connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=120)
    start = time.perf_counter()
    for first in range(0, len(files), per_request):
        boundary = "bench-" + os.urandom(8).hex()
        body = bytearray()
        for path in files[first:first + per_request]:
            body += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            with open(path, "rb") as f:
                body += f.read()
            body += b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        connection.request("POST", "/dicomweb/studies", body=bytes(body), headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": "application/dicom+json", "Authorization": "Bearer " + TOKEN})
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise SystemExit(f"STOW-RS answered {response.status}: {answer[:500]!r}")
    seconds = time.perf_counter() - start
    connection.close()
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--node", required=True)
    parser.add_argument("--instances", type=int, default=12, help="instances per measurement (each way)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-request", type=int, default=4, help="instances per STOW-RS request")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="evax-stow-bench-", dir=os.environ.get("EVAX_BENCH_DIR", "/tmp"))
    os.makedirs(work, exist_ok=True)

    pairs = args.instances * args.rounds
    print(f"writing {pairs} pairs of 10 MB instances into {work} ...", file=sys.stderr)
    cstore_files, stow_files = [], []
    for i in range(pairs):
        a, b = os.path.join(work, f"c{i}.dcm"), os.path.join(work, f"s{i}.dcm")
        write_pair(a, b)
        cstore_files.append(a)
        stow_files.append(b)
    size_mb = sum(os.path.getsize(f) for f in cstore_files) / pairs / 1e6

    data = os.path.join(work, "node-data")
    shutil.rmtree(data, ignore_errors=True)
    port, http_port = free_port(), free_port()
    config = {"dicom": {"ae_title": "EVAX", "port": port}, "storage": {"data_dir": data, "min_free_mb": 256},
              "study": {"quiet_period_s": 3600}, "model": {"classifier": {"checkpoint": "demo:tiny"}, "device": "cpu"},
              "http": {"port": http_port, "listen_address": "127.0.0.1",
                       "tokens": [{"sha256": hashlib.sha256(TOKEN.encode()).hexdigest(), "role": "store", "name": "bench"}]},
              "logging": {"level": "warn"}}
    config_path = os.path.join(work, "node.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    node = subprocess.Popen([args.node, "serve", "--config", config_path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    wait_port(http_port)

    results = {"cstore": [], "stow": []}
    for round_index in range(args.rounds):
        batch = slice(round_index * args.instances, (round_index + 1) * args.instances)
        # Alternate which goes first, so that neither always meets a warmer page cache.
        order = ["cstore", "stow"] if round_index % 2 == 0 else ["stow", "cstore"]
        for way in order:
            if way == "cstore":
                seconds = send_cstore(port, cstore_files[batch])
            else:
                seconds = send_stow(http_port, stow_files[batch], args.per_request)
            results[way].append(seconds)
        print(f"round {round_index + 1}: C-STORE {args.instances / results['cstore'][-1]:.1f} inst/s, "
              f"STOW-RS {args.instances / results['stow'][-1]:.1f} inst/s", file=sys.stderr)
    node.send_signal(signal.SIGTERM)
    node.wait()

    summary = {"benchmark": "ingest by STOW-RS vs C-STORE, same 10 MB DX files, one node", "instance_mb": round(size_mb, 2),
               "instances": args.instances, "rounds": args.rounds, "stow_instances_per_request": args.per_request}
    for way in ("cstore", "stow"):
        seconds = statistics.median(results[way])
        summary[way] = {"instances_per_s": round(args.instances / seconds, 2), "mb_per_s": round(args.instances * size_mb / seconds, 1)}
    summary["ratio_stow_to_cstore"] = round(summary["stow"]["mb_per_s"] / summary["cstore"]["mb_per_s"], 3)
    print(json.dumps(summary, indent=1))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
