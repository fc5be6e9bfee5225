"""Sphinx extension used by the book: list each script of a page once, and show library source.

sphinx-thebe and sphinx-togglebutton add inline scripts after the HTML builder starts; Sphinx
then holds them twice (once with filename None, once with ''), and the page declares
``const THEBE_JS_URL`` twice, a JavaScript SyntaxError in every browser.

The ``libsource`` directive shows a function or class of the installed library as it is, so the
method a chapter shows cannot drift from the code that ran: it is ``literalinclude`` with the file
named by import path instead of by a path relative to the page (the book is also built from copies
of ``book/`` elsewhere, the tests' among them)::

    ```{libsource} transferlab.methods.subset_influence:difference_of_means
    ```
"""

from __future__ import annotations

import importlib.util
import os

from sphinx.directives.code import LiteralInclude
from sphinx.errors import ExtensionError


def source_file(module: str) -> str:
    """The source file of an importable module (raises ExtensionError naming it if there is none)."""
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        spec = None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise ExtensionError(f"libsource: no Python source for module {module!r}")
    return spec.origin


class LibrarySource(LiteralInclude):
    """``{libsource} module:object``: the source of ``object`` (a function, a class, or
    ``Class.method``) in ``module``, captioned with its import path."""

    def run(self):
        module, _, obj = self.arguments[0].partition(":")
        path = source_file(module)
        # a leading "/" makes literalinclude read the path from the source directory, wherever it is
        self.arguments[0] = "/" + os.path.relpath(path, self.env.srcdir)
        self.options.setdefault("language", "python")
        self.options.setdefault("caption", f"{module}.{obj}" if obj else module)
        if obj:
            self.options.setdefault("pyobject", obj)
        return super().run()


def _dedupe(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (
            getattr(script, "filename", script) or "",
            tuple(sorted(getattr(script, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    app.add_directive("libsource", LibrarySource)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
