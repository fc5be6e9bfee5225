"""Engine benchmark: every figure is a ratio of two paths measured side by side in this one run.

1. Source training, models/hour and accuracy, same configs: the plain eager float32 loop one
   model at a time vs the fast path (channels-last + bfloat16 autocast where the CPU has it),
   the fast path with grouped models, the fast path in 2 worker processes of one thread each
   (what `run_jobs` does on a multi-core CPU), and on a 2-worker Dask LocalCluster.
2. Fixed-feature transfer: head trained on cached features vs re-running the frozen backbone.
3. A second run of the same jobs from the store vs the cold run.
4. Training throughput in FLOP/s against the matmul peak measured here.

Usage: python bench/bench_engine.py [--models 4] [--epochs 4]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from transferlab.models import build_model
from transferlab.run import SourceJob, TransferJob, load_model, run_jobs
from transferlab.run.executors import DaskExecutor
from transferlab.store import Store
from transferlab.train import PLAIN, Speed, accuracy, predict, recipe, transfer
from transferlab.train.device import bf16_is_fast, cpu_flags
from transferlab.utils import timed
from transferlab.world import DataRef

ARCH = "cresnet-s"


def source_training(
    args, train: DataRef, test: DataRef, arch: str = ARCH, models: int | None = None, dask: bool = True
) -> list[dict]:
    r = recipe("synthetic-source", epochs=args.epochs, peak_epoch=1)
    jobs = [SourceJob(arch, train, r, seed=s, eval_data=test) for s in range(models or args.models)]
    cpu = torch.device("cpu")
    rows = []
    variants = [
        ("plain eager fp32, one at a time", 1, dict(speed=Speed(cpu, **PLAIN), group_size=1)),
        ("fast path, one at a time", 1, dict(speed=Speed(cpu), group_size=1)),
        ("fast path, grouped ×8", 1, dict(speed=Speed(cpu), group_size=8)),
        ("fast path, 2 worker processes × 1 thread", 2, dict(speed=Speed(cpu), group_size=1)),
        ("fast path, grouped, 2 worker processes", 2, dict(speed=Speed(cpu), group_size=8)),
    ]
    for label, workers, kw in variants:
        with tempfile.TemporaryDirectory() as root, _workers(workers):
            entries, secs = timed(lambda kw=kw, root=root: run_jobs(jobs, Store(root), progress=False, **kw))
        rows.append(_row(label, entries, secs))
    if not dask:
        return rows
    with tempfile.TemporaryDirectory() as root:
        ex = DaskExecutor(n_workers=2, threads_per_worker=1)
        try:
            entries, secs = timed(lambda: run_jobs(jobs, Store(root), executor=ex, progress=False))
        finally:
            ex.close()
        rows.append(_row("fast path, Dask 2 workers × 1 thread", entries, secs))
    return rows


@contextlib.contextmanager
def _workers(n: int):
    """Local training in ``n`` worker processes (1: in this process, with all its threads)."""
    old = os.environ.get("TRANSFERLAB_WORKERS")
    os.environ["TRANSFERLAB_WORKERS"] = str(n)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TRANSFERLAB_WORKERS")
        else:
            os.environ["TRANSFERLAB_WORKERS"] = old


def _row(label, entries, secs):
    accs = torch.tensor([e.info["test_accuracy"] for e in entries])
    return {
        "path": label,
        "models/hour": len(entries) * 3600 / secs,
        "seconds": secs,
        "accuracy": float(accs.mean()),
        "acc std": float(accs.std()) if len(accs) > 1 else 0.0,
    }


def _print_rows(rows: list[dict]) -> None:
    base = rows[0]["models/hour"]
    print(f"{'path':42s} {'models/h':>9s} {'× plain':>8s} {'accuracy':>15s}")
    for r in rows:
        print(
            f"{r['path']:42s} {r['models/hour']:9.0f} {r['models/hour'] / base:7.2f}× "
            f"{r['accuracy']:7.3f} ± {r['acc std']:.3f}"
        )


def fixed_feature(source_entry, target: DataRef, target_test: DataRef) -> list[dict]:
    source = load_model(source_entry)
    data, test = target.load(), target_test.load()
    r = recipe("synthetic-fixed", epochs=30)
    rows = []
    for label, cache in (("re-forward frozen backbone every epoch", False), ("cached features", True)):
        model, secs = timed(lambda cache=cache: transfer(source, data, r, mode="fixed", cache_features=cache))
        rows.append({"path": label, "seconds": secs, "accuracy": accuracy(predict(model, test), test.y)})
    return rows


def warm_vs_cold(train: DataRef, test: DataRef, target: DataRef, target_test: DataRef, epochs: int):
    src = SourceJob(ARCH, train, recipe("synthetic-source", epochs=epochs, peak_epoch=1), seed=99)
    jobs = [
        TransferJob(src, target, recipe("synthetic-fixed"), "fixed", seed=s, eval_data=target_test)
        for s in range(3)
    ]
    with tempfile.TemporaryDirectory() as root:
        _, cold = timed(lambda: run_jobs(jobs, Store(root), progress=False))
        _, warm = timed(lambda: run_jobs(jobs, Store(root), progress=False))
    return cold, warm


def matmul_peak(dtype: torch.dtype, n: int = 1024, reps: int = 20) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start)


def train_flops_per_image(size: int, classes: int) -> float:
    model = build_model(ARCH, classes)
    x = torch.randn(8, 3, size, size)
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(model(x), torch.zeros(8, dtype=torch.long)).backward()
    return counter.get_total_flops() / 8


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=4)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--size", type=int, default=24)
    args = p.parse_args()
    toy = "world.toy"
    train = DataRef.of(toy, num_classes=10, n_per_class=200, size=args.size, seed=0)
    test = DataRef.of(toy, num_classes=10, n_per_class=50, size=args.size, seed=1)
    target = DataRef.of(toy, num_classes=5, n_per_class=60, size=args.size, seed=2)
    target_test = DataRef.of(toy, num_classes=5, n_per_class=60, size=args.size, seed=3)
    print(
        f"CPU flags: avx512_bf16={'avx512_bf16' in cpu_flags()} amx_bf16={'amx_bf16' in cpu_flags()}; "
        f"bf16 fast path: {bf16_is_fast(torch.device('cpu'))}; threads: {torch.get_num_threads()}"
    )
    print(
        f"\n1. Source training: {args.models} × {ARCH}, toy task 10 classes × 200 images, "
        f"{args.size}px, {args.epochs} epochs"
    )
    rows = source_training(args, train, test)
    _print_rows(rows)
    tiny = DataRef.of(toy, num_classes=10, n_per_class=100, size=16, seed=0)
    tiny_test = DataRef.of(toy, num_classes=10, n_per_class=50, size=16, seed=1)
    print(
        f"\n1b. Many tiny models (the influence chapter's regime): 16 × cresnet-xs, 10 classes × "
        f"100 images, 16px, {args.epochs} epochs"
    )
    _print_rows(source_training(args, tiny, tiny_test, "cresnet-xs", 16, dask=False))
    with tempfile.TemporaryDirectory() as root:
        (src_entry,) = run_jobs(
            [SourceJob(ARCH, train, recipe("synthetic-source", epochs=args.epochs, peak_epoch=1), seed=0)],
            Store(root),
            progress=False,
        )
        print("\n2. Fixed-feature transfer (5 classes × 60 images, 30 epochs)")
        ff = fixed_feature(src_entry, target, target_test)
    for r in ff:
        print(
            f"{r['path']:42s} {r['seconds']:7.2f} s  {ff[0]['seconds'] / r['seconds']:7.1f}×  "
            f"accuracy {r['accuracy']:.3f}"
        )
    cold, warm = warm_vs_cold(train, test, target, target_test, args.epochs)
    print(f"\n3. Store: cold {cold:.2f} s, warm {warm * 1000:.1f} ms: {cold / warm:.0f}× faster")
    flops = train_flops_per_image(args.size, 10)
    images = 10 * 200 * args.epochs * args.models
    print("\n4. Throughput (training FLOPs counted by torch's FlopCounterMode)")
    for dtype in (torch.float32, torch.bfloat16):
        print(f"matmul peak {str(dtype):15s} {matmul_peak(dtype) / 1e9:8.1f} GFLOP/s")
    for r in rows:
        rate = flops * images / r["seconds"]
        print(f"{r['path']:42s} {rate / 1e9:8.1f} GFLOP/s")


if __name__ == "__main__":
    main()
