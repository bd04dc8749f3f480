"""One-click trunk creation in a real browser (Debian's chromium), then every tab of the
trunk; screenshots of the trunk list and the trunk page go to test-artifacts/ to look at.

The browser runs on a thread of its own with its own Playwright: the core's portal tests keep
a session-wide Playwright on the main thread, and two sync Playwrights cannot share a thread.
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pages_rig

from fusion_core.testing import PASSWORD, services_required

memory_driver = pages_rig.memory_driver  # fixtures
rig = pages_rig.rig

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts"
TABS = ("Capacity", "DIDs", "Call Barring / Block List / Allow List", "Calling Plan",
        "Access Trunks", "Details & Settings")  # fmt: skip


@pytest.fixture
def server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def _chromium() -> str:
    import os

    path = os.environ.get("FUSION_CHROMIUM", CHROMIUM)
    if not Path(path).exists():
        message = f"Chromium not found at {path} (apt-get install chromium)"
        if services_required():
            pytest.fail(message + " (FUSION_REQUIRE_SERVICES=1)")
        pytest.skip(message)
    pytest.importorskip("playwright.sync_api")
    return path


def _in_browser(chromium: str, scenario) -> None:
    def run():
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update"],
            )  # fmt: skip
            try:
                context = browser.new_context(viewport={"width": 1360, "height": 860})
                context.set_default_timeout(15_000)
                scenario(context.new_page())
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(run).result()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"portal-siptrunk-{name}.png"), full_page=True)


def test_create_a_trunk_in_one_click_and_open_its_tabs(rig, server):
    chromium = _chromium()
    rig.driver.down.add("pop-b")  # a failed badge with its error, to see
    rig.trunk(name="Branch IAD", kind="iad", max_calls=1)

    def scenario(page) -> None:
        page.goto(f"{server}/login")
        page.get_by_label("Email").fill(rig.tenant_admin.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("nav[aria-label=Sections]")
        page.get_by_role("link", name="Trunks", exact=True).first.click()
        page.get_by_role("link", name="Trunking").first.click()
        assert page.locator("#trunks").inner_text().count("Branch IAD") == 1

        form = page.locator("#new-trunk")
        if form.get_attribute("open") is None:
            form.locator("summary").click()
        page.get_by_label("Name").fill("Head office PBX")
        page.get_by_label("PBX host or Teams SBC FQDN").fill("198.51.100.50")
        page.get_by_label("Max simultaneous calls").fill("2")
        page.get_by_label("Emergency address").select_option(label="Head office (valid)")
        rig.driver.down.clear()
        page.get_by_role("button", name="Create trunk").click()
        page.wait_for_selector("text=Trunk Head office PBX created")
        assert "pop-a" in page.locator("#sync-status").inner_text()
        assert "in sync" in page.locator("#sync-status").inner_text()

        for label in TABS:
            page.get_by_role("link", name=label, exact=True).click()
            current = page.locator("nav.tabs a[aria-current=page]")
            assert current.inner_text() == label
        shot(page, "trunk-details")
        page.get_by_role("link", name="Calling Plan", exact=True).click()
        assert "Mobile (07)" in page.locator("#plan").inner_text()
        shot(page, "trunk-plan")

        page.get_by_role("button", name="All trunks").click()
        rows = page.locator("#trunks tbody tr")
        assert rows.count() == 2
        text = page.locator("#trunks").inner_text()
        assert "Head office PBX" in text and "IP-PBX" in text and "IAD" in text
        assert "pop-b: ✗ failed" in text
        shot(page, "trunk-list")

    _in_browser(chromium, scenario)
