"""Engine benchmark: every figure is a ratio of two paths measured side by side in this one run.

1. Source training, models/hour and accuracy, same configs: the plain eager float32 loop one
   model at a time vs the fast path (channels-last, bfloat16 autocast where the CPU has it,
   freed memory kept for reuse) in this process (eager: only workers compile), in 2 worker
   processes of one thread each (what `run_jobs` does on a multi-core CPU; the runs are as long as
   the default source's, over 1,000 steps, so the workers compile them), and on a 2-worker Dask
   LocalCluster. The plain path runs first: the fast path's allocator setting lasts for the
   process. 1b: many short runs of a tiny model, grouped or not.
2. Fixed-feature transfer: head trained on cached features vs re-running the frozen backbone.
3. A second run of the same jobs from the store vs the cold run.
4. Training throughput in FLOP/s against the matmul peak measured here.

Usage: python bench/bench_engine.py [--models 2] [--epochs 13] [--per-class 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_roofline import matmul_peak, train_flops_per_image  # noqa: E402 (this folder)

from transferlab.run import SourceJob, TransferJob, load_model, run_jobs
from transferlab.run.executors import DaskExecutor
from transferlab.store import Store
from transferlab.train import PLAIN, Speed, accuracy, predict, recipe, transfer
from transferlab.train.device import bf16_is_fast, cpu_flags
from transferlab.utils import timed
from transferlab.world import DataRef

ARCH = "cresnet-s"


def source_training(
    args,
    train: DataRef,
    test: DataRef,
    arch: str = ARCH,
    models: int | None = None,
    dask: bool = True,
    epochs: int | None = None,
    grouping: bool = False,
) -> list[dict]:
    r = recipe("synthetic-source", epochs=epochs or args.epochs, peak_epoch=1)
    jobs = [SourceJob(arch, train, r, seed=s, eval_data=test) for s in range(models or args.models)]
    cpu = torch.device("cpu")
    rows = []
    variants = [
        ("plain eager fp32, one at a time", 1, dict(speed=Speed(cpu, **PLAIN), group_size=1)),
        ("fast path, this process (eager)", 1, dict(speed=Speed(cpu), group_size=1)),
        ("fast path, 2 worker processes × 1 thread", 2, dict(speed=Speed(cpu), group_size=1)),
    ]
    if grouping:  # long runs are never grouped (they train alone, compiled): only short ones show it
        variants[2:2] = [("fast path, grouped ×8, this process", 1, dict(speed=Speed(cpu), group_size=8))]
        variants += [("fast path, grouped, 2 worker processes", 2, dict(speed=Speed(cpu), group_size=8))]
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=2)
    p.add_argument("--epochs", type=int, default=13)
    p.add_argument("--per-class", type=int, default=1000, help="training images per class (10 classes)")
    p.add_argument("--size", type=int, default=24)
    args = p.parse_args()
    toy = "world.toy"
    train = DataRef.of(toy, num_classes=10, n_per_class=args.per_class, size=args.size, seed=0)
    test = DataRef.of(toy, num_classes=10, n_per_class=50, size=args.size, seed=1)
    target = DataRef.of(toy, num_classes=5, n_per_class=60, size=args.size, seed=2)
    target_test = DataRef.of(toy, num_classes=5, n_per_class=60, size=args.size, seed=3)
    print(
        f"CPU flags: avx512_bf16={'avx512_bf16' in cpu_flags()} amx_bf16={'amx_bf16' in cpu_flags()}; "
        f"bf16 fast path: {bf16_is_fast(torch.device('cpu'))}; threads: {torch.get_num_threads()}"
    )
    print(
        f"\n1. Source training: {args.models} × {ARCH}, toy task 10 classes × {args.per_class} images, "
        f"{args.size}px, {args.epochs} epochs"
    )
    rows = source_training(args, train, test)
    _print_rows(rows)
    tiny = DataRef.of(toy, num_classes=10, n_per_class=100, size=16, seed=0)
    tiny_test = DataRef.of(toy, num_classes=10, n_per_class=50, size=16, seed=1)
    print(
        "\n1b. Many tiny models (the influence chapter's regime): 16 × cresnet-xs, 10 classes × "
        "100 images, 16px, 4 epochs (too short to be compiled)"
    )
    _print_rows(source_training(args, tiny, tiny_test, "cresnet-xs", 16, dask=False, epochs=4, grouping=True))
    with tempfile.TemporaryDirectory() as root:
        (src_entry,) = run_jobs(
            [SourceJob(ARCH, train, recipe("synthetic-source", epochs=4, peak_epoch=1), seed=0)],
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
    cold, warm = warm_vs_cold(train, test, target, target_test, 2)
    print(f"\n3. Store: cold {cold:.2f} s, warm {warm * 1000:.1f} ms: {cold / warm:.0f}× faster")
    flops = train_flops_per_image(ARCH, args.size)
    images = 10 * args.per_class * args.epochs * args.models
    print("\n4. Throughput (training FLOPs counted by torch's FlopCounterMode; roofline: bench_roofline.py)")
    peaks = {dtype: matmul_peak(dtype) / 1e9 for dtype in (torch.float32, torch.bfloat16)}
    for dtype, peak in peaks.items():
        print(f"matmul peak {str(dtype):15s} {peak:8.1f} GFLOP/s ({torch.get_num_threads()} threads)")
    for r in rows:
        rate = flops * images / r["seconds"] / 1e9
        peak = peaks[torch.float32 if r["path"].startswith("plain") else torch.bfloat16]
        print(f"{r['path']:42s} {rate:8.1f} GFLOP/s  {100 * rate / peak:5.1f} % of its precision's peak")


if __name__ == "__main__":
    main()
