"""Headless Chromium for the browser tests: the machine's own ``chromium`` (no browser download),
driven by Playwright, with the flags a headless video player needs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from conftest import require_tool
from playwright.sync_api import Page, sync_playwright

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",
]
WAIT_MS = 180_000  # a generous deadline for each wait on a loaded CI machine: a hang, not a speed, fails


@contextmanager
def chromium_page() -> Iterator[Page]:
    """One page in a fresh headless Chromium (Playwright gives it an empty profile of its own)."""
    executable = require_tool("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            yield page
        finally:
            browser.close()
