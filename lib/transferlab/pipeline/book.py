"""The book pipeline: execute every chapter notebook with papermill, then build the HTML book."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path

import transferlab

from .. import utils
from ..chapters import ledger
from ..chapters.claims import read_record
from ..chapters.what_transfers import PROVENANCE
from ..store import Store, declare_kind, default_store, sha256_file
from ..train import numerics
from .runner import run_notebook

SUMMARY = "what_transfers.ipynb"  # in notebooks/: executed after the chapters, from their records
REAL_DATA = (
    "real_data.ipynb"  # in notebooks/: a chapter run on a real data set (the digits), after the chapters
)


def repo_root(start: str | Path | None = None) -> Path:
    """The checkout that holds ``_config.yml``, ``book/_toc.yml`` and ``notebooks/``."""
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "_config.yml").is_file() and (d / "book" / "_toc.yml").is_file():
            return d
    raise FileNotFoundError(
        f"no transferlab checkout (with _config.yml and book/_toc.yml) at or "
        f"above {here}; run from the repository or pass --root"
    )


def chapter_notebooks(root: Path) -> list[Path]:
    """The chapter notebooks, in chapter order (their file names start with the number)."""
    notebooks = sorted((root / "notebooks").glob("[0-9]*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no chapter notebooks in {root / 'notebooks'}")
    return notebooks


def chapter_number(notebook: Path) -> int:
    """A chapter notebook's number (``06_influences.ipynb`` → 6)."""
    return int(notebook.stem.split("_")[0])


def execute_chapters(
    root: Path,
    book_dir: Path,
    preset: str = "default",
    progress: bool = True,
    store: Store | None = None,
    rerun: bool = False,
    only: Collection[int] | None = None,
) -> list[Path]:
    """Run every chapter notebook (or the chapters numbered in ``only``) on ``preset`` into
    ``book_dir/chapters``, then the summary page.

    An executed notebook is kept in the store under the hash of the notebook, the preset, the
    library's source and the package versions: when none of them changed it is copied back instead
    of executed again
    (``rerun`` executes every chapter anyway). Models and results come from the store either way.
    """
    store = store or default_store()
    notebooks = chapter_notebooks(root)
    if only is not None:
        unknown = set(only) - {chapter_number(nb) for nb in notebooks}
        if unknown:
            raise FileNotFoundError(f"no chapter numbered {sorted(unknown)} in {root / 'notebooks'}")
        notebooks = [nb for nb in notebooks if chapter_number(nb) in set(only)]
    out = []
    bar = utils.progress(notebooks, "chapters", progress, unit="nb")
    for nb in bar:
        bar.set_postfix_str(nb.stem)
        out.append(_execute(nb, book_dir / "chapters" / nb.name, preset, store, rerun, progress))
    records = [read_record(p) for p in out]  # the summary's input: a changed chapter re-executes it
    prov = write_provenance(root, book_dir / "chapters")
    if only is None and (root / "notebooks" / REAL_DATA).is_file():  # a page, not a chapter: optional
        _execute(
            root / "notebooks" / REAL_DATA, book_dir / "chapters" / REAL_DATA, preset, store, rerun, progress
        )
    _execute(
        root / "notebooks" / SUMMARY,
        book_dir / "chapters" / SUMMARY,
        preset,
        store,
        rerun,
        progress,
        inputs={"records": records, "provenance": {k: v for k, v in prov.items() if k != "date"}},
    )
    return out


def write_provenance(root: Path, folder: Path) -> dict:
    """Write ``provenance.json`` beside the executed chapters: this build's provenance and the
    results ledger, which the summary page shows and compares with; return the build's provenance."""
    build = ledger.provenance(root)
    info = {"build": build, "ledger": ledger.load(root / ledger.LEDGER)}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PROVENANCE).write_text(json.dumps(info, indent=1))
    return {**build, "ledger": info["ledger"]}


NOTEBOOK_KIND = declare_kind("executed notebook", files=("notebook.blob",))


def _execute(
    notebook: Path,
    output: Path,
    preset: str,
    store: Store,
    rerun: bool,
    progress: bool,
    inputs: object = None,
) -> Path:
    spec = {
        "kind": NOTEBOOK_KIND.name,
        "notebook": notebook.name,
        "sha256": sha256_file(notebook),
        "preset": preset,
        "library": library_fingerprint(),
        "environment": environment(),
        "numerics": numerics(),
        "inputs": inputs,
    }
    entry = None if rerun else store.get(spec)
    if entry is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(entry.blob("notebook"))
        return output
    run_notebook(notebook, output, preset=preset, progress=progress)
    store.put(spec, blobs={"notebook": output.read_bytes()})
    return output


@functools.lru_cache(maxsize=1)
def environment() -> dict[str, str]:
    """Python and the versions of the packages that compute and draw: a new one re-executes."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in ("torch", "numpy", "scipy", "scikit-learn", "pandas", "matplotlib"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


@functools.lru_cache(maxsize=1)
def library_fingerprint() -> str:
    """A hash of the library's source files: any change to the code re-executes every chapter."""
    package = Path(transferlab.__file__).resolve().parent  # the whole package, every wing
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def build_html(root: Path, book_dir: Path, out_dir: Path | None = None) -> Path:
    """Build the HTML book from ``book_dir`` with ``root/_config.yml``; warnings are errors."""
    out_dir = Path(out_dir or book_dir)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [
        str(exe if exe.exists() else shutil.which("jupyter-book") or "jupyter-book"),
        "build",
        str(book_dir),
        "--config",
        str(root / "_config.yml"),
        "--toc",
        str(book_dir / "_toc.yml"),
        "--path-output",
        str(out_dir),
        "--warningiserror",
        "--nitpick",
        "--keep-going",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"jupyter-book build failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
        )
    index = out_dir / "_build" / "html" / "index.html"
    if not index.is_file():
        raise RuntimeError(f"jupyter-book finished but wrote no {index}")
    return index


def build_book(
    root: Path,
    *,
    preset: str = "default",
    book_dir: Path | None = None,
    progress: bool = True,
    rerun: bool = False,
) -> Path:
    """Execute every chapter and the summary, build the HTML book; return its index page."""
    book_dir = Path(book_dir or root / "book")
    if book_dir.resolve() != (root / "book").resolve():
        shutil.copytree(
            root / "book", book_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("_build", "chapters")
        )
    execute_chapters(root, book_dir, preset, progress, rerun=rerun)
    return build_html(root, book_dir)
