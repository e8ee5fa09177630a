"""Headless Chromium driven by Playwright, and a built site served to it on a loopback port.

The browser is the system's (Debian's ``chromium``), never a build Playwright downloads: that
works offline and in CI. ``python -m sdcore pdf`` and the browser tests use it.
"""

from __future__ import annotations

import functools
import shutil
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class BrowserError(RuntimeError):
    """Chromium or playwright is not installed."""


def missing() -> str | None:
    """What of Chromium and playwright is not installed, each with the command that installs it;
    None when both are."""
    absent = [f"{what} ({command})" for what, command, ok in (
        ("Chromium", "apt-get install chromium", Path(CHROMIUM).exists()),
        ("playwright", "pip install playwright", _has_playwright())) if not ok]
    return f"{' and '.join(absent)} not installed" if absent else None


def _has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium (``CHROMIUM``) for the block; ``BrowserError`` if it or playwright is
    missing."""
    absent = missing()
    if absent:
        raise BrowserError(absent)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: the sandbox cannot start as root, as in containers and CI;
        # swiftshader: software WebGL, for plotly's 3D surfaces without a GPU
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--enable-unsafe-swiftshader"])
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def served(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on a free loopback port for the block; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass
