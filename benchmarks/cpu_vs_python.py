#!/usr/bin/env python3
"""The fair CPU comparison: the C++ engine in both build flavours against the Python baselines,
in one run on one machine, alternating contenders round by round so that drift hits all alike.

Contenders, each at 1 and 2 CPU threads (whichever is faster counts, for every contender):
  classifier  EVA-X-S fp32 batch 1 at 224, ready input tensor to logits
    engine    build/benchmarks/evax-engine-bench (Debian's LibTorch 1.13, OpenBLAS + oneDNN) and
              build-cuda/benchmarks/evax-engine-bench (PyPI's LibTorch, MKL + oneDNN, run on the CPU)
    python    timm (pinned, PyPI) on PyPI's torch: the baseline; and the same timm on Debian's
              torch 1.13, the baseline this project quoted before
  upernet     the lung UperNet (EVA-X-S at 512) fp32 batch 1, ready input to probability map
    engine    both flavours, as above
    python    benchmarks/upernet_reference.py on PyPI's torch, contiguous and channels-last
              (the faster counts): the baseline

Needs both builds (scripts/build.sh, scripts/build.sh --cuda); the pinned venv is
build-cuda/libtorch-venv (scripts/install-libtorch-cuda.sh). Prints one JSON line per
measurement, then a JSON summary with every contender's best median and the ratios engine/baseline
(targets: at most 0.8), and the same summary to --out.

  python3 benchmarks/cpu_vs_python.py [--rounds 3] [--what classifier|upernet|both] [--out FILE]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_json(command, env=None):
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"failed: {' '.join(map(str, command))}\n{result.stdout}\n{result.stderr}")
    return json.loads(lines[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--what", default="both", choices=["classifier", "upernet", "both"])
    parser.add_argument("--debian-build", default="build")
    parser.add_argument("--cuda-build", default="build-cuda")
    parser.add_argument("--venv", default="build-cuda/libtorch-venv")
    parser.add_argument("--out", help="also write the summary here")
    args = parser.parse_args()

    venv_python = str(ROOT / args.venv / "bin" / "python")
    site = subprocess.run([venv_python, "-c", "import timm, os; print(os.path.dirname(os.path.dirname(timm.__file__)))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # timm alone (not the venv's torch) for Debian's Python: a folder holding only a link to it.
    timm_only = tempfile.mkdtemp(prefix="evax-timm-only-")
    os.symlink(os.path.join(site, "timm"), os.path.join(timm_only, "timm"))
    debian_env = dict(os.environ, PYTHONPATH=timm_only)
    benches = {"debian": str(ROOT / args.debian_build / "benchmarks" / "evax-engine-bench"),
               "cuda-flavour": str(ROOT / args.cuda_build / "benchmarks" / "evax-engine-bench")}

    contenders = []  # (group, family, label, threads, command, env)
    if args.what in ("classifier", "both"):
        timing = ["--warmup", "3", "--iterations", "20"]
        for threads in (1, 2):
            for flavour, bench in benches.items():
                contenders.append(("classifier", f"engine {flavour}", threads,
                                   [bench, "--checkpoint", "demo:small", "--device", "cpu", "--batch", "1", "--threads", str(threads)] + timing, None))
            baseline = ["benchmarks/timm_baseline.py", "--size", "small", "--device", "cpu", "--batch", "1", "--threads", str(threads)] + timing
            contenders.append(("classifier", "timm on PyPI torch", threads, [venv_python] + baseline, None))
            contenders.append(("classifier", "timm on Debian torch 1.13", threads, ["/usr/bin/python3"] + baseline, debian_env))
    if args.what in ("upernet", "both"):
        timing = ["--warmup", "1", "--iterations", "5"]
        for threads in (1, 2):
            for flavour, bench in benches.items():
                contenders.append(("upernet", f"engine {flavour}", threads,
                                   [bench, "--mode", "segment", "--checkpoint", "demo", "--input-size", "512", "--device", "cpu",
                                    "--batch", "1", "--threads", str(threads)] + timing, None))
            for layout in ([], ["--channels-last"]):
                contenders.append(("upernet", "reference on PyPI torch" + (" channels-last" if layout else ""), threads,
                                   [venv_python, "benchmarks/upernet_reference.py", "--device", "cpu", "--batch", "1",
                                    "--threads", str(threads)] + layout + timing, None))

    medians = {}
    for round_index in range(args.rounds):
        order = contenders if round_index % 2 == 0 else list(reversed(contenders))
        for group, family, threads, command, env in order:
            result = run_json(command, env)
            result.update(round=round_index + 1, group=group, family=family)
            print(json.dumps(result), flush=True)
            medians.setdefault((group, family, threads), []).append(result["median_ms"])

    summary = {"machine": os.uname().nodename, "cpus": os.cpu_count(), "rounds": args.rounds, "groups": {}}
    for group in ("classifier", "upernet"):
        families = {}
        for (g, family, threads), values in medians.items():
            if g != group:
                continue
            entry = families.setdefault(family, {"by_threads_ms": {}})
            entry["by_threads_ms"][threads] = round(statistics.median(values), 2)
        if not families:
            continue
        for entry in families.values():
            best = min(entry["by_threads_ms"], key=entry["by_threads_ms"].get)
            entry.update(best_ms=entry["by_threads_ms"][best], best_threads=best)
        baseline_name = "timm on PyPI torch" if group == "classifier" else min(
            (f for f in families if f.startswith("reference on PyPI torch")), key=lambda f: families[f]["best_ms"])
        baseline = families[baseline_name]["best_ms"]
        ratios = {f: round(e["best_ms"] / baseline, 3) for f, e in families.items() if f.startswith("engine")}
        summary["groups"][group] = {"what": "EVA-X-S fp32 batch 1 at 224" if group == "classifier" else "EVA-X-S UperNet fp32 batch 1 at 512",
                                    "baseline": baseline_name, "contenders": families,
                                    "ratio_engine_over_baseline": ratios, "target_ratio": 0.8}
    print(json.dumps(summary, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
