"""The book pipeline: execute every chapter notebook with papermill, then build the HTML book."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from . import utils
from .runner import run_notebook


def repo_root(start: str | Path | None = None) -> Path:
    """The checkout that holds ``_config.yml``, ``book/_toc.yml`` and ``notebooks/``."""
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "_config.yml").is_file() and (d / "book" / "_toc.yml").is_file():
            return d
    raise FileNotFoundError(f"no transferlab checkout (with _config.yml and book/_toc.yml) at or "
                            f"above {here}; run from the repository or pass --root")


def chapter_notebooks(root: Path) -> list[Path]:
    """The chapter notebooks, in chapter order (their file names start with the number)."""
    notebooks = sorted((root / "notebooks").glob("[0-9]*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no chapter notebooks in {root / 'notebooks'}")
    return notebooks


def execute_chapters(root: Path, book_dir: Path, preset: str = "default",
                     progress: bool = True) -> list[Path]:
    """Run every chapter notebook on ``preset`` into ``book_dir/chapters``."""
    notebooks = chapter_notebooks(root)
    out = []
    bar = utils.progress(notebooks, "chapters", progress, unit="nb")
    for nb in bar:
        bar.set_postfix_str(nb.stem)
        out.append(run_notebook(nb, book_dir / "chapters" / nb.name, preset=preset,
                                progress=progress))
    return out


def build_html(root: Path, book_dir: Path, out_dir: Path | None = None) -> Path:
    """Build the HTML book from ``book_dir`` with ``root/_config.yml``; warnings are errors."""
    out_dir = Path(out_dir or book_dir)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe if exe.exists() else shutil.which("jupyter-book") or "jupyter-book"), "build",
           str(book_dir), "--config", str(root / "_config.yml"), "--toc", str(book_dir / "_toc.yml"),
           "--path-output", str(out_dir), "--warningiserror", "--nitpick", "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n"
                           f"{proc.stderr[-6000:]}")
    index = out_dir / "_build" / "html" / "index.html"
    if not index.is_file():
        raise RuntimeError(f"jupyter-book finished but wrote no {index}")
    return index


def build_book(root: Path, *, preset: str = "default", book_dir: Path | None = None,
               progress: bool = True) -> Path:
    """Execute every chapter and build the HTML book; return the path of its index page."""
    book_dir = Path(book_dir or root / "book")
    if book_dir.resolve() != (root / "book").resolve():
        shutil.copytree(root / "book", book_dir, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("_build", "chapters"))
    execute_chapters(root, book_dir, preset, progress)
    return build_html(root, book_dir)
