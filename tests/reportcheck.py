"""Headless Chromium for the browser tests (Debian's chromium driven by Playwright): where it is, how it is
started, the skip when it is missing, and the checks of a written HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]


def require_browser() -> Any:
    """playwright's sync_playwright, or skip when chromium or playwright is missing."""
    if not CHROMIUM.is_file():
        pytest.skip("chromium not installed (make browser-deps)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright not installed")
    return sync_playwright


def check_report_in_chromium(report: Path, shot: Path, sections: list[str]) -> None:
    """Load the report file in headless Chromium: no console error, no failed request, the sections present,
    every image decoded; a full-page screenshot at ``shot`` (path printed)."""
    sync_playwright = require_browser()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            failed: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
            page.goto(report.as_uri(), wait_until="load")
            h2 = page.locator("h2").all_inner_texts()
            for s in sections:
                assert s in h2, (s, h2)
            broken = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length")
            assert broken == 0
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280   # no sideways scrolling
            page.screenshot(path=str(shot), full_page=True)
            print(f"report screenshot: {shot}")
        finally:
            browser.close()
    assert errors == [] and failed == [], (errors, failed)
