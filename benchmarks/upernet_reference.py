#!/usr/bin/env python3
"""Python reference of the EVA-X lung segmentation model, and its eager-PyTorch speed baseline.

The model: UperNet on EVA-X-S as trained with mmsegmentation 0.29.1 (the version EVA-X pins).
  backbone     timm's `Eva` in the EVA-X-S configuration (embed 384, depth 12, 6 heads, mlp_ratio 8/3,
               packed SwiGLU, RoPE with ref_feat_shape (14,14)), no final norm, plus the EVA-X pyramid
               (hustvl/EVA-X segmentation/models/backbone/eva_x.py, use_last_feat_only=True):
               fpn1 ConvT-BN-GELU-ConvT, fpn2 ConvT, fpn3 identity, fpn4 MaxPool 2.
  decode_head  mmseg 0.29.1 UPerHead (PPM 1,2,3,6; ConvModule = conv without bias + BN + ReLU;
               channels 256; conv_seg 256->1), then EncoderDecoder.inference: bilinear
               (align_corners False) to the input size, sigmoid.
State-dict keys follow shared/fixtures/evax-seg/README.md: `backbone.*` with timm names,
`decode_head.*` with mmseg names. Weights are the fixtures' deterministic values (FNV-1a/splitmix64
of the full key, BN running_var = 1 + 0.1u), or an mmseg checkpoint (`state_dict`, EVA-02 names
mlp.w12/w3 mapped to mlp.fc1/fc2; rope buffers, num_batches_tracked and auxiliary_head ignored).
Written against timm 1.0.29 (needs a timm with `Eva`), PyTorch 1.13 (CPU) and 2.x (CUDA).

timm is not a Debian package: run it with the pinned venv's Python (build-cuda/libtorch-venv, made
by scripts/install-libtorch-cuda.sh, has torch and timm from PyPI), or pass a timm source checkout
with --timm-path to another Python.
  --verify: float64 CPU run on the fixture input, max abs error of every fixture tensor; exits 1
            if one exceeds the README's float32 tolerance. --size mini uses mini_upernet_mmseg.pth.
      build-cuda/libtorch-venv/bin/python benchmarks/upernet_reference.py --verify [--size mini]
  timing (default): one JSON line (median_ms, p10_ms, p90_ms, mean_ms, images_per_second, ...) for
            normalised (B,3,S,S) input -> probability map (B,1,S,S), under torch.inference_mode.
      build-cuda/libtorch-venv/bin/python benchmarks/upernet_reference.py --device cpu --batch 1
      python3 benchmarks/upernet_reference.py --device cuda --dtype bf16 --batch 8 --channels-last
"""
import argparse
import collections
import contextlib
import io
import json
import math
import pickle
import statistics
import struct
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

CONFIGS = {  # img, embed, depth, heads, decode channels
    "main": dict(img=512, embed=384, depth=12, heads=6, channels=256),
    "mini": dict(img=64, embed=64, depth=2, heads=1, channels=32),
}
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "evax-seg"
MEAN, STD = 0.49185243 * 255, 0.28509309 * 255  # grey normalisation of the lung config


# ---------------------------------------------------------------- deterministic weights, files
def det_value(name, shape):
    """shared/fixtures/evax/README.md formula, with the evax-seg BatchNorm running_var rule."""
    n = int(np.prod(shape))
    seed = 0xCBF29CE484222325
    for byte in name.encode():
        seed = ((seed ^ byte) * 0x100000001B3) % 2**64
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float64) / 2.0**23 - 1.0
    if name.endswith("running_var"):
        v = 1.0 + 0.1 * u
    elif len(shape) >= 2 and name.endswith("weight"):
        v = u * math.sqrt(3.0 / (n / shape[0]))
    elif len(shape) == 1 and name.endswith("weight"):
        v = 1.0 + 0.1 * u
    else:
        v = 0.02 * u
    return v.astype(np.float32).reshape(shape)


