"""Roofline of the training engine: what this CPU can do at the book's shapes, and how close training gets.

1. Peaks: a 2048 × 2048 matmul in float32 and bfloat16, and a copy's memory bandwidth, with one
   thread (what a worker process has) and with all threads.
2. Convolutions of the book's shapes: every convolution of each model, forward and backward
   alone, in float32 (contiguous and channels-last) and bfloat16 channels-last, one thread. Their
   total FLOPs over their total time is the attainable convolution throughput of that model: a
   roof below the matmul peak, because these layers are small.
3. Training steps of the chapters' commonest jobs (source training of cresnet-xs at 16 px,
   cresnet-s and cvgg-s at 24 px, batch 128; full-network transfer of cresnet-s, batch 64) on each
   path, cumulatively: plain eager float32; + channels-last; + bfloat16 autocast; + freed memory
   kept for reuse; + torch.compile (the fast path). For each: images/s, × plain, GFLOP/s (FLOPs
   counted by torch's FlopCounterMode), the fraction of the matmul peak *of the precision it
   runs in*, the fraction of the convolution roof, and where the time goes (torch profiler:
   convolutions, batch norm, other tensor operations (under torch.compile: its fused kernels),
   optimizer, data, the rest = Python and dispatch). Each measurement runs in a fresh process
   (the allocator setting and compiled code are per process).
4. Fixed-feature heads on cached features: their share of a fixed-feature transfer.

Accuracies at equal epochs are in bench_engine.py (whole jobs, every path).

Usage: python bench/bench_roofline.py [--threads 1] [--steps 40] [--quick]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from transferlab.models import build_model
from transferlab.train import device as devices
from transferlab.train import fit, recipe, transfer
from transferlab.train.device import bf16_is_fast, cpu_flags, cpu_model
from transferlab.train.loop import DATA_SECTION
from transferlab.world import DataRef

# job: (architecture, image size, batch size, what it stands for)
JOBS = {
    "source cresnet-xs 16px": ("cresnet-xs", 16, 128, "influence chapter's many small sources"),
    "source cresnet-s 24px": ("cresnet-s", 24, 128, "the default source"),
    "source cvgg-s 24px": ("cvgg-s", 24, 128, "chapter 2's architecture sweep"),
    "full transfer cresnet-s 24px": ("cresnet-s", 24, 64, "full-network transfer"),
}
# path: Speed switches; cumulative, each adds one to the one before
PATHS = {
    "plain fp32": dict(channels_last=False, bf16=False, reuse_memory=False, compile=False),
    "+ channels-last": dict(channels_last=True, bf16=False, reuse_memory=False, compile=False),
    "+ bf16 autocast": dict(channels_last=True, bf16=True, reuse_memory=False, compile=False),
    "+ reuse freed memory": dict(channels_last=True, bf16=True, reuse_memory=True, compile=False),
    "+ torch.compile (fast path)": dict(channels_last=True, bf16=True, reuse_memory=True, compile=True),
}
CATEGORIES = ("convolution", "batch norm", "other ops", "optimizer", "data", "python & dispatch")


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start)


def bandwidth(mb: int = 400, reps: int = 5) -> float:
    a = torch.randn(mb * 2**20 // 4)
    b = torch.empty_like(a)
    b.copy_(a)
    start = time.perf_counter()
    for _ in range(reps):
        b.copy_(a)
    return 2 * a.numel() * 4 * reps / (time.perf_counter() - start)  # bytes read + written


def conv_shapes(arch: str, size: int, batch: int) -> list[tuple[torch.nn.Conv2d, tuple[int, ...]]]:
    """Every convolution of ``arch`` at ``size`` px with the shape of its input."""
    model, shapes = build_model(arch, 10), []
    hooks = [
        m.register_forward_hook(lambda m, i, o: shapes.append((m, tuple(i[0].shape))))
        for m in model.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    with torch.no_grad():
        model(torch.randn(batch, 3, size, size))
    for h in hooks:
        h.remove()
    return shapes


def conv_roof(arch: str, size: int, batch: int, dtype: str, channels_last: bool, reps: int = 10) -> float:
    """GFLOP/s of the model's convolutions, forward and backward, each timed alone."""
    flops, seconds = 0.0, 0.0
    for conv, shape in conv_shapes(arch, size, batch):
        conv = conv.train()
        x = torch.randn(shape)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        conv = conv.to(memory_format=fmt)
        x = x.to(dtype=torch.bfloat16 if dtype == "bf16" else torch.float32).contiguous(memory_format=fmt)
        x.requires_grad_(shape[1] != 3)  # the stem's input needs no gradient
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            out = conv(x)
        grad = torch.randn_like(out)

        def step(conv=conv, x=x, grad=grad):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
                conv(x).backward(grad)

        for _ in range(2):
            step()
        start = time.perf_counter()
        for _ in range(reps):
            step()
        seconds += (time.perf_counter() - start) / reps
        with FlopCounterMode(display=False) as counter:
            step()
        flops += counter.get_total_flops()
    return flops / seconds / 1e9


