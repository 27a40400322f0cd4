#!/usr/bin/env python3
"""Ingest throughput: the node against DCMTK's storescp, same disk, same files, same run.

Sends 10 MB DX instances with storescu over 1 and over 4 concurrent associations, first to
storescp (--fork, writing into a folder, no fsync), then to evax-node (temp file, fsync,
rename, directory fsync, SQLite commit with synchronous=FULL before each Success), alternating
for several rounds, and prints the median MB/s of each and their ratio (target: node >= 0.8x).
The node's quiet period is set long so that analysis does not compete with ingest here.

usage: ingest_vs_storescp.py --node PATH/evax-node [--instances 16] [--rounds 3] [--workdir DIR]
Needs DCMTK (storescu, storescp) and Debian's python3-pydicom and python3-numpy.
"""
import argparse
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
from pydicom.uid import generate_uid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
from dx_files import write_dx  # noqa: E402
from local_services import free_port, wait_port  # noqa: E402

def write_instance(path, rows=2560, columns=2048):
    pixels = numpy.random.randint(0, 4096, (rows, columns), dtype=numpy.uint16)
    write_dx(path, pixels, generate_uid(), "PA", "INGEST^BENCH", "IB1")


def send(port, aet, groups):
    """One storescu per group, all at once; seconds until the last one finishes."""
    start = time.perf_counter()
    procs = [subprocess.Popen(["storescu", "-aec", aet, "127.0.0.1", str(port)] + group,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for group in groups]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit("storescu failed: " + err[-500:])
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--node", required=True)
    parser.add_argument("--instances", type=int, default=16, help="instances per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir")
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="evax-ingest-", dir=os.environ.get("EVAX_BENCH_DIR", "/tmp"))
    os.makedirs(work, exist_ok=True)

    # Fresh UIDs for every send to the node (it stores a known SOP Instance UID only once).
    files_needed = args.instances * args.rounds * 2  # 1 and 4 associations
    print(f"writing {files_needed} x 10 MB instances into {work} ...", file=sys.stderr)
    files = []
    for i in range(files_needed):
        path = os.path.join(work, f"in{i}.dcm")
        write_instance(path)
        files.append(path)
    size_mb = sum(os.path.getsize(f) for f in files) / files_needed / 1e6

    results = {1: {"storescp": [], "node": []}, 4: {"storescp": [], "node": []}}
    cursor = 0
    for round_index in range(args.rounds):
        for associations in (1, 4):
            batch = files[cursor:cursor + args.instances]
            cursor += args.instances
            groups = [batch[i::associations] for i in range(associations)]

            out = os.path.join(work, "storescp-out")
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            port = free_port()
            scp = subprocess.Popen(["storescp", "--fork", "-od", out, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_port(port)
            seconds = send(port, "ANY", groups)
            scp.send_signal(signal.SIGTERM)
            scp.wait()
            results[associations]["storescp"].append(len(batch) * size_mb / seconds)

            data = os.path.join(work, "node-data")
            shutil.rmtree(data, ignore_errors=True)
            port = free_port()
            config = {"dicom": {"ae_title": "EVAX", "port": port}, "storage": {"data_dir": data, "min_free_mb": 256},
                      "study": {"quiet_period_s": 3600}, "model": {"classifier": {"checkpoint": "demo:tiny"}, "device": "cpu"},
                      "http": {"port": free_port()}, "logging": {"level": "warn"}}
            config_path = os.path.join(work, "node.json")
            with open(config_path, "w") as f:
                json.dump(config, f)
            node = subprocess.Popen([args.node, "serve", "--config", config_path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_port(port)
            seconds = send(port, "EVAX", groups)
            node.send_signal(signal.SIGTERM)
            node.wait()
            results[associations]["node"].append(len(batch) * size_mb / seconds)
            print(f"round {round_index + 1}, {associations} association(s): storescp "
                  f"{results[associations]['storescp'][-1]:.0f} MB/s, node {results[associations]['node'][-1]:.0f} MB/s",
                  file=sys.stderr)

    summary = {"benchmark": "ingest of 10 MB DX instances", "instance_mb": round(size_mb, 2), "instances": args.instances,
               "rounds": args.rounds}
    for associations in (1, 4):
        scp = statistics.median(results[associations]["storescp"])
        node = statistics.median(results[associations]["node"])
        summary[f"{associations}_association"] = {"storescp_mb_per_s": round(scp, 1), "node_mb_per_s": round(node, 1),
                                                  "ratio": round(node / scp, 3), "target": 0.8, "meets_target": node / scp >= 0.8}
    print(json.dumps(summary, indent=1))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
