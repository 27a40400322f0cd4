#!/usr/bin/env python3
"""kill -9 trials (reliability.md #1): several storescu senders (or, with --via stow, STOW-RS
clients: one POST /dicomweb/studies of five instances at a time) store into the node while it is
killed at random moments; after each restart every instance the node answered Success must be
on disk and in SQLite (and its study queued for analysis), and no temp file may survive the
start-up scan.

Prints per-trial lines and a summary with the two counts that must be 0:
  acknowledged-but-lost: N
  orphan temp files after restart: N
Exit status 0 when both are 0.

usage: kill9_trials.py --node PATH/evax-node [--trials 100] [--senders 4] [--via cstore|stow] [--workdir DIR] [--keep]
Needs DCMTK's storescu and Debian's python3-pydicom and python3-numpy.
"""
import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import numpy
from pydicom.uid import generate_uid

from dx_files import write_dx
from local_services import free_port



def write_instance(path, study_uid):
    pixels = numpy.random.randint(0, 4096, (128, 128), dtype=numpy.uint16)
    return write_dx(path, pixels, study_uid, "PA", "KILL^NINE", "K9")


def start_node(node, config_path, log):
    proc = subprocess.Popen([node, "serve", "--config", config_path], stdout=log, stderr=log)
    deadline = time.time() + 60
    while time.time() < deadline:
        with open(log.name, errors="replace") as f:
            if f.read().count(" node ready: ") > start_node.ready_seen:  # one per start-up
                start_node.ready_seen += 1
                return proc
        if proc.poll() is not None:
            raise SystemExit("node exited during start-up; see " + log.name)
        time.sleep(0.05)
    raise SystemExit("node did not become ready; see " + log.name)


start_node.ready_seen = 0


def sender(port, files, acknowledged, lock):
    """Sends files one association at a time; records the ones answered Success."""
    for batch_start in range(0, len(files), 5):
        batch = files[batch_start:batch_start + 5]
        result = subprocess.run(["storescu", "-v", "-aec", "EVAX", "-to", "5", "-ta", "5", "-td", "5",
                                 "127.0.0.1", str(port)] + [f for f, _ in batch],
                                capture_output=True, text=True)
        current = None
        for line in result.stdout.splitlines() + result.stderr.splitlines():
            m = re.search(r"Sending file: (\S+)", line)
            if m:
                current = m.group(1)
            elif "Received Store Response (Success)" in line and current:
                uid = dict(batch).get(current)
                if uid:
                    with lock:
                        acknowledged.add(uid)
                current = None
        if result.returncode != 0 and "Association Request Failed" in result.stderr:
            return  # the node is gone


STOW_TOKEN = "kill9-stow-token"


def stow_sender(http_port, files, acknowledged, lock):
    """POSTs the files five at a time to STOW-RS; records the instances the answer lists as stored
    (ReferencedSOPSequence of a 200 or 202)."""
    for batch_start in range(0, len(files), 5):
        batch = files[batch_start:batch_start + 5]
        boundary = "kill9-" + os.urandom(8).hex()
        body = b""
        for path, _ in batch:
            with open(path, "rb") as f:
                body += (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").encode() + f.read() + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{http_port}/dicomweb/studies", data=body, method="POST",
            headers={"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                     "Accept": "application/dicom+json", "Authorization": "Bearer " + STOW_TOKEN})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError:
            continue  # refused as a whole: nothing acknowledged
        except (OSError, ValueError):
            return  # the node is gone (or its answer was cut off: nothing acknowledged)
        stored = answer.get("00081199", {}).get("Value", [])
        with lock:
            for item in stored:
                acknowledged.add(item["00081155"]["Value"][0])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--node", required=True)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--per-sender", type=int, default=30, help="instances each sender offers per trial")
    parser.add_argument("--workdir")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--via", choices=["cstore", "stow"], default="cstore", help="how the senders store")
    args = parser.parse_args()
    random.seed(args.seed)
    numpy.random.seed(args.seed)

    work = args.workdir or tempfile.mkdtemp(prefix="evax-kill9-")
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "data")
    port = free_port()
    config = {
        "dicom": {"ae_title": "EVAX", "port": port, "acse_timeout_s": 5, "dimse_timeout_s": 10},
        "storage": {"data_dir": data, "min_free_mb": 64},
        "study": {"quiet_period_s": 1},
        "model": {"classifier": {"checkpoint": "demo:tiny"}, "device": "cpu", "cam_top_k": 0},
        "workers": {"count": 1},
        "http": {"port": free_port(), "listen_address": "127.0.0.1",
                 "tokens": [{"sha256": hashlib.sha256(STOW_TOKEN.encode()).hexdigest(), "role": "store", "name": "kill9"}]},
        "logging": {"level": "info"},
    }
    config_path = os.path.join(work, "config.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    log = open(os.path.join(work, "node.log"), "a")

    acknowledged = set()
    lock = threading.Lock()
    lost_total = 0
    orphans_total = 0
    proc = start_node(args.node, config_path, log)
    for trial in range(1, args.trials + 1):
        files = []
        for s in range(args.senders):
            study = generate_uid()
            batch = []
            for i in range(args.per_sender):
                path = os.path.join(work, f"t{trial}_s{s}_{i}.dcm")
                batch.append((path, write_instance(path, study if i % 3 else generate_uid())))
            files.append(batch)
        if args.via == "stow":
            threads = [threading.Thread(target=stow_sender, args=(config["http"]["port"], files[s], acknowledged, lock))
                       for s in range(args.senders)]
        else:
            threads = [threading.Thread(target=sender, args=(port, files[s], acknowledged, lock)) for s in range(args.senders)]
        for t in threads:
            t.start()
        time.sleep(random.uniform(0.3, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for t in threads:
            t.join()

        proc = start_node(args.node, config_path, log)  # the restart runs the start-up scan
        orphans = len(os.listdir(os.path.join(data, "tmp")))
        with sqlite3.connect(f"file:{data}/evax-node.sqlite?mode=ro", uri=True) as db:
            rows = dict(db.execute("SELECT sop_instance_uid, file_path FROM instances").fetchall())
        with lock:
            lost = [uid for uid in acknowledged if uid not in rows or not rows[uid] or not os.path.exists(rows[uid])]
        lost_total += len(lost)
        orphans_total += orphans
        print(f"trial {trial}: {len(acknowledged)} acknowledged so far, lost {len(lost)}, temp files after restart {orphans}",
              flush=True)
        for path, _ in [f for batch in files for f in batch]:
            os.remove(path)

    # Every acknowledged instance's study is queued: give the assembler its quiet period.
    deadline = time.time() + 30
    uncovered = None
    while time.time() < deadline:
        with sqlite3.connect(f"file:{data}/evax-node.sqlite?mode=ro", uri=True) as db:
            uncovered = db.execute("SELECT COUNT(*) FROM instances i WHERE i.id > COALESCE("
                                   "(SELECT covered_instance_id FROM study_coverage c WHERE c.study_id = i.study_id), 0)"
                                   ).fetchone()[0]
        if uncovered == 0:
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)

    print(f"trials: {args.trials}, senders: {args.senders} ({args.via}), instances acknowledged: {len(acknowledged)}")
    print(f"acknowledged-but-lost: {lost_total}")
    print(f"orphan temp files after restart: {orphans_total}")
    print(f"acknowledged instances not queued for analysis at the end: {uncovered}")
    if not args.keep and not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if lost_total == 0 and orphans_total == 0 and uncovered == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
