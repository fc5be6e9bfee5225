"""Sphinx extension used by the book: list each script of a page once.

sphinx-thebe and sphinx-togglebutton add inline scripts after the HTML builder starts; Sphinx
then holds them twice (once with filename None, once with ''), and the page declares
``const THEBE_JS_URL`` twice, a JavaScript SyntaxError in every browser.
"""


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
    return {"parallel_read_safe": True, "parallel_write_safe": True}
