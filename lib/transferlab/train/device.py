"""Device and numeric precision: chosen from what the machine has, never assumed."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import multiprocessing
import os
import platform
import shutil
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import torch


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The given device, else ``$TRANSFERLAB_DEVICE``, else CUDA when present, else the CPU."""
    chosen = device or os.environ.get("TRANSFERLAB_DEVICE")
    if chosen:
        return torch.device(chosen)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.cache
def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo; the platform's processor name where that does not
    exist)."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (from /proc/cpuinfo; empty where that does not exist)."""
    info = Path("/proc/cpuinfo")
    if not info.is_file():
        return frozenset()
    for line in info.read_text().splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bfloat16 matmuls/convolutions run natively here (AVX-512-BF16 / AMX, or a CUDA GPU)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


NUMERICS = ("fast", "plain", "bf16")


def numerics() -> str:
    """The numeric path every model trains on, from ``$TRANSFERLAB_NUMERICS``: ``fast`` (the
    default: channels-last memory and bfloat16 autocast where the machine runs them natively,
    worker processes, compact models trained in groups), ``plain`` (float32, contiguous memory,
    one model at a time in this process: the reference path the stability check compares with) or
    ``bf16`` (the fast path with bfloat16 autocast on any device, native or not: what the tests use
    to train under an AMX machine's numerics everywhere)."""
    value = os.environ.get("TRANSFERLAB_NUMERICS", "") or "fast"
    if value not in NUMERICS:
        raise ValueError(f"TRANSFERLAB_NUMERICS must be one of {NUMERICS}, got {value!r}")
    return value


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on ``device`` when ``enabled`` (weights and optimiser stay in float32)."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@functools.cache
def keep_freed_memory() -> bool:
    """Let this process keep the memory it frees for its next tensors (glibc's malloc; elsewhere
    nothing changes): returns whether it was set.

    By default glibc hands every freed block above 128 KiB back to the system and maps fresh pages
    for the next one, so each new activation of a small model costs a page fault per 4 KiB: a third
    of a million faults per 30 training steps of cresnet-s, 0-10 % of its training time on the
    project's CPU (bench/bench_roofline.py). Blocks up to 64 MiB now come from the heap, and up to
    512 MiB of free heap is kept. Process-wide and for good (worker processes forked later inherit
    it); it changes no result, only where memory comes from.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    settings = ((m_mmap_threshold, 64 << 20), (m_trim_threshold, 512 << 20), (m_top_pad, 64 << 20))
    return all(mallopt(option, value) == 1 for option, value in settings)


COMPILE_MIN_STEPS = 1000
"""Training runs of at least this many steps are compiled (bench/bench_roofline.py: on the project's
CPU, compiling costs 12-17 s per model shape on a machine's first run and about 2 s once its graphs
are in the on-disk cache, and saves 3-9 % of a cresnet-xs step and 15-20 % of a cresnet-s one)."""


def can_compile(device: torch.device) -> bool:
    """Whether ``torch.compile`` is tried here: on the CPU where a C++ compiler is found (inductor
    builds its kernels with it), unless ``$TRANSFERLAB_COMPILE`` is ``0``. Not on CUDA: untested on
    this project's machines, so GPU runs train eagerly."""
    if os.environ.get("TRANSFERLAB_COMPILE", "1") == "0":
        return False
    return device.type == "cpu" and any(shutil.which(c) for c in ("c++", "g++", "clang++"))


def compiled(module: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``module``'s forward compiled by inductor, its kernels kept in the user's cache folder (so a
    machine compiles each model shape once, not each process). If compiling fails (no working
    compiler, an unsupported operation), a warning says so and the module runs eagerly."""
    import torch._inductor.config as inductor

    os.environ.setdefault(
        "TORCHINDUCTOR_CACHE_DIR",
        str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "transferlab" / "inductor"),
    )
    inductor.compile_threads = 1  # compile in this (worker) process, not in a pool of its own
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    fast = torch.compile(module, dynamic=False)
    state = {"first": True}

    def forward(x: torch.Tensor) -> torch.Tensor:
        if state["first"]:
            state["first"] = False
            try:
                return fast(x)
            except Exception as err:  # noqa: BLE001 - any compile failure: fall back to eager
                warnings.warn(
                    f"torch.compile failed ({type(err).__name__}: {err}); training eagerly", stacklevel=3
                )
                state["eager"] = True
        return module(x) if state.get("eager") else fast(x)

    return forward


class Speed:
    """The fast-path switches for one device: channels-last memory, bfloat16 autocast, keeping
    freed memory for reuse and compiling long training runs (each on where the device has it,
    unless given or ``numerics()`` is ``plain``)."""

    def __init__(
        self,
        device: torch.device,
        *,
        channels_last: bool | None = None,
        bf16: bool | None = None,
        reuse_memory: bool | None = None,
        compile: bool | None = None,
    ):
        self.device = device
        path = numerics()
        if channels_last is None:
            channels_last = path != "plain" and device.type in ("cpu", "cuda")
        if bf16 is None:
            bf16 = path == "bf16" or (path == "fast" and bf16_is_fast(device))
        if reuse_memory is None:
            reuse_memory = path != "plain"
        if compile is None:
            compile = path == "fast" and can_compile(device)
        self.channels_last, self.bf16, self.reuse_memory = channels_last, bf16, reuse_memory
        self.compile = compile

    def model(self, model: torch.nn.Module) -> torch.nn.Module:
        """Move ``model`` to the device in the chosen memory format."""
        if self.reuse_memory:
            keep_freed_memory()
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Move an image batch to the device in the chosen memory format."""
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.ndim == 4 else x

    def autocast(self):
        return autocast(self.device, self.bf16)

    def compiles_in_workers(self, steps: int) -> bool:
        """Whether a training run of ``steps`` steps is compiled when a worker process trains it:
        the switch is on and the run is long enough to repay it (:data:`COMPILE_MIN_STEPS`)."""
        return self.compile and steps >= COMPILE_MIN_STEPS

    def compiles(self, steps: int) -> bool:
        """Whether a training run of ``steps`` steps is compiled here: as
        :meth:`compiles_in_workers`, if this is a worker process (started by multiprocessing: a
        pool's or Dask's). A compiled backward starts autograd's threads, and a process that forks
        workers after that breaks autograd in them, so the process that starts the workers (a
        notebook's kernel, a script) trains eagerly."""
        return self.compiles_in_workers(steps) and multiprocessing.parent_process() is not None

    def training_forward(self, model: torch.nn.Module, steps: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """What a training loop of ``steps`` steps calls: ``model`` compiled if :meth:`compiles`,
        else ``model`` itself."""
        return compiled(model) if self.compiles(steps) else model

    def __repr__(self) -> str:
        return (
            f"Speed(device={self.device}, channels_last={self.channels_last}, bf16={self.bf16}, "
            f"reuse_memory={self.reuse_memory}, compile={self.compile})"
        )


PLAIN = dict(channels_last=False, bf16=False, reuse_memory=False, compile=False)
"""Switches of the plain eager float32 path (the benchmarks' reference)."""
