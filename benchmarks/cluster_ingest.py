#!/usr/bin/python3
"""Ingest of a cluster (issue 14): N nodes on one PostgreSQL behind HAProxy against one node on
SQLite, in the same run, with the same instances and senders, in alternating rounds; medians of
instances/s and their ratio. Ingest only: study.quiet_period_s is an hour, so no analysis runs
while it is measured (on a small machine the analysis would take the CPU the ingest needs).

usage: cluster_ingest.py --node build/app/evax-node [--nodes 3] [--rounds 3] [--instances 200]
                         [--senders 10]
Each round makes a fresh set of instances (new UIDs) that both contenders receive.
"""
import argparse
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "cluster"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
from harness import Cluster  # noqa: E402
from cluster_chaos import store, write_instance  # noqa: E402

import numpy  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_round(folder, count, per_study=2):
    os.makedirs(folder, exist_ok=True)
    files, study = [], None
    for i in range(count):
        if i % per_study == 0:
            study = generate_uid()
        path = os.path.join(folder, f"{i}.dcm")
        files.append((path, write_instance(path, study, "PA")))
    return files


def ingest(port, files, senders):
    """Instances/s: every sender stores its share in associations of 10; all acknowledged or it fails."""
    shares = [files[i::senders] for i in range(senders)]
    acked, lock = set(), threading.Lock()

    def send(share):
        for start in range(0, len(share), 10):
            got = store(port, share[start:start + 10], timeout_s=30)
            with lock:
                acked.update(got)

    threads = [threading.Thread(target=send, args=(s,)) for s in shares]
    begin = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.time() - begin
    if len(acked) != len(files):
        raise SystemExit(f"only {len(acked)} of {len(files)} instances acknowledged")
    return len(files) / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--node", required=True)
    parser.add_argument("--test-scp", default=os.path.join(REPO, "build/tests/support/evax-test-scp"))
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instances", type=int, default=200, help="per round")
    parser.add_argument("--senders", type=int, default=10)
    args = parser.parse_args()
    numpy.random.seed(20261202)

    quiet = 3600
    cluster = Cluster(args.node, args.test_scp, nodes=args.nodes, quiet_period_s=quiet)
    single = Cluster(args.node, args.test_scp, nodes=1, quiet_period_s=quiet, database="sqlite", haproxy=False)
    try:
        cluster.start()
        single.start()
        rates = {"cluster": [], "single": []}
        contenders = {"cluster": cluster, "single": single}
        for r in range(args.rounds):
            files = make_round(os.path.join(cluster.workdir, f"round{r}"), args.instances)
            order = ["cluster", "single"] if r % 2 == 0 else ["single", "cluster"]
            for name in order:
                rate = ingest(contenders[name].store_port(), files, args.senders)
                rates[name].append(rate)
                print(f"round {r + 1}: {name}: {rate:.1f} instances/s", flush=True)
        c, s = statistics.median(rates["cluster"]), statistics.median(rates["single"])
        size = os.path.getsize(files[0][0])
        print(f"instances: {args.instances} per round ({size} bytes each), senders: {args.senders}, rounds: {args.rounds}")
        print(f"{args.nodes} nodes on PostgreSQL through HAProxy: {c:.1f} instances/s (median)")
        print(f"1 node on SQLite: {s:.1f} instances/s (median)")
        print(f"ratio cluster / single: {c / s:.2f}")
    finally:
        cluster.close()
        single.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
