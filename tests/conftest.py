"""Shared fixtures: the book built once on the smoke preset, and a real headless Chromium."""

from __future__ import annotations

import functools
import http.server
import os
import pickle
import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def pages() -> list[Path]:
    """Every notebook of the book: the chapters in order, then the summary and "Your data"."""
    from transferlab.pipeline.book import REAL_DATA, SUMMARY, chapter_notebooks

    return [*chapter_notebooks(ROOT), ROOT / "notebooks" / SUMMARY, ROOT / "notebooks" / REAL_DATA]


ARTIFACTS = Path(os.environ.get("TRANSFERLAB_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


MARK = "TRANSFERLAB_TEST_SESSION"


def _left_behind(session: str, root_pid: int) -> list[str]:
    """Processes this test session started (they carry its mark in their environment) that are no
    longer descendants of the test process: orphans, reparented when their parent died."""
    parents, marked = {}, []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if f"{MARK}={session}".encode() in (d / "environ").read_bytes():
                marked.append(int(d.name))
        except (OSError, IndexError, ValueError):
            continue
    out = []
    for pid in marked:
        p, seen = pid, set()
        while p not in (root_pid, 0, 1) and p in parents and p not in seen:
            seen.add(p)
            p = parents[p]
        if p != root_pid:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            out.append(f"{pid}: {cmd[:150]}")
    return out


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind():
    """Fails the session if a process a test started outlives its parent (an orphaned worker)."""
    if not Path("/proc/self/environ").exists():
        yield
        return
    session = uuid.uuid4().hex
    os.environ[MARK] = session
    yield
    deadline = time.monotonic() + 15
    while (left := _left_behind(session, os.getpid())) and time.monotonic() < deadline:
        time.sleep(0.5)
    for line in left:
        os.kill(int(line.split(":")[0]), signal.SIGKILL)
    assert not left, "processes left behind by the tests:\n" + "\n".join(left)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Folder for test artifacts (screenshots); kept after the run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory) -> Path:
    """Every chapter executed by papermill on the smoke preset and the HTML book built from them."""
    from transferlab.pipeline.book import build_book

    book_dir = tmp_path_factory.mktemp("book")
    build_book(ROOT, preset="smoke", book_dir=book_dir, progress=False, rerun=True)
    return book_dir


def _ensure_chromium() -> None:
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.fail(
            "the browser test needs Debian's chromium and chromium-driver: "
            "run `sudo apt-get install -y chromium chromium-driver`"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium driven by Selenium (Debian's chromium + chromedriver, no downloads)."""
    _ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,2000",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def serve():
    """Serve a folder over HTTP on 127.0.0.1 (as a static host would); returns its base URL."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for s in servers:
        s.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(params=("plain", "bf16"))
def numeric_path(request, monkeypatch):
    """A model-training test runs under both numeric paths: plain float32, and channels-last with
    bfloat16 autocast (forced, on any CPU: an AMX machine's fast path), so that a test relying on
    one path's trajectory fails here and not on a user's machine."""
    monkeypatch.setenv("TRANSFERLAB_NUMERICS", request.param)
    return request.param


# -- real data sets written in their published layouts (the adapters' tests and the chapters' on real data)


def write_image(path, colour, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def write_pickle(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)  # as the published batches: protocol 2, bytes keys


def write_celeba(root, n=24):
    rng = np.random.default_rng(0)
    names = ["5_o_Clock_Shadow", "Male", "Smiling", "Young"]
    lines = [str(n), " ".join(names)]
    parts = []
    for i in range(1, n + 1):
        f = f"{i:06d}.jpg"
        male, young = (i % 2) * 2 - 1, ((i // 2) % 2) * 2 - 1
        write_image(
            root / "img_align_celeba" / f, (100 + 50 * (male > 0), 80, 60 + 80 * (young > 0)), (178, 218)
        )
        lines.append(f"{f} {rng.choice([-1, 1])} {male} {rng.choice([-1, 1])}  {young}")
        parts.append(f"{f} {0 if i <= n * 2 // 3 else 2}")
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (root / "list_eval_partition.txt").write_text("\n".join(parts) + "\n")


def write_real_root(root):
    for split in ("train", "test"):
        for k, breed in enumerate(("beagle", "persian")):
            for i in range(4):
                write_image(root / "pets" / split / breed / f"{i}.jpg", (200 * k, 90, 200 * (1 - k)))
    write_celeba(root / "celeba")
    return root


def write_real_data(root):
    """A tiny data folder in the real layouts: an ImageNet subset with a dog superclass, CIFAR-10, pets."""
    write_real_root(root)
    rng = np.random.default_rng(0)
    wnids = {"n02085620": "dog", "n02085782": "dog", "n01440764": "fish", "n01443537": "fish"}
    for split, n in (("train", 12), ("val", 4)):
        for w in wnids:
            for i in range(n):
                write_image(
                    root / "imagenet" / split / w / f"{i}.JPEG",
                    tuple(int(v) for v in rng.integers(0, 255, 3)),
                )
    (root / "imagenet" / "superclasses.csv").write_text("".join(f"{w},{s}\n" for w, s in wnids.items()))
    base = root / "cifar10" / "cifar-10-batches-py"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        write_pickle(
            base / name, {b"labels": [0, 1, 2] * 4, b"data": rng.integers(0, 256, (12, 3072), dtype=np.uint8)}
        )
    write_pickle(base / "batches.meta", {b"label_names": [b"airplane", b"automobile", b"bird"]})
    return root