def train_flops_per_image(arch: str, size: int) -> float:
    model = build_model(arch, 10)
    x = torch.randn(8, 3, size, size)
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(model(x), torch.zeros(8, dtype=torch.long)).backward()
    return counter.get_total_flops() / 8


def _category(event) -> str:
    """What an operation's own time counts as: by the section it runs in (optimizer, data), else by
    its own name or its nearest named caller's (a backward function names its forward)."""
    names, parent = [], event
    while parent is not None:
        names.append(parent.name.lower())
        parent = parent.cpu_parent
    if any(n.startswith("optimizer.") for n in names):
        return "optimizer"
    if DATA_SECTION in names:
        return "data"
    for name in names:
        if "conv" in name:
            return "convolution"
        if "batch_norm" in name or "batchnorm" in name:
            return "batch norm"
    return "other ops"


def measure_one(job: str, path: str, threads: int, steps: int) -> dict:
    """One job on one path in this process: images/s and the time breakdown of one epoch."""
    torch.set_num_threads(threads)
    arch, size, batch, _ = JOBS[job]
    devices.COMPILE_MIN_STEPS = 0  # the bench compiles its short runs too (compile timed apart)
    speed = devices.Speed(torch.device("cpu"), **PATHS[path])
    data = DataRef.of("world.toy", num_classes=10, n_per_class=batch * steps // 10, size=size, seed=0).load()
    r = recipe("synthetic-source", epochs=1, peak_epoch=1, batch_size=batch)
    model = build_model(arch, 10)
    start = time.perf_counter()
    fit(model, data, r, speed=speed)  # warm-up (and compile)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    fit(model, data, r.replace(epochs=2), speed=speed)
    seconds = (time.perf_counter() - start) / 2
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        fit(model, data, r, speed=speed)
        wall = time.perf_counter() - start
    shares = dict.fromkeys(CATEGORIES, 0.0)
    for event in prof.events():
        cat = _category(event)
        if (
            cat in ("optimizer", "data")
            and event.cpu_parent is not None
            and _category(event.cpu_parent) == cat
        ):
            continue  # an optimizer or data section counts once, at its top
        if cat is not None:
            shares[cat] += (
                event.cpu_time_total if cat in ("optimizer", "data") else event.self_cpu_time_total
            ) / 1e6
    shares["python & dispatch"] = max(0.0, wall - sum(shares.values()))
    return {
        "images/s": len(data) / seconds,
        "first epoch s": warm,
        "epoch s": seconds,
        "shares": {k: v / wall for k, v in shares.items()},
    }


def _in_fresh_process(job: str, path: str, threads: int, steps: int) -> dict:
    """``measure_one`` in a new worker process (spawned: nothing inherited; and only worker
    processes compile, see ``Speed.compiles``)."""
    os.environ["TRANSFERLAB_NUMERICS"] = "fast"
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(measure_one, job, path, threads, steps).result()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="threads per training process (a worker has 1)")
    p.add_argument("--steps", type=int, default=40, help="training steps per timed epoch")
    p.add_argument("--quick", action="store_true", help="only the default source job")
    args = p.parse_args()
    flags = cpu_flags()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"CPU: {cpu_model()}; {cores} cores; avx512_bf16={'avx512_bf16' in flags} "
        f"amx_bf16={'amx_bf16' in flags}; bfloat16 native: {bf16_is_fast(torch.device('cpu'))}"
    )
    print("\n1. Peaks")
    peaks = {}
    for threads in sorted({1, args.threads, cores}):
        torch.set_num_threads(threads)
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            peaks[(name, threads)] = matmul_peak(dtype) / 1e9
        bw = bandwidth() / 1e9
        print(
            f"{threads} thread(s): matmul fp32 {peaks[('fp32', threads)]:7.1f} GFLOP/s, "
            f"bf16 {peaks[('bf16', threads)]:7.1f} GFLOP/s; copy {bw:5.1f} GB/s"
        )
    torch.set_num_threads(args.threads)
    jobs = ["source cresnet-s 24px"] if args.quick else list(JOBS)
    print(
        f"\n2. Convolution roof at the book's shapes ({args.threads} thread(s), forward + backward, GFLOP/s)"
    )
    roofs = {}
    print(f"{'model':30s} {'fp32':>8s} {'fp32 CL':>8s} {'bf16 CL':>8s}")
    for job in jobs:
        arch, size, batch, _ = JOBS[job]
        roofs[job] = {
            "fp32": conv_roof(arch, size, batch, "fp32", False),
            "fp32 CL": conv_roof(arch, size, batch, "fp32", True),
            "bf16 CL": conv_roof(arch, size, batch, "bf16", True),
        }
        print(f"{job:30s} " + " ".join(f"{v:8.1f}" for v in roofs[job].values()))
    print(
        f"\n3. Training steps, {args.threads} thread(s), {args.steps} steps per epoch (each row a fresh process)"
    )
    header = (
        f"{'job / path':40s} {'img/s':>7s} {'×plain':>6s} {'GFLOP/s':>8s} {'%peak':>6s} {'%roof':>6s}  "
        + " ".join(f"{c[:6]:>6s}" for c in CATEGORIES)
    )
    for job in jobs:
        arch, size, batch, what = JOBS[job]
        flops = train_flops_per_image(arch, size)
        print(f"\n{job} ({what}; {flops / 1e6:.1f} MFLOP per training image)")
        print(header)
        base = None
        for path, switches in PATHS.items():
            r = _in_fresh_process(job, path, args.threads, args.steps)
            base = base or r["images/s"]
            precision = "bf16" if switches["bf16"] else "fp32"
            roof = roofs[job][
                "bf16 CL" if switches["bf16"] else "fp32 CL" if switches["channels_last"] else "fp32"
            ]
            rate = flops * r["images/s"] / 1e9
            print(
                f"  {path:38s} {r['images/s']:7.0f} {r['images/s'] / base:5.2f}× {rate:8.1f} "
                f"{100 * rate / peaks[(precision, args.threads)]:5.1f}% {100 * rate / roof:5.1f}%  "
                + " ".join(f"{100 * r['shares'][c]:5.1f}%" for c in CATEGORIES)
                + (f"  (first epoch {r['first epoch s']:.1f} s)" if switches["compile"] else "")
            )
    print("\n4. Fixed-feature transfer: time of the head training on cached features (30 epochs)")
    heads_share()


def heads_share() -> None:
    data = DataRef.of("world.toy", num_classes=10, n_per_class=200, size=24, seed=2).load()
    source = build_model("cresnet-s", 10)
    r = recipe("synthetic-fixed")
    timings = {}
    import transferlab.train.loop as loop

    original = loop.train_heads

    def timed_heads(*a, **k):
        start = time.perf_counter()
        out = original(*a, **k)
        timings["heads"] = time.perf_counter() - start
        return out

    loop.train_heads = timed_heads
    try:
        start = time.perf_counter()
        transfer(source, data, r, mode="fixed")
        total = time.perf_counter() - start
    finally:
        loop.train_heads = original
    print(
        f"2,000 images, cresnet-s: whole transfer {total:.2f} s, heads {timings['heads']:.2f} s "
        f"({100 * timings['heads'] / total:.0f} %)"
    )


if __name__ == "__main__":
    main()
