"""The library's own shape, for the people who change it: its import graph, its layers, the sizes of
its modules and functions, and the drawing of the wings in ``CONTRIBUTING.md``.

``tests/test_architecture.py`` checks the graph against the layers (no cycle, no import against the
order, none past an engine package's ``__init__``) and the sizes against the limits below; ``python
-m transferlab.pipeline.house CONTRIBUTING.md`` redraws the wings between the file's
``<!-- house:start -->`` and ``<!-- house:end -->`` lines (a test fails while the drawing is stale).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

# Each module belongs to the first layer whose prefix names it; a module may import its own layer
# and the layers before it, never one after.
LAYERS = [
    ("leaves", ("transferlab", "transferlab.utils")),
    ("store", ("transferlab.store",)),
    ("world", ("transferlab.world",)),
    ("models", ("transferlab.models",)),
    ("train", ("transferlab.train",)),
    ("run", ("transferlab.run",)),
    ("methods", ("transferlab.methods",)),
    ("chapters", ("transferlab.chapters",)),
    ("pipeline", ("transferlab.pipeline",)),
]


def module_name(path: Path, lib: Path) -> str:
    parts = path.relative_to(lib.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(lib: Path) -> dict[str, set[str]]:
    """Module → the library modules it imports (at any depth of the file, lazy imports included)."""
    modules = {module_name(p, lib): p for p in lib.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [
                    f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names
                ]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def layer_of(module: str) -> int:
    best = max(
        (
            (i, len(p))
            for i, (_, prefixes) in enumerate(LAYERS)
            for p in prefixes
            if module == p or module.startswith(p + ".")
        ),
        key=lambda x: x[1],
    )
    return best[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


ENGINE_PACKAGES = (
    "transferlab.store",
    "transferlab.world",
    "transferlab.models",
    "transferlab.train",
    "transferlab.run",
)


def reaches_past_init(importer: str, imported: str) -> bool:
    """An import of an engine package's inner module from outside that package (its API is its __init__)."""
    return any(
        imported.startswith(p + ".") and not (importer == p or importer.startswith(p + "."))
        for p in ENGINE_PACKAGES
    )


MAX_MODULE_LINES, MAX_FUNCTION_LINES = 800, 80


def sizes(lib: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Lines per module, and per function or method (``module:qualified.name``)."""
    modules, functions = {}, {}

    def visit(node, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qual = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    functions[qual] = child.end_lineno - child.lineno + 1
                visit(child, qual + ".")

    for path in lib.rglob("*.py"):
        name = module_name(path, lib)
        text = path.read_text()
        modules[name] = len(text.splitlines())
        visit(ast.parse(text), f"{name}:")
    return modules, functions


# the chapters' shared kit, drawn as one box; every other chapter module or package is a page
CHAPTER_KIT = ("base", "claims", "contract", "ledger", "params", "plots", "registry", "spurious")


def package_of(module: str) -> str:
    """The box a module is drawn in: its engine or methods package, the chapters' shared kit, or
    the chapters' pages (``transferlab.chapters.backdoor.jobs`` → ``chapters``)."""
    parts = module.split(".")[1:] or ["transferlab"]
    if parts[0] != "chapters" or len(parts) == 1:
        return parts[0]
    return "chapters.kit" if parts[1] in CHAPTER_KIT else "chapters"


def drawing(lib: Path) -> str:
    """The wings as a Mermaid flowchart: one box per engine package, the methods, the chapters' kit
    and their pages, the pipeline; an arrow where one box imports another."""
    graph = import_graph(lib)
    edges = sorted(
        {
            (package_of(a), package_of(b))
            for a, bs in graph.items()
            for b in bs
            if package_of(a) != package_of(b)
        }
    )
    boxes = sorted({package_of(m) for m in graph}, key=lambda p: (layer_of(_module(p)), p))
    wings = {
        "engine": [p for p in boxes if layer_of(_module(p)) <= LAYER_INDEX["run"]],
        "methods": [p for p in boxes if layer_of(_module(p)) == LAYER_INDEX["methods"]],
        "chapters": [p for p in boxes if layer_of(_module(p)) == LAYER_INDEX["chapters"]],
        "pipeline": [p for p in boxes if layer_of(_module(p)) == LAYER_INDEX["pipeline"]],
    }
    pages = sorted({m.split(".")[2] for m in graph if package_of(m) == "chapters" and m.count(".") >= 2})
    labels = {
        "chapters": "pages: " + ", ".join(pages),
        "chapters.kit": "kit: " + ", ".join(CHAPTER_KIT),
        "transferlab": "transferlab (the package)",
    }
    lines = ["```mermaid", "flowchart BT"]
    for wing, members in wings.items():
        lines.append(f"  subgraph {wing}")
        lines += [f'    {_node(p)}["{labels.get(p, p)}"]' for p in members]
        lines.append("  end")
    lines += [f"  {_node(a)} --> {_node(b)}" for a, b in edges]
    lines.append("```")
    return "\n".join(lines)


def figures(lib: Path) -> str:
    """The graph's figures: modules, imports, imports against the order, cycles, the largest
    modules and the longest functions."""
    graph = import_graph(lib)
    modules, functions = sizes(lib)
    against = sum(layer_of(b) > layer_of(a) for a, bs in graph.items() for b in bs)
    largest = sorted(modules.items(), key=lambda kv: -kv[1])[:5]
    longest = sorted(functions.items(), key=lambda kv: -kv[1])[:5]
    return (
        f"{len(graph)} modules, {sum(map(len, graph.values()))} imports between them, {against} against "
        f"the layer order, {len(cycles(graph))} cycles.\nLargest modules (limit {MAX_MODULE_LINES} lines): "
        + ", ".join(f"{m} {n}" for m, n in largest)
        + f"\nLongest functions (limit {MAX_FUNCTION_LINES} lines): "
        + ", ".join(f"{f} {n}" for f, n in longest)
    )


LAYER_INDEX = {name: i for i, (name, _) in enumerate(LAYERS)}
START, END = "<!-- house:start -->", "<!-- house:end -->"


def _module(package: str) -> str:
    return "transferlab" if package == "transferlab" else f"transferlab.{package}"


def _node(package: str) -> str:
    return package.replace(".", "_")


def with_drawing(text: str, lib: Path) -> str:
    """``text`` (a Markdown file) with the drawing between its START and END lines made anew."""
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not (start and end):
        raise ValueError(f"the file needs a {START} line and an {END} line around the drawing")
    return f"{head}{START}\n{drawing(lib)}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Redraw the wings in the Markdown file named on the command line; print the graph's figures."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m transferlab.pipeline.house CONTRIBUTING.md", file=sys.stderr)
        return 2
    path = Path(args[0])
    lib = Path(__file__).resolve().parents[1]
    path.write_text(with_drawing(path.read_text(), lib))
    print(figures(lib))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
