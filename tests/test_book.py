"""The built book, opened in a real headless Chromium: every page renders, figures load, no errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from transferlab.chapters.claims import VERDICTS, read_record
from transferlab.pipeline.book import REAL_DATA, SUMMARY, chapter_notebooks
from transferlab.pipeline.runner import chapter_of

from .conftest import ROOT

pytestmark = pytest.mark.book

WAIT_FOR_MATH = """
const done = arguments[arguments.length - 1];
if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
  MathJax.startup.promise.then(() => done(true), () => done(false));
} else { done(null); }
"""
LINKS = "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href);"
RESOURCES = "return performance.getEntriesByType('resource').map(e => e.name);"
BROKEN_IMAGES = """
return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))
            .map(i => i.getAttribute('src'));
"""


def _pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)


def test_toc_lists_every_chapter():
    toc = (ROOT / "book" / "_toc.yml").read_text()
    for nb in [*chapter_notebooks(ROOT), ROOT / "notebooks" / SUMMARY, ROOT / "notebooks" / REAL_DATA]:
        assert f"chapters/{nb.stem}" in toc, f"{nb.name} is not in book/_toc.yml"


def test_every_page_renders_in_a_browser(smoke_book, browser, serve, artifacts):
    from selenium.webdriver.common.by import By

    html = smoke_book / "_build" / "html"
    base = serve(html)
    pages = _pages(html)
    chapters = {f"chapters/{nb.stem}.html" for nb in chapter_notebooks(ROOT)}
    assert chapters <= {str(p.relative_to(html)) for p in pages}
    browser.set_script_timeout(30)
    for page in pages:
        rel = str(page.relative_to(html))
        browser.get(base + rel)
        math_ok = browser.execute_async_script(WAIT_FOR_MATH)
        assert math_ok is not False, f"{rel}: MathJax failed to typeset"
        assert not browser.execute_script(BROKEN_IMAGES), f"{rel}: images that did not load"
        text = browser.find_element(By.TAG_NAME, "body").text
        assert "Traceback (most recent call last)" not in text, f"{rel}: an error output"
        assert not browser.find_elements(By.CSS_SELECTOR, ".output.traceback, .output.error"), rel
        outside = [r for r in browser.execute_script(RESOURCES) if not r.startswith(base)]
        assert not outside, f"{rel}: the page loads files from outside the site: {outside}"
        for href in browser.execute_script(LINKS):
            if href.startswith(base):  # a page of the site: it must exist (static hosting)
                target = href[len(base) :].split("#")[0].split("?")[0] or "index.html"
                assert (html / target).is_file() or (html / target / "index.html").is_file(), (
                    f"{rel}: broken link {href}"
                )
        severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, f"{rel}: browser errors {severe}"
        if rel in chapters:
            figures = browser.find_elements(By.CSS_SELECTOR, ".cell_output img")
            assert figures, f"{rel}: no figure rendered"
            assert all(f.size["width"] > 100 for f in figures), f"{rel}: a figure is not shown"
            rows = browser.find_elements(By.CSS_SELECTOR, "table.tl-claims tbody tr")
            assert rows, f"{rel}: no claims table"
            source = browser.execute_script("return document.body.textContent")  # folded text too
            assert "transferlab run notebooks/" in source, f"{rel}: no rerun command"
            solutions = browser.find_elements(
                By.CSS_SELECTOR, "section#exercises .dropdown, section#exercises details"
            )
            assert solutions, f"{rel}: no folded solutions in its exercises"
            method = browser.find_elements(
                By.XPATH,
                "//details[.//*[contains(text(), 'How it is computed')]]//div[contains(@class, 'highlight-python')]",
            )
            assert method, f"{rel}: no folded 'How it is computed' block with the library's source"
            if browser.find_elements(By.CSS_SELECTOR, ".math"):
                assert browser.find_elements(By.TAG_NAME, "mjx-container"), f"{rel}: math not typeset"
        shot = artifacts / ("screenshot-" + rel.replace("/", "_").replace(".html", ".png"))
        browser.set_window_size(
            1280, min(browser.execute_script("return document.body.scrollHeight") + 50, 12000)
        )
        browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000


def test_summary_page_is_true_to_the_chapters(smoke_book):
    """Every claim of every executed chapter is on the summary page, with the same number and verdict."""
    summary = read_record(smoke_book / "chapters" / SUMMARY)
    on_page = {c["key"]: c for c in summary["claims"]}
    expected = {}
    for nb in chapter_notebooks(ROOT):
        number = int(nb.stem.split("_")[0])
        for c in read_record(smoke_book / "chapters" / nb.name)["claims"]:
            expected[f"{number}.{c['key']}"] = c
    assert on_page.keys() == expected.keys()
    for key, c in expected.items():
        assert (on_page[key]["estimates"], on_page[key]["verdict"]) == (c["estimates"], c["verdict"]), key
    for verdict in VERDICTS:
        assert summary["metrics"][verdict] == sum(c["verdict"] == verdict for c in expected.values())
    html = (smoke_book / "_build" / "html" / "chapters" / "what_transfers.html").read_text()
    marks = ("✓ holds", "✗ contradicted", "? undecided", "– n/a")
    assert sum(html.count(m) for m in marks) == len(expected)


def test_every_chapter_page_shows_its_rerun_command_and_all_parameters(smoke_book):
    import nbformat

    for nb in chapter_notebooks(ROOT):
        cells = nbformat.read(str(smoke_book / "chapters" / nb.name), as_version=4).cells
        text = "\n".join(c.source for c in cells if "transferlab-generated" in c.metadata.get("tags", []))
        assert f"transferlab run notebooks/{nb.name} --preset smoke" in text, nb.name
        for name in chapter_of(nb)[0].param_infos():
            assert f"| `{name}` |" in text, f"{nb.name}: parameter {name} missing from its page"
        assert "## Run it on your data" in text and "## The `paper` preset" in text
