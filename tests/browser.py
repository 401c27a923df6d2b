"""Headless Chromium for the browser tests: the machine's own ``chromium`` (no browser download),
driven by Playwright, with the flags a headless video player needs."""

from __future__ import annotations

import json
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


# Resolves once CONDITION holds (of ``arg``), checked again at each DOM change, image load and video
# event; rejects after WAIT_MS. (Compiled by Playwright's evaluate, not wait_for_function:
# the page's Content-Security-Policy forbids the eval that one needs, and it stays on.)
UNTIL = """(arg) => new Promise((resolve, reject) => {
  const check = () => { if (CONDITION) { observer.disconnect(); resolve(true); } };
  const observer = new MutationObserver(check);
  observer.observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
  document.addEventListener("load", check, true);
  const video = document.getElementById("video");
  if (video) for (const name of ["timeupdate", "playing", "seeked"]) video.addEventListener(name, check);
  setTimeout(() => reject(new Error("not reached: " + SAID)), WAIT);
  check();
})"""


def wait_in(page: Page, condition: str, arg: object = None) -> None:
    """Return once the JavaScript ``condition`` holds in ``page`` (``arg`` is its argument)."""
    script = UNTIL.replace("CONDITION", condition).replace("SAID", json.dumps(condition))
    page.evaluate(script.replace("WAIT", str(WAIT_MS)), arg)
