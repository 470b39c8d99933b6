"""Headless Chromium for tests of HTML pages: Debian's chromium, installed by ``.ci/install-chromium``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from zoo.report.html import CSP

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not found: run .ci/install-chromium (Debian's chromium)"
)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]  # fmt: skip
PROBE = (
    "<script>addEventListener('load', () => { for (const img of document.images) "
    "img.setAttribute('data-natural-width', img.naturalWidth); "
    "document.body.setAttribute('data-images-seen', document.images.length); });</script>"
)
"""Records each image's decoded width in the DOM, for ``--dump-dom`` to show (the pages have no script)."""


def chromium(page: Path, *args: str, profile: Path) -> str:
    """Open ``page`` in headless Chromium with ``args`` (e.g. ``--dump-dom``); returns what it printed."""
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()]
    done = subprocess.run(command, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode("utf-8")


def probed(page: str, *, allow_script: bool = True) -> str:
    """``page`` with :data:`PROBE` added; its CSP is relaxed to let the probe run unless ``allow_script`` is
    False (then the probe shows whether the page's own CSP blocks scripts)."""
    if allow_script:
        page = page.replace(CSP, f"{CSP}; script-src 'unsafe-inline'")
    return page.replace("</body>", PROBE + "</body>")
