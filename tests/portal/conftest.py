"""Portal fixtures: a signed-in test client that sends CSRF tokens like a browser does."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from browsing import CHROMIUM, HOST_A, HOST_B, _free_port, open_page
from werkzeug.serving import make_server

from fusion_core.testing import PortalClient, services_required


@pytest.fixture
def portal(app):
    """portal() -> a fresh client; portal(admin) -> signed in as that administrator."""

    def make(admin=None, host: str = "localhost") -> PortalClient:
        return PortalClient(app, admin, host)

    return make


@pytest.fixture
def portal_client():
    """The client class, for apps other than the session's (e.g. with extra plugins)."""
    return PortalClient


# --- a real browser against a real server (one of each per test session) ---


@pytest.fixture(scope="session")
def live_server(app):
    port = _free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield port
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser(live_server):
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if services_required():
            pytest.fail(message + " (FUSION_REQUIRE_SERVICES=1)")
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--host-resolver-rules=MAP {HOST_A} 127.0.0.1, MAP {HOST_B} 127.0.0.1",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = open_page(browser)
    yield page
    page.context.close()


@pytest.fixture
def url(live_server):
    def build(path: str, host: str = HOST_A) -> str:
        return f"http://{host}:{live_server}{path}"

    return build
