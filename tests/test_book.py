"""The built book, opened in a real headless Chromium: every page renders, figures load, no errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from transferlab.book import chapter_notebooks

from .conftest import ROOT

pytestmark = pytest.mark.book

WAIT_FOR_MATH = """
const done = arguments[arguments.length - 1];
if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
  MathJax.startup.promise.then(() => done(true), () => done(false));
} else { done(null); }
"""
BROKEN_IMAGES = """
return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))
            .map(i => i.getAttribute('src'));
"""


def _pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts
                  and "_sources" not in p.parts)


def test_toc_lists_every_chapter():
    toc = (ROOT / "book" / "_toc.yml").read_text()
    for nb in chapter_notebooks(ROOT):
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
        severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, f"{rel}: browser errors {severe}"
        if rel in chapters:
            figures = browser.find_elements(By.CSS_SELECTOR, ".cell_output img")
            assert figures, f"{rel}: no figure rendered"
            assert all(f.size["width"] > 100 for f in figures), f"{rel}: a figure is not shown"
            rows = browser.find_elements(By.CSS_SELECTOR, "table.tl-claims tbody tr")
            assert rows, f"{rel}: no claims table"
            if browser.find_elements(By.CSS_SELECTOR, ".math"):
                assert browser.find_elements(By.TAG_NAME, "mjx-container"), f"{rel}: math not typeset"
        shot = artifacts / ("screenshot-" + rel.replace("/", "_").replace(".html", ".png"))
        browser.set_window_size(1280, min(browser.execute_script(
            "return document.body.scrollHeight") + 50, 12000))
        browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
