"""Command line: ``transferlab run | book | params | store | stability | ledger | digits``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings
from pathlib import Path

from ..chapters import ledger
from ..chapters.params import PRESET_NAMES, ParameterError
from ..chapters.real_data import CHAPTERS
from ..run import accuracy_check
from ..store import Store, default_store, export_archive, import_archive, kind_name
from ..world import parts_present, write_digits_folder
from . import stability
from .book import build_book, repo_root
from .runner import NotebookFailed, chapter_of, parse_overrides, run_notebook


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="transferlab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="execute one chapter notebook with papermill")
    r.add_argument("notebook", type=Path)
    r.add_argument("--preset", default="default", choices=PRESET_NAMES)
    r.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override a parameter (lists as 1,2,3 or JSON); repeatable",
    )
    r.add_argument("-o", "--output", type=Path, help="executed notebook (default: runs/<notebook name>)")
    r.add_argument("--no-progress", action="store_true")

    b = sub.add_parser("book", help="execute every chapter and build the HTML book")
    b.add_argument("--preset", default="default", choices=PRESET_NAMES)
    b.add_argument("--root", type=Path, help="repository checkout (default: found from here)")
    b.add_argument(
        "--book-dir", type=Path, help="where executed chapters and _build go (default: <root>/book)"
    )
    b.add_argument(
        "--rerun",
        action="store_true",
        help="execute every chapter again, even where nothing changed since the last build",
    )
    b.add_argument("--no-progress", action="store_true")

    _add_stability(sub)
    _add_ledger(sub)

    d = sub.add_parser(
        "digits",
        help="write scikit-learn's handwritten digits as a real-data folder (source, objects, pets) "
        "to try -p data_dir without downloading anything",
    )
    d.add_argument("folder", type=Path)

    s = sub.add_parser("params", help="list a chapter's parameters and presets")
    s.add_argument("notebook", type=Path)

    st = sub.add_parser("store", help="list, verify, export or import trained models and results")
    st.add_argument("action", choices=("ls", "verify", "check", "export", "import", "clean"))
    st.add_argument("archive", nargs="?", type=Path, help="the .tar.gz to write (export) or read (import)")
    st.add_argument(
        "--store",
        type=Path,
        help="store folder (default: $TRANSFERLAB_STORE, else the "
        ".transferlab/store of the checkout you are in, else "
        "~/.cache/transferlab/store)",
    )
    st.add_argument("--keys", nargs="*", help="export (or check) only these keys")
    st.add_argument(
        "--tolerance",
        type=_fraction,
        default=0.02,
        help="check: the largest difference between a model's recorded and measured test accuracy",
    )
    return p


def _add_stability(sub) -> None:
    v = sub.add_parser(
        "stability",
        help="execute every chapter under the fast and the plain numeric path and compare the claims",
    )
    v.add_argument("--preset", default="default", choices=PRESET_NAMES)
    v.add_argument("--root", type=Path, help="repository checkout (default: found from here)")
    v.add_argument(
        "--out", type=Path, default=Path("stability"), help="executed chapters and stability.csv go here"
    )
    v.add_argument(
        "--plain-store",
        type=Path,
        help="store of the plain path's models (default: store-plain next to the default store; the "
        "fast path uses the default store, so a built book's models are reused)",
    )
    v.add_argument(
        "--chapters",
        type=_numbers,
        help="only these chapters, by number (e.g. 0,1,3); default: every chapter",
    )
    v.add_argument("--no-progress", action="store_true")


def _add_ledger(sub) -> None:
    g = sub.add_parser(
        "ledger",
        help="compare a built book's claims with the results ledger (diff), write them into it (update), "
        "or print its run times as a markdown table (timings)",
    )
    g.add_argument("action", choices=("diff", "update", "timings"))
    g.add_argument("--root", type=Path, help="repository checkout (default: found from here)")
    g.add_argument(
        "--book-dir", type=Path, help="the built book whose executed chapters to read (default: <root>/book)"
    )


def _ledger_command(args: argparse.Namespace) -> None:
    root = repo_root(args.root)
    folder, path = _chapters(args, root), root / ledger.LEDGER
    if args.action == "timings":
        print(ledger.timings(ledger.load(path)))
    elif args.action == "update":
        snap = ledger.snapshot(folder)
        ledger.update(path, snap, ledger.provenance(root))
        print(f"wrote {len(snap)} chapters of {folder} into {path}: commit it with the change it records")
    else:
        print(ledger.diff_text(ledger.load(path), folder))


def _chapters(args: argparse.Namespace, root: Path) -> Path:
    """The executed chapters of the built book ``--book-dir`` names (default: the checkout's)."""
    return (args.book_dir or root / "book") / "chapters"


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a fraction from 0 to 1, got {text!r}")
    return value


def _numbers(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"chapter numbers separated by commas (e.g. 0,1,3), got {text!r}"
        ) from None


def _store_command(args: argparse.Namespace) -> None:
    if args.store and args.action != "import" and not (args.store / "objects").is_dir():
        raise FileNotFoundError(f"no store at {args.store} (a store folder holds objects/); check the path")
    store = Store(args.store) if args.store else default_store()
    if args.action in ("export", "import") and args.archive is None:
        raise FileNotFoundError(f"'transferlab store {args.action}' needs the archive's path")
    _declare_every_kind()
    if args.action == "ls":
        for key in store.keys():
            entry = store.get(key)
            print(key, "CORRUPT (moved aside)" if entry is None else _entry_text(entry), flush=True)
    elif args.action == "verify":
        keys = store.keys()
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            bad = [k for k in keys if store.get(k) is None]
        for w in said:
            print(f"  {w.message}")
        print(
            f"{len(keys) - len(bad)} of {len(keys)} entries verified; {len(bad)} damaged ones moved "
            f"to {store.root / 'corrupt'} (each is made again when a run needs it)"
        )
    elif args.action == "check":
        _check_imported(store, args.keys, args.tolerance)
    elif args.action == "export":
        out = export_archive(store, args.archive, args.keys)
        print(f"exported {len(args.keys) if args.keys else len(store.keys())} entries to {out}")
    elif args.action == "clean":
        removed = store.clean()
        print(f"removed {len(removed)} temporary folders left by processes that died")
    else:
        done = import_archive(store, args.archive, known_kinds_only=True)
        print(
            f"imported {len(done['imported'])} entries, {len(done['skipped'])} already present; "
            "`transferlab store ls` names the archive each came from"
        )


def _check_imported(store: Store, keys: list[str] | None, tolerance: float) -> None:
    """Measure each imported model (or each of ``keys``) on its test data; set aside those whose
    accuracy is not what they record (a run makes them again)."""
    entries = [e for e in (store.get(k) for k in (keys or store.keys())) if e is not None]
    chosen = [e for e in entries if keys or e.origin is not None]
    bad = 0
    for entry in chosen:
        try:
            problem = accuracy_check(entry, tolerance)
        except (ValueError, KeyError) as e:
            print(f"{entry.key} not checked: {e}")
            continue
        if problem:
            bad += 1
            store.discard(entry.key, f"imported model does not match its record: {problem}")
        print(f"{entry.key} {problem or 'matches its recorded test accuracy'}")
    print(f"checked {len(chosen)} models; {bad} set aside in {store.root / 'corrupt'}")


def _entry_text(entry) -> str:
    """An entry's kind, and the archive it came from when it was imported."""
    text = str(kind_name(entry.spec) or "")
    if entry.origin:
        text += (
            f" (imported from {entry.origin.get('archive')}, sha256 {str(entry.origin.get('sha256'))[:12]}…)"
        )
    return text


def _declare_every_kind() -> None:
    """Import every chapter, so the store knows what each kind of entry they make must hold."""
    for name in CHAPTERS.values():
        importlib.import_module(f"transferlab.chapters.{name}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``transferlab`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            config_cls, _ = chapter_of(args.notebook)
            overrides = parse_overrides(config_cls, [tuple(p) for p in args.param])
            out = args.output or Path("runs") / args.notebook.name
            run_notebook(
                args.notebook, out, preset=args.preset, overrides=overrides, progress=not args.no_progress
            )
            print(f"executed notebook: {out}")
        elif args.command == "book":
            root = repo_root(args.root)
            index = build_book(
                root,
                preset=args.preset,
                book_dir=args.book_dir,
                progress=not args.no_progress,
                rerun=args.rerun,
            )
            print(f"book built: {index}")
            print(ledger.diff_text(ledger.load(root / ledger.LEDGER), _chapters(args, root)))
        elif args.command == "store":
            _store_command(args)
        elif args.command == "ledger":
            _ledger_command(args)
        elif args.command == "stability":
            fast = default_store()
            plain = Store(args.plain_store or fast.root.parent / "store-plain")
            _, text = stability.check(
                repo_root(args.root),
                args.out,
                args.preset,
                {"fast": fast, "plain": plain},
                progress=not args.no_progress,
                only=args.chapters,
            )
            print(text)
            print(f"claim by claim: {args.out / 'stability.csv'}")
        elif args.command == "digits":
            folder = write_digits_folder(args.folder)
            print(
                f"wrote the digits to {folder} (parts: {', '.join(parts_present(folder))}); try\n"
                f"  transferlab run notebooks/00_world.ipynb -p data_dir {folder}"
            )
        elif args.command == "params":
            config_cls, presets = chapter_of(args.notebook)
            print(config_cls.describe().to_string(index=False))
            for name, values in presets.items():
                print(f"preset {name}: {values or '(the defaults)'}")
    except BrokenPipeError:  # the reader stopped reading (store ls | head): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's flush at exit must not fail
        return 141  # as a command killed by SIGPIPE
    except ParameterError as e:
        print(f"transferlab: error: {e}", file=sys.stderr)
        return 2
    except (NotebookFailed, FileNotFoundError, RuntimeError, OSError, ledger.LedgerError) as e:
        print(f"transferlab: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # the kernel client's cancelled tasks
        print(
            "transferlab: interrupted; every model that finished is in the store: run the same command "
            "again to resume",
            file=sys.stderr,
        )
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
