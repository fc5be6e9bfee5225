"""The parts of a chapter page the book generates from the chapter's own declarations.

Around each executed chapter the runner adds: at the top, the exact command that reruns the page
and every parameter with its meaning and its value in this run (from the ``Config`` fields and
``PRESETS``), then the chapter's protocol (its ``PROTOCOL``: setup, measures, each claim's
criterion); at the end, "Run it on your data" (the real-data folders the chapter reads, from its
``DATA_PARTS``) and what the ``paper`` preset changes (from ``PRESETS`` and its ``PAPER_NOTE``);
and, when the run read models imported from an archive, a warning naming the archive.
Nothing here is written by hand per chapter, so it cannot drift from the code.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from ..chapters.claims import INTERVAL_NOTE, Criterion
from ..chapters.params import ChapterConfig, type_name
from ..chapters.registry import registry_markdown
from ..utils import markdown_table, table_cell

GENERATED_TAG = "transferlab-generated"


def value_text(value: Any) -> str:
    """A parameter value as ``-p`` takes it on the command line (lists comma-separated)."""
    if isinstance(value, (list, tuple)):
        return ",".join(value_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


def rerun_command(notebook: str, preset: str, overrides: Mapping[str, Any]) -> str:
    """The shell command that reruns a chapter with this preset and these overrides."""
    parts = ["transferlab", "run", notebook, "--preset", preset]
    for name, value in overrides.items():
        parts += ["-p", name, value_text(value)]
    return " ".join(shlex.quote(p) for p in parts)  # an empty value becomes ''


def _same(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _code(value: Any) -> str:
    text = value_text(value)
    return f"`{text}`" if text else "(empty)"


def parameter_table(
    config_cls: type[ChapterConfig], presets: Mapping[str, Mapping[str, Any]], values: Mapping[str, Any]
) -> str:
    """Every parameter: its value in this run, its default, the smoke and paper presets, meaning."""
    rows = []
    for name, (tp, default, info) in config_cls.param_infos().items():
        smoke, paper = (presets.get(p, {}).get(name, default) for p in ("smoke", "paper"))
        here = values.get(name, default)
        mark = "**" if _same(here) != _same(default) else ""
        rows.append(
            [
                f"`{name}`",
                f"{mark}{_code(here)}{mark}",
                _code(default),
                _code(smoke),
                _code(paper),
                info.allowed(type_name(tp)),
                info.help,
            ]
        )
    columns = ["parameter", "this run", "default", "`smoke`", "`paper`", "type and allowed values", "meaning"]
    return markdown_table(columns, rows)


def notebook_ref(notebook: str | Path) -> str:
    """How the README's commands name a chapter notebook (``notebooks/<name>`` in a checkout)."""
    path = Path(notebook)
    return f"notebooks/{path.name}" if path.parent.name == "notebooks" else str(path)


def rerun_markdown(
    notebook: str | Path,
    module: ModuleType,
    preset: str,
    overrides: Mapping[str, Any],
    values: Mapping[str, Any],
) -> str:
    """The "Rerun this page" box shown under a chapter's title."""
    ref = notebook_ref(notebook)
    changed = ", ".join(f"`{n}`" for n in overrides) or "none"
    return "\n".join(
        [
            ":::{admonition} Rerun this page, or change its parameters",
            ":class: tip dropdown",
            f"This page was executed by papermill with preset `{preset}` (parameters overridden: "
            f"{changed}). In a checkout, after `make book` or `pip install -e .`, this reruns it:",
            "",
            "```bash",
            rerun_command(ref, preset, overrides),
            "```",
            "",
            "Change any parameter with `-p NAME VALUE` (lists as `1,2,3`; `--preset smoke` runs in "
            f"about a minute on a laptop CPU); `transferlab params {ref}` prints this table. "
            "Parameters that differ from the default are in bold.",
            "",
            parameter_table(module.Config, module.PRESETS, values),
            ":::",
        ]
    )


