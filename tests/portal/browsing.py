"""Helpers for the portal's browser tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from fusion_core.testing import PASSWORD

CHROMIUM = os.environ.get("FUSION_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HOST_A, HOST_B = "portal-a.test", "portal-b.test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def open_page(browser, **options):
    """A page in a browser context of its own (1280 by 800, 10 s timeouts); `options` go to
    new_context (e.g. java_script_enabled=False). Close `page.context` when done."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, **options)
    context.set_default_timeout(10_000)
    return context.new_page()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"portal-{name}.png"), full_page=True)


def sign_in(page, url, admin, host: str = HOST_A) -> None:
    page.goto(url("/login", host))
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("nav[aria-label=Sections]")
    page.wait_for_load_state("load")  # deferred scripts (portal.js: keyboard access) have run