def read_safetensors(path):
    data = Path(path).read_bytes()
    header_len = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + header_len])
    dtypes = {"F32": np.float32, "F64": np.float64, "U8": np.uint8, "I64": np.int64}
    out = {}
    for name, info in header.items():
        if name != "__metadata__":
            begin, end = info["data_offsets"]
            raw = data[8 + header_len + begin:8 + header_len + end]
            out[name] = np.frombuffer(raw, dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return out


class _Inert:
    """Stands in for the numpy objects of an mmseg checkpoint's `meta` (PALETTE); never run."""
    __init__ = __setstate__ = lambda self, *args, **kwargs: None


class _CheckpointUnpickler(pickle.Unpickler):
    """Reads a torch.save zip pickle itself: tensors, OrderedDict and inert numpy, nothing else.
    (torch 1.13's torch.load ignores pickle_module unless weights_only, which refuses numpy meta.)"""
    STORAGES = {"FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
                "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
                "ByteStorage": torch.uint8, "BoolStorage": torch.bool}

    def __init__(self, data, archive, prefix):
        super().__init__(data)
        self.archive, self.prefix = archive, prefix

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, size, stride, *rest: storage.as_strided(size, stride, offset)
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return lambda data, *rest: data
        if module == "torch" and name in self.STORAGES:
            return self.STORAGES[name]
        if module.split(".")[0] in ("numpy", "_codecs"):
            return _Inert
        raise pickle.UnpicklingError(f"refusing checkpoint global {module}.{name}")

    def persistent_load(self, pid):  # ('storage', dtype, key, location, numel)
        raw = self.archive.read(f"{self.prefix}data/{pid[2]}")
        return torch.frombuffer(bytearray(raw), dtype=pid[1]) if raw else torch.empty(0, dtype=pid[1])


def load_mmseg_state_dict(path):
    """`state_dict` of an mmcv checkpoint (torch.save zip), renamed to this script's timm-style keys."""
    with zipfile.ZipFile(path) as archive:
        pkl = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
        ckpt = _CheckpointUnpickler(io.BytesIO(archive.read(pkl)), archive, pkl[:-len("data.pkl")]).load()
    state = ckpt.get("state_dict", ckpt)
    out = {}
    for key, value in state.items():
        if "rope.freqs_" in key or key.endswith("num_batches_tracked") or key.startswith("auxiliary_head."):
            continue
        out[key.replace(".mlp.w12.", ".mlp.fc1.").replace(".mlp.w3.", ".mlp.fc2.")] = value.float()
    return out


# ---------------------------------------------------------------- model
def build_model(eva_cls, cfg, img_size):
    D, C = cfg["embed"], cfg["channels"]

    def resize(x, size):  # mmseg.ops.resize as the head calls it
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    class EvaX(eva_cls):
        """timm Eva (keys as timm) + the EVA-X pyramid; returns fpn1..fpn4."""
        def __init__(self):
            super().__init__(img_size=img_size, patch_size=16, num_classes=0, embed_dim=D, depth=cfg["depth"],
                             num_heads=cfg["heads"], mlp_ratio=8 / 3, swiglu_mlp=True, use_rot_pos_emb=True,
                             ref_feat_shape=(14, 14))
            self.norm, self.fc_norm = nn.Identity(), nn.Identity()  # EVA-X has no final norm
            self.fpn1 = nn.Sequential(nn.ConvTranspose2d(D, D, 2, 2), nn.BatchNorm2d(D), nn.GELU(),
                                      nn.ConvTranspose2d(D, D, 2, 2))
            self.fpn2 = nn.Sequential(nn.ConvTranspose2d(D, D, 2, 2))
            self.fpn3, self.fpn4 = nn.Identity(), nn.MaxPool2d(2, 2)

        def forward(self, x, trace=None):
            B, _, H, W = x.shape
            x = self.forward_features(x)  # all tokens after the last block
            if trace is not None:
                trace["tokens"] = x
            grid = x[:, 1:].transpose(1, 2).reshape(B, -1, H // 16, W // 16)
            return [self.fpn1(grid), self.fpn2(grid), self.fpn3(grid), self.fpn4(grid)]

    class ConvModule(nn.Module):
        def __init__(self, cin, cout, k):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
            self.bn = nn.BatchNorm2d(cout)

        def forward(self, x):
            return F.relu(self.bn(self.conv(x)))

    class UPerHead(nn.Module):
        """mmseg 0.29.1 UPerHead (PPM + FPN) and cls_seg, in_channels [D]*4."""
        def __init__(self, scales=(1, 2, 3, 6)):
            super().__init__()
            self.psp_modules = nn.ModuleList(nn.Sequential(nn.AdaptiveAvgPool2d(s), ConvModule(D, C, 1)) for s in scales)
            self.bottleneck = ConvModule(D + len(scales) * C, C, 3)
            self.lateral_convs = nn.ModuleList(ConvModule(D, C, 1) for _ in range(3))
            self.fpn_convs = nn.ModuleList(ConvModule(C, C, 3) for _ in range(3))
            self.fpn_bottleneck = ConvModule(4 * C, C, 3)
            self.conv_seg = nn.Conv2d(C, 1, 1)  # Dropout2d(0.1) before it is the identity in eval

        def forward(self, inputs, trace=None):
            top = inputs[3]
            psp = [top] + [resize(m(top), top.shape[2:]) for m in self.psp_modules]
            laterals = [conv(inputs[i]) for i, conv in enumerate(self.lateral_convs)]
            laterals.append(self.bottleneck(torch.cat(psp, 1)))
            for i in range(3, 0, -1):
                laterals[i - 1] = laterals[i - 1] + resize(laterals[i], laterals[i - 1].shape[2:])
            outs = [self.fpn_convs[i](laterals[i]) for i in range(3)] + [laterals[3]]
            outs = [outs[0]] + [resize(o, outs[0].shape[2:]) for o in outs[1:]]
            fused = self.fpn_bottleneck(torch.cat(outs, 1))
            if trace is not None:
                trace.update(head_psp_out=laterals[3], head_fused=fused)
            return self.conv_seg(fused)

    class EvaXUperNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone, self.decode_head = EvaX(), UPerHead()

        def forward(self, x, trace=None):
            """normalised (B,3,S,S) -> probability (B,1,S,S), as EncoderDecoder.inference."""
            feats = self.backbone(x, trace)
            logits = self.decode_head(feats, trace)
            if trace is not None:
                trace.update(fpn1=feats[0], fpn2=feats[1], fpn3=feats[2], fpn4=feats[3], logits=logits)
            # encode_decode resizes to the input; whole_inference to ori_shape (the same size here)
            return torch.sigmoid(resize(logits, x.shape[2:]))

    return EvaXUperNet()


def load_weights(model, checkpoint=None):
    """Deterministic values for every key, or an mmseg checkpoint; num_batches_tracked is left alone."""
    wanted = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    if checkpoint:
        try:
            given = load_mmseg_state_dict(checkpoint)
        except (OSError, zipfile.BadZipFile, pickle.UnpicklingError, StopIteration, KeyError, EOFError) as error:
            raise SystemExit(f"{checkpoint}: not a readable mmseg checkpoint: {error!r}")
        missing, extra = sorted(set(wanted) - set(given)), sorted(set(given) - set(wanted))
        bad = [f"{k} {tuple(given[k].shape)} vs model {tuple(wanted[k].shape)}" for k in sorted(set(wanted) & set(given))
               if given[k].shape != wanted[k].shape]  # e.g. pos_embed when --input-size differs
        if missing or extra or bad:
            raise SystemExit(f"checkpoint mismatch: missing {missing[:5]}, unexpected {extra[:5]}, shape {bad[:5]}")
    else:
        given = {k: torch.from_numpy(det_value(k, tuple(v.shape))) for k, v in wanted.items()}
    model.load_state_dict(given, strict=False)
    return model


# ---------------------------------------------------------------- verify / time
def verify(eva_cls, args):
    fixtures = Path(args.fixtures)
    cfg = CONFIGS[args.size]
    if args.size == "main":
        ref = read_safetensors(fixtures / "oracle.safetensors")
        checkpoint = args.checkpoint
        names = {"vit_cls_out": "vit_cls_out", "fpn1": "fpn1", "fpn2": "fpn2", "fpn3": "fpn3", "fpn4": "fpn4",
                 "head_psp_out": "head_psp_out", "head_fused_c0_8": "head_fused_c0_8", "logits": "logits128", "prob": "prob512"}
        tol = dict(input=1e-6, logits=5e-5, prob=1e-5)
    else:
        ref = read_safetensors(fixtures / "mini_expected.safetensors")
        checkpoint = args.checkpoint or fixtures / "mini_upernet_mmseg.pth"
        names = {"tokens": "tokens", "fpn1": "fpn1", "fpn2": "fpn2", "fpn3": "fpn3", "fpn4": "fpn4",
                 "head_psp_out": "head_psp_out", "logits": "logits16", "prob": "prob64"}
        tol = dict(input=1e-6, logits=1e-5, prob=5e-6)
    default_tol = 1e-4 if args.size == "main" else 5e-5  # tokens / pyramid / head intermediates
    model = load_weights(build_model(eva_cls, cfg, cfg["img"]), checkpoint).eval().double()
    x = torch.from_numpy(ref["input"].astype(np.float64))
    trace = {}
    with torch.no_grad():
        prob = model(x, trace)
    tokens = trace["tokens"]
    ours = {"tokens": tokens, "vit_cls_out": tokens[:, 0], "fpn1": trace["fpn1"], "fpn2": trace["fpn2"],
            "fpn3": trace["fpn3"], "fpn4": trace["fpn4"], "head_psp_out": trace["head_psp_out"],
            "head_fused_c0_8": trace["head_fused"][:, :8], "logits": trace["logits"], "prob": prob}
    normalised = np.float32((ref["image_u8"].astype(np.float64) - MEAN) / STD)
    errors = {"input": float(np.abs(normalised - ref["input"][0]).max())}
    rounded = {}  # the fixtures are float64 results stored as float32: round ours the same way
    for ours_name, ref_name in names.items():
        errors[ours_name] = float((ours[ours_name] - torch.from_numpy(ref[ref_name].astype(np.float64))).abs().max())
        rounded[ours_name] = float(np.abs(ours[ours_name].float().numpy() - ref[ref_name]).max())
    report = {"verify": args.size, "weights": str(checkpoint or "deterministic"), "max_abs_error": errors,
              "max_abs_error_after_float32_rounding": rounded}
    if args.size == "main":
        mask = (prob[:, 0] > 0.3).numpy().astype(np.uint8)
        report["mask_thr0.3_pixels_differing"] = int((mask != ref["mask512_thr0.3_u8"]).sum())
    failed = [k for k, e in errors.items() if not e <= tol.get(k, default_tol)]
    failed += ["mask"] if report.get("mask_thr0.3_pixels_differing", 0) else []
    report.update(tolerances={k: tol.get(k, default_tol) for k in errors}, passed=not failed, failed=failed)
    print(json.dumps(report))
    return 0 if not failed else 1


def time_forward(eva_cls, args):
    if args.input_size % 16:
        raise SystemExit("--input-size must be a multiple of 16")
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    device = torch.device(args.device)
    amp = args.amp if args.amp != "auto" else ("autocast" if device.type == "cuda" else "cast")
    model = build_model(eva_cls, CONFIGS[args.size], args.input_size)
    model = load_weights(model, args.checkpoint).eval().to(device)
    x = torch.randn(args.batch, 3, args.input_size, args.input_size, generator=torch.Generator().manual_seed(0)).to(device)
    if args.dtype != "fp32" and amp == "cast":
        model, x = model.to(dtype), x.to(dtype)
    if args.channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    forward = model if args.compile == "none" else torch.compile(model, mode=None if args.compile == "default" else args.compile)
    use_autocast = args.dtype != "fp32" and amp == "autocast"

    def run_once():
        with torch.inference_mode(), (torch.autocast(device.type, dtype=dtype) if use_autocast else contextlib.nullcontext()):
            return forward(x)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        out = run_once()
    sync()
    times = []
    for _ in range(args.iterations):
        start = time.perf_counter()
        out = run_once()
        sync()
        times.append((time.perf_counter() - start) * 1000.0)
    ordered, median = sorted(times), statistics.median(times)
    import timm
    result = {
        "engine": f"timm {timm.__version__} + mmseg-0.29.1 UPerHead on PyTorch {torch.__version__}"
                  + ("" if args.compile == "none" else f" torch.compile({args.compile})"),
        "model": "EVA-X-S UperNet" if args.size == "main" else "mini UperNet", "mode": "segment",
        "device": str(device), "precision": args.dtype, "amp": amp if args.dtype != "fp32" else "none",
        "channels_last": args.channels_last, "batch": args.batch, "input_size": args.input_size,
        "output_shape": list(out.shape), "weights": args.checkpoint or "deterministic",
        "cpu_threads": torch.get_num_threads(), "warmup": args.warmup, "iterations": args.iterations,
        "median_ms": round(median, 4), "p10_ms": round(ordered[int(0.1 * (len(ordered) - 1))], 4),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 4), "mean_ms": round(statistics.fmean(times), 4),
        "images_per_second": round(args.batch * 1000.0 / median, 2),
    }
    if device.type == "cuda":
        result.update(gpu=torch.cuda.get_device_name(device), peak_memory_mib=round(torch.cuda.max_memory_allocated(device) / 2**20, 1))
    print(json.dumps(result))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timm-path", help="timm source checkout (the folder holding timm/)")
    parser.add_argument("--size", default="main", choices=sorted(CONFIGS))
    parser.add_argument("--checkpoint", help="mmseg checkpoint (.pth); default: deterministic weights")
    parser.add_argument("--verify", action="store_true", help="float64 check against the fixtures, then exit")
    parser.add_argument("--fixtures", default=str(FIXTURES), help="shared/fixtures/evax-seg folder")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--input-size", type=int, default=None, help="multiple of 16 (default: 512, mini 64)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--amp", default="auto", choices=["auto", "autocast", "cast"],
                        help="bf16/fp16 via torch.autocast or model.to(dtype); auto = autocast on CUDA, cast on CPU")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", default="none", choices=["none", "default", "reduce-overhead", "max-autotune"])
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 keeps the default")
    args = parser.parse_args()
    args.input_size = args.input_size or CONFIGS[args.size]["img"]

    if args.timm_path:
        sys.path.insert(0, args.timm_path)
    from timm.models.eva import Eva

    if args.threads:
        torch.set_num_threads(args.threads)
    return verify(Eva, args) if args.verify else time_forward(Eva, args)


if __name__ == "__main__":
    sys.exit(main())