def protocol_markdown(module: ModuleType) -> str:
    """The "Protocol" section under the rerun box: the chapter's setup, its claims' criteria and,
    for a registered chapter, its registry and amendments."""
    registry = getattr(module, "REGISTRY", None)
    frozen = (
        "They are frozen in the chapter's registry above, with its amendments log. "
        if registry is not None
        else "They are not yet frozen in a registry before the run that decides them, and where one "
        "was set or changed after results had been seen the chapter's discussion says so. "
    )
    return "\n".join(
        [
            "## Protocol",
            "",
            module.PROTOCOL.strip(),
            "",
            criteria_markdown(module.CRITERIA),
            "",
            *([registry_markdown(registry, module.AMENDMENTS), ""] if registry is not None else []),
            "The parameters of this run, the `default` preset's and the `paper` preset's are in the "
            "box above. The criteria are part of the chapter's code (`CRITERIA`). " + frozen + INTERVAL_NOTE,
        ]
    )


def criteria_markdown(criteria: Mapping[str, Criterion]) -> str:
    """The chapter's criteria as a table: what is measured, the side and margin, the smallest effect
    of interest (where declared), and why that margin."""
    rows = [
        [
            c.name,
            c.text(),
            f"{c.effect:g} beyond the margin" if c.effect is not None else "not declared",
            c.why or ("an ordering: the sign is the claim" if c.margin == 0 else "–"),
        ]
        for c in criteria.values()
    ]
    columns = [
        "Name",
        "Criterion (met by the whole 95 % interval: holds)",
        "Smallest effect of interest",
        "Why this margin",
    ]
    return "**Criteria.**\n\n" + markdown_table(columns, rows)


def data_markdown(notebook: str | Path, module: ModuleType, values: Mapping[str, Any]) -> str:
    """The "Run it on your data" and "The paper preset" sections at the end of a chapter."""
    ref = notebook_ref(notebook)
    parts = module.DATA_PARTS
    out = ["## Run it on your data", ""]
    if parts:
        out += [
            "This chapter reads these parts of a real-data folder (`transferlab.world.RealWorld`; "
            "only these folders need to exist, each in its data set's published layout, "
            "see the README):",
            "",
            markdown_table(
                ["part", "folder", "its role in this chapter"],
                [[f"`{p}`", f"`DATA/{part.folder}/`", part.role] for p, part in parts.items()],
            ),
        ]
        out += [
            "",
            "```bash",
            rerun_command(ref, "paper", {"data_dir": "/path/to/DATA"}),
            "```",
            "",
            "The adapters (`transferlab.world.adapters`) read each folder, say which file they "
            "expected when one is missing, and cache what they read in the store; every "
            "parameter of the table above still applies (`-p image_size 64`, `-p seeds 0,1`, ...).",
        ]
    else:
        out += [getattr(module, "NO_DATA_NOTE", "This chapter runs on no data set.")]
    out += ["", "## The `paper` preset", "", module.PAPER_NOTE.strip(), ""]
    default = {n: d for n, (_, d, _) in module.Config.param_infos().items()}
    paper = module.PRESETS.get("paper", {})
    if paper:
        out.append(
            markdown_table(
                ["parameter", "this run", "`paper`"],
                [[f"`{n}`", _code(values.get(n, default[n])), _code(v)] for n, v in paper.items()],
            )
        )
    return "\n".join(out)


def imported_markdown(imported: Sequence[Mapping[str, Any]]) -> str:
    """A warning that this run read entries imported from archives (not made on the machine that ran
    it), naming each archive by its sha256: weights in an archive are only as good as its sender."""
    archives: dict[tuple[str, str], list[str]] = {}
    for item in imported:
        archives.setdefault((str(item.get("archive")), str(item.get("sha256"))), []).append(
            str(item.get("job"))
        )
    lines = [
        f"```{{warning}}\nThis run used {len(imported)} store entries imported from archives, not made by "
        "this run's machine. An archive's key names what an entry claims to be, not who trained it: "
        "trust these results as far as you trust the archive's sender.\n"
    ]
    for (name, digest), jobs in sorted(archives.items()):
        counts = ", ".join(f"{jobs.count(j)} {j}" for j in sorted(set(jobs)))
        lines.append(f"- `{table_cell(name)}` (sha256 `{digest[:16]}…`): {counts}")
    return "\n".join(lines) + "\n```"
