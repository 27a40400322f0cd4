#!/usr/bin/env python3
"""Result latency: from the C-STORE of a study's last instance to its SR arriving at a PACS.

Starts DCMTK's storescp as the destination and evax-node (CPU, demo weights) sending to it,
then stores N chest studies into the node, one every --interval seconds, each a PA image the
model analyses and a lateral it skips (2048 x 2500, 12-bit, like a detector's output). For every
study it takes the time storescu had the last Success and the time the SR file was complete at
the destination, and splits the interval by the job's own stage times (quiet period, queue,
decoding + models, building SR/SC/SEG, delivery). Prints p50/p99 per model as JSON.
With --segmenter demo the lung model runs too (every analysed image is also segmented; SEGs are
sent when the mask is accepted). With --throughput-studies K, K more studies are then stored
back to back, and the rate at which their SRs arrive is the sustainable studies per hour.
Targets on the 2-core development machine with EVA-X-S: p50 <= 3 s, p99 <= 6 s.
It also waits for every delivery to end and reports the time to each study's last object
(last_store_to_last_object_s): with every output on, the whole result set (SR, SC, SEG, PM, KOS).
With --outputs sr,sc --outputs all --rounds 3, both configurations run on the same studies,
alternating, and the ratio of their median p50s is printed (issue 15: all outputs within 1.2x of
SR + SC).

The quiet period (study.quiet_period_s) is part of the latency; it is set to 1 s here, the
shortest the config allows, so a study of several instances still arrives as one job.

usage: result_latency.py --node PATH/evax-node [--studies 60] [--interval 1] [--models tiny,small]
                         [--segmenter demo] [--threshold 0.9] [--throughput-studies K] [--workdir DIR]
                         [--outputs KINDS --outputs KINDS --rounds N]
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
from dx_files import write_dx  # noqa: E402
from local_services import free_port, wait_port  # noqa: E402

STAGES = [("quiet_period", "received", "complete"), ("queue", "queued", "started"),
          ("decode_and_models", "started", "inferred"), ("results", "inferred", "reported"),
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


def study_of(path):
    try:
        return pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID
    except Exception:  # still being written
        return None


def run_model(args, model, work, studies, outputs=None, tag=""):
    """One node run; `outputs` is reporting.outputs (None: the node's default, every kind that applies)."""
    name = f"{model}{tag}"
    out = os.path.join(work, f"pacs-{name}")
    data = os.path.join(work, f"node-{name}")
    for d in (out, data):
        shutil.rmtree(d, ignore_errors=True)
    os.makedirs(out)
    pacs_port, node_port = free_port(), free_port()
    # A tuned PACS answers without Nagle's delay (storescp reads TCP_NODELAY like every DCMTK tool).
    pacs = subprocess.Popen(["storescp", "-aet", "RESULTS", "-od", out, str(pacs_port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ, TCP_NODELAY="1"))
    wait_port(pacs_port)
    model_config = {"classifier": {"checkpoint": f"demo:{model}"}, "device": "cpu"}
    if args.segmenter:
        model_config["segmenter"] = {"checkpoint": args.segmenter, "threshold": args.threshold}
    config = {"dicom": {"ae_title": "EVAX", "port": node_port}, "storage": {"data_dir": data, "min_free_mb": 256},
              "study": {"quiet_period_s": 1}, "model": model_config,
              "workers": {"count": 2}, "http": {"port": free_port()}, "logging": {"level": "warn"},
              "destinations": [{"name": "pacs", "ae_title": "RESULTS", "host": "127.0.0.1", "port": pacs_port}]}
    if outputs is not None:
        config["reporting"] = {"outputs": outputs}
    config_path = os.path.join(work, f"node-{name}.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    node = subprocess.Popen([args.node, "serve", "--config", config_path], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, f"node-{name}.log"), "w"))
    wait_port(node_port)

    def store(study_files):
        result = subprocess.run(["storescu", "-v", "-aec", "EVAX", "127.0.0.1", str(node_port)] + study_files,
                                capture_output=True, text=True)
        if result.stdout.count("Received Store Response (Success)") + result.stderr.count("Received Store Response (Success)") != len(study_files):
            raise SystemExit("storescu failed: " + result.stderr[-800:])

    arrived = {}

    def wait_for_srs(study_uids):
        deadline = time.time() + 300 + 20 * len(study_uids)
        while not all(uid in arrived for uid in study_uids) and time.time() < deadline:
            for name in os.listdir(out):
                path = os.path.join(out, name)
                if name in arrived.values() or not name.startswith("SR"):
                    continue
                try:
                    ds = pydicom.dcmread(path, stop_before_pixels=True)
                    arrived[ds.StudyInstanceUID] = name
                except Exception:  # still being written: read it on the next pass
                    pass
            time.sleep(0.2)

    latency_studies = studies[:args.studies]
    stored_at = {}
    for study_uid, files in latency_studies:
        tick = time.time()
        store(files)
        stored_at[study_uid] = time.time()
        time.sleep(max(0.0, tick + args.interval - time.time()))
    wait_for_srs([uid for uid, _ in latency_studies])

    throughput = None
    burst = studies[args.studies:]
    if burst:  # back to back: the node's sustainable rate is the rate at which their SRs arrive
        for study_uid, files in burst:
            store(files)
        wait_for_srs([uid for uid, _ in burst])
        done = sorted(os.stat(os.path.join(out, arrived[uid])).st_mtime for uid, _ in burst if uid in arrived)
        if len(done) == len(burst) and len(done) > 1:
            seconds_per_study = (done[-1] - done[0]) / (len(done) - 1)
            throughput = {"studies": len(burst), "seconds_per_study": round(seconds_per_study, 3),
                          "studies_per_hour": round(3600 / seconds_per_study)}
    # The whole result set: every delivery of every job ended, then each study's last object.
    deadline = time.time() + 300
    while True:
        status = json.loads(subprocess.run([args.node, "status", "--limit", "10000", "--config", config_path],
                                           capture_output=True, text=True, check=True).stdout)
        states = [d["state"] for job in status["jobs"] for o in job.get("outputs", []) for d in o["deliveries"]]
        if all(state in ("delivered", "dead") for state in states) or time.time() > deadline:
            break
        time.sleep(0.5)
    last_object = {}
    kinds = {}
    for file_name in os.listdir(out):
        path = os.path.join(out, file_name)
        study_uid = study_of(path)
        kinds[file_name.split(".")[0]] = kinds.get(file_name.split(".")[0], 0) + 1
        if study_uid:
            last_object[study_uid] = max(last_object.get(study_uid, 0), os.stat(path).st_mtime)
    segs = kinds.get("SG", 0)  # storescp names a SEG "SG.<uid>"
    latencies, set_latencies, stage_times = [], [], {stage: [] for stage, _, _ in STAGES}
    jobs = {job["study_instance_uid"]: job for job in status["jobs"]}
    for study_uid in stored_at:
        if study_uid not in arrived:
            continue
        name = arrived[study_uid]
        latencies.append(os.stat(os.path.join(out, name)).st_mtime - stored_at[study_uid])
        set_latencies.append(last_object[study_uid] - stored_at[study_uid])
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
    return {"studies": len(latency_studies), "interval_s": args.interval, "lung_model": args.segmenter or None,
            "outputs": outputs or "default (all that apply)", "objects_received_by_prefix": kinds,
            "segs_received": segs, "last_store_to_sr_s": summarise(latencies),
            "last_store_to_last_object_s": summarise(set_latencies),
            "stages_s": {stage: summarise(values) for stage, values in stage_times.items() if values},
            "throughput": throughput}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--node", required=True)
    parser.add_argument("--studies", type=int, default=60)
    parser.add_argument("--models", default="tiny,small")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between the studies' first C-STOREs")
    parser.add_argument("--segmenter", help="model.segmenter.checkpoint (e.g. demo): the lung model on")
    parser.add_argument("--threshold", type=float, default=0.9,
                        help="model.segmenter.threshold: the demo lung model's map of these images is two lungs at 0.9, "
                             "so SEGs are built and sent as for a real study")
    parser.add_argument("--throughput-studies", type=int, default=0, help="then K studies back to back: studies per hour")
    parser.add_argument("--outputs", action="append", metavar="KINDS",
                        help="reporting.outputs for a run, e.g. sr,sc; 'all' for the default (every kind); given twice, "
                             "both configurations run on the same studies, alternating --rounds times, and the p50 ratios "
                             "of the second to the first are printed")
    parser.add_argument("--rounds", type=int, default=1, help="with two --outputs: alternating rounds of each")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="evax-latency-", dir=os.environ.get("EVAX_BENCH_DIR", "/tmp"))
    os.makedirs(work, exist_ok=True)
    rng = numpy.random.default_rng(7)
    pa, lateral = chest_pixels(2500, 2048, rng), chest_pixels(2500, 2048, rng)

    summary = {"benchmark": f"last C-STORE to SR at a storescp destination, one study every {args.interval:g} s",
               "node": args.node,
               "machine_cores": os.cpu_count(), "image": "2048 x 2500 DX, PA analysed + lateral skipped",
               "quiet_period_s": 1, "models": {}}
    for model in args.models.split(","):
        print(f"{model}: writing {args.studies} studies ...", file=sys.stderr)
        studies = []
        for i in range(args.studies + args.throughput_studies):
            study_uid = generate_uid()
            files = [os.path.join(work, f"{model}-{i}-{view}.dcm") for view in ("PA", "LL")]
            write_image(files[0], study_uid, "PA", pa)
            write_image(files[1], study_uid, "LL", lateral)
            studies.append((study_uid, files))
        if not args.outputs:
            summary["models"][f"demo:{model}"] = run_model(args, model, work, studies)
            print(json.dumps(summary["models"][f"demo:{model}"]), file=sys.stderr)
            continue
        runs = {kinds: [] for kinds in args.outputs}
        for round_index in range(args.rounds):
            for kinds in args.outputs:
                outputs = None if kinds == "all" else kinds.split(",")
                result = run_model(args, model, work, studies, outputs, f"-{kinds.replace(',', '+')}-{round_index}")
                print(json.dumps(result), file=sys.stderr)
                runs[kinds].append(result)
        entry = {kinds: {"rounds": results,
                         "median_p50_sr_s": statistics.median(r["last_store_to_sr_s"]["p50"] for r in results),
                         "median_p50_last_object_s": statistics.median(r["last_store_to_last_object_s"]["p50"] for r in results)}
                 for kinds, results in runs.items()}
        if len(args.outputs) == 2:
            base, other = (entry[k] for k in args.outputs)
            entry["ratio"] = {"p50_sr": round(other["median_p50_sr_s"] / base["median_p50_sr_s"], 3),
                              "p50_last_object": round(other["median_p50_last_object_s"] / base["median_p50_last_object_s"], 3),
                              "of": f"{args.outputs[1]} / {args.outputs[0]}"}
        summary["models"][f"demo:{model}"] = entry
    small = summary["models"].get("demo:small")
    if small and not args.outputs:
        summary["target_small"] = {"p50_s": 3, "p99_s": 6,
                                   "meets_target": small["last_store_to_sr_s"]["p50"] <= 3 and small["last_store_to_sr_s"]["p99"] <= 6}
    print(json.dumps(summary, indent=1))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
