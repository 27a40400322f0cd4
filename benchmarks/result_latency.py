#!/usr/bin/env python3
"""Result latency: from the C-STORE of a study's last instance to its SR arriving at a PACS.

Starts DCMTK's storescp as the destination and evax-node (CPU, demo weights) sending to it,
then stores N chest studies into the node, one per second, each a PA image the model analyses
and a lateral it skips (2048 x 2500, 12-bit, like a detector's output). For every study it
takes the time storescu had the last Success and the time the SR file was complete at the
destination, and splits the interval by the job's own stage times (quiet period, queue,
inference with Grad-CAM, building SR and SC, delivery). Prints p50/p99 per model as JSON.
Target on the 2-core development machine with EVA-X-S: p50 <= 3 s, p99 <= 6 s.

The quiet period (study.quiet_period_s) is part of the latency; it is set to 1 s here, the
shortest the config allows, so a study of several instances still arrives as one job.

usage: result_latency.py --node PATH/evax-node [--studies 60] [--models tiny,small] [--workdir DIR]
Needs DCMTK (storescu, storescp) and Debian's python3-pydicom and python3-numpy.
"""
import argparse
import datetime
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

from dx_files import write_dx
from local_services import free_port, wait_port

STAGES = [("quiet_period", "received", "complete"), ("queue", "queued", "started"),
          ("inference", "started", "inferred"), ("results", "inferred", "reported"),
          ("delivery", "reported", "delivered")]


def chest_pixels(rows, columns, rng):
    """A smooth chest-like picture: two darker lung fields in a brighter body, plus noise."""
    yy, xx = numpy.mgrid[0:rows, 0:columns].astype(numpy.float32)
    body = 3000 - 1200 * (((xx - columns / 2) / (columns * 0.45)) ** 2)
    lungs = sum(numpy.exp(-(((xx - cx) / (columns * 0.16)) ** 2 + ((yy - rows * 0.45) / (rows * 0.28)) ** 2))
                for cx in (columns * 0.3, columns * 0.7))
    image = body - 1600 * lungs + rng.normal(0, 40, (rows, columns))
    return numpy.clip(image, 0, 4095).astype(numpy.uint16)


def write_image(path, study_uid, view, pixels):
    write_dx(path, pixels, study_uid, view, "LATENCY^BENCH", "LB1", StudyDate="20261128", StudyTime="120000",
             AccessionNumber="", ReferringPhysicianName="", StudyID="1", PatientBirthDate="", PatientSex="O",
             WindowCenter=2048, WindowWidth=4096)


