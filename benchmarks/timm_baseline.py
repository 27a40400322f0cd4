#!/usr/bin/env python3
"""The Python baseline: timm's Eva built as EVA-X, timed like evax-engine-bench.

timm is not a Debian package: run this with the pinned venv's Python
(build-cuda/libtorch-venv/bin/python, made by scripts/install-libtorch-cuda.sh: torch and timm at the
versions in scripts/libtorch-cuda-requirements.txt), or point --timm-path at a timm source checkout
for another Python (benchmarks/cpu_vs_python.py also runs the pinned timm on Debian's torch).
On the GPU machine timm is installed and --timm-path can be left out.

Prints one JSON line: median_ms, p10_ms, p90_ms, mean_ms, images_per_second, ...
"""
import argparse
import json
import statistics
import sys
import time


def build(timm_eva, size, num_classes, input_size):
    dims = {"tiny": (192, 3), "small": (384, 6), "base": (768, 12)}[size]
    extra = {"qkv_fused": False, "scale_mlp": True} if size == "base" else {}
    return timm_eva.Eva(img_size=input_size, patch_size=16, num_classes=num_classes, embed_dim=dims[0], depth=12,
                        num_heads=dims[1], mlp_ratio=8 / 3, swiglu_mlp=True, use_rot_pos_emb=True,
                        ref_feat_shape=(14, 14), **extra)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timm-path", help="timm source checkout (the folder holding timm/)")
    parser.add_argument("--size", default="small", choices=["tiny", "small", "base"])
    parser.add_argument("--mode", default="forward", choices=["forward", "gradcam"])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--compile", default="none", choices=["none", "default", "reduce-overhead", "max-autotune"])
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 keeps the default")
    args = parser.parse_args()

    if args.timm_path:
        sys.path.insert(0, args.timm_path)
    import torch
    import timm
    from timm.models import eva as timm_eva

    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    device = torch.device(args.device)
    model = build(timm_eva, args.size, 14, args.input_size).eval().to(device=device, dtype=dtype)
    x = torch.randn(args.batch, 3, args.input_size, args.input_size, device=device, dtype=dtype)

    if args.mode == "forward":
        forward = model if args.compile == "none" else torch.compile(model, mode=None if args.compile == "default" else args.compile)

        def run_once():
            with torch.inference_mode():
                forward(x)
    else:
        # The paper's recipe as a Python user writes it: hook the last block's norm1, one forward,
        # then one backward per class.
        captured = {}

        def keep(_module, _inputs, output):
            output.retain_grad()
            captured["a"] = output

        model.blocks[-1].norm1.register_forward_hook(keep)

        def run_once():
            logits = model(x)
            for c in range(logits.shape[1]):
                captured["a"].grad = None
                logits[:, c].sum().backward(retain_graph=True)
                a = captured["a"][:, 1:]
                weights = captured["a"].grad[:, 1:].mean(1)
                cam = torch.relu((a * weights[:, None, :]).sum(-1))
                cam = cam - cam.amin(1, keepdim=True)
                cam = cam / (1e-7 + cam.amax(1, keepdim=True))

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        run_once()
    sync()
    times = []
    for _ in range(args.iterations):
        start = time.perf_counter()
        run_once()
        sync()
        times.append((time.perf_counter() - start) * 1000.0)
    ordered = sorted(times)
    median = statistics.median(times)
    print(json.dumps({
        "engine": f"timm {timm.__version__} on PyTorch {torch.__version__}" + ("" if args.compile == "none" else f" torch.compile({args.compile})"),
        "model": {"tiny": "EVA-X-Ti", "small": "EVA-X-S", "base": "EVA-X-B"}[args.size],
        "mode": args.mode, "device": str(device), "precision": args.dtype, "batch": args.batch,
        "input_size": args.input_size, "cpu_threads": torch.get_num_threads(), "warmup": args.warmup,
        "iterations": args.iterations, "median_ms": round(median, 4),
        "p10_ms": round(ordered[int(0.1 * (len(ordered) - 1))], 4), "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 4),
        "mean_ms": round(statistics.fmean(times), 4), "images_per_second": round(args.batch * 1000.0 / median, 2),
    }))


if __name__ == "__main__":
    main()