def iso_seconds(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def summarise(values):
    return {"p50": round(statistics.median(values), 3), "p99": round(percentile(values, 99), 3),
            "max": round(max(values), 3)}


def run_model(args, model, work, studies):
    out = os.path.join(work, f"pacs-{model}")
    data = os.path.join(work, f"node-{model}")
    for d in (out, data):
        shutil.rmtree(d, ignore_errors=True)
    os.makedirs(out)
    pacs_port, node_port = free_port(), free_port()
    # A tuned PACS answers without Nagle's delay (storescp reads TCP_NODELAY like every DCMTK tool).
    pacs = subprocess.Popen(["storescp", "-aet", "RESULTS", "-od", out, str(pacs_port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ, TCP_NODELAY="1"))
    wait_port(pacs_port)
    config = {"dicom": {"ae_title": "EVAX", "port": node_port}, "storage": {"data_dir": data, "min_free_mb": 256},
              "study": {"quiet_period_s": 1}, "model": {"classifier": {"checkpoint": f"demo:{model}"}, "device": "cpu"},
              "workers": {"count": 2}, "http": {"port": free_port()}, "logging": {"level": "warn"},
              "destinations": [{"name": "pacs", "ae_title": "RESULTS", "host": "127.0.0.1", "port": pacs_port}]}
    config_path = os.path.join(work, f"node-{model}.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    node = subprocess.Popen([args.node, "serve", "--config", config_path], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, f"node-{model}.log"), "w"))
    wait_port(node_port)

    stored_at = {}
    for i, (study_uid, files) in enumerate(studies):
        tick = time.time()
        result = subprocess.run(["storescu", "-v", "-aec", "EVAX", "127.0.0.1", str(node_port)] + files,
                                capture_output=True, text=True)
        if result.stdout.count("Received Store Response (Success)") + result.stderr.count("Received Store Response (Success)") != len(files):
            raise SystemExit("storescu failed: " + result.stderr[-800:])
        stored_at[study_uid] = time.time()
        time.sleep(max(0.0, tick + 1.0 - time.time()))

    # Wait for every SR at the destination.
    arrived = {}
    deadline = time.time() + 300
    while len(arrived) < len(studies) and time.time() < deadline:
        for name in os.listdir(out):
            path = os.path.join(out, name)
            if name in arrived.values() or not name.startswith("SR"):
                continue
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
                arrived[ds.StudyInstanceUID] = name
            except Exception:  # still being written: read it on the next pass
                pass
        time.sleep(0.5)
    latencies, stage_times = [], {name: [] for name, _, _ in STAGES}
    status = json.loads(subprocess.run([args.node, "status", "--limit", "10000", "--config", config_path],
                                       capture_output=True, text=True, check=True).stdout)
    jobs = {job["study_instance_uid"]: job for job in status["jobs"]}
    for study_uid, name in arrived.items():
        latencies.append(os.stat(os.path.join(out, name)).st_mtime - stored_at[study_uid])
        times = jobs[study_uid]["times"]
        for stage, start, end in STAGES:
            if times.get(start) and times.get(end):
                stage_times[stage].append(iso_seconds(times[end]) - iso_seconds(times[start]))
    node.send_signal(signal.SIGTERM)
    node.wait()
    pacs.send_signal(signal.SIGTERM)
    pacs.wait()
    if len(arrived) < len(studies):
        raise SystemExit(f"{model}: only {len(arrived)} of {len(studies)} SRs arrived")
    return {"studies": len(studies), "last_store_to_sr_s": summarise(latencies),
            "stages_s": {stage: summarise(values) for stage, values in stage_times.items() if values}}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--node", required=True)
    parser.add_argument("--studies", type=int, default=60)
    parser.add_argument("--models", default="tiny,small")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="evax-latency-", dir=os.environ.get("EVAX_BENCH_DIR", "/tmp"))
    os.makedirs(work, exist_ok=True)
    rng = numpy.random.default_rng(7)
    pa, lateral = chest_pixels(2500, 2048, rng), chest_pixels(2500, 2048, rng)

    summary = {"benchmark": "last C-STORE to SR at a storescp destination, one study per second",
               "machine_cores": os.cpu_count(), "image": "2048 x 2500 DX, PA analysed + lateral skipped",
               "quiet_period_s": 1, "models": {}}
    for model in args.models.split(","):
        print(f"{model}: writing {args.studies} studies ...", file=sys.stderr)
        studies = []
        for i in range(args.studies):
            study_uid = generate_uid()
            files = [os.path.join(work, f"{model}-{i}-{view}.dcm") for view in ("PA", "LL")]
            write_image(files[0], study_uid, "PA", pa)
            write_image(files[1], study_uid, "LL", lateral)
            studies.append((study_uid, files))
        summary["models"][f"demo:{model}"] = run_model(args, model, work, studies)
        print(json.dumps(summary["models"][f"demo:{model}"]), file=sys.stderr)
    small = summary["models"].get("demo:small")
    if small:
        summary["target_small"] = {"p50_s": 3, "p99_s": 6,
                                   "meets_target": small["last_store_to_sr_s"]["p50"] <= 3 and small["last_store_to_sr_s"]["p99"] <= 6}
    print(json.dumps(summary, indent=1))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
