"""The portal in a real browser: Debian's Chromium driven by Playwright, against a real server.

The server is werkzeug's, in a thread, serving the test session's app and database. Two host
names resolve to it (Chromium's host-resolver rules), so two groups' branding can be compared.
Screenshots of the main pages land in test-artifacts/ for people to look at.
"""

from __future__ import annotations

import re

import pytest
from browsing import HOST_A, HOST_B, shot, sign_in
from playwright.sync_api import expect


@pytest.fixture
def acme(make):
    group = make.group(
        "Acme Telecom",
        product_name="Acme Voice",
        primary_color="#7c2d12",
        accent_color="#0e7490",
        hostnames=[HOST_A],
        support_email="help@acme.example",
    )
    distributor = make.org("distributor", group, "North Distribution")
    return {"group": group, "distributor": distributor, "admin": make.admin(group)}


def test_login_then_create_reseller_and_tenant_seen_in_sidebar_and_breadcrumbs(page, url, acme):
    page.goto(url("/login"))
    shot(page, "login")
    sign_in(page, url, acme["admin"])
    page.get_by_role("link", name="Distributors", exact=True).click()
    page.get_by_role("link", name="North Distribution").first.click()
    shot(page, "distributor")
    page.get_by_role("button", name="New reseller").click()
    page.get_by_label("Name").fill("Resell One")
    page.get_by_role("button", name="Create reseller").click()
    page.get_by_role("button", name="New tenant").click()
    page.get_by_label("Name").fill("Tenant Alpha")
    page.get_by_label("External billing ID").fill("BILL-42")
    page.get_by_role("button", name="Create tenant").click()
    crumbs = page.locator("nav[aria-label=breadcrumb] li")
    assert crumbs.all_inner_texts() == [
        "Acme Telecom",
        "North Distribution",
        "Resell One",
        "Tenant Alpha",
    ]
    assert page.locator("#card-settings").inner_text().count("BILL-42") == 1
    shot(page, "tenant")

    # On the tenant's page the sidebar is open down to it, the tenant marked as current.
    sidebar = page.locator("aside.sidebar")
    current = sidebar.locator('a[aria-current="page"]')
    assert current.inner_text().strip() == "T Tenant Alpha"
    assert current.is_visible()

    # Elsewhere it loads each level when it is opened (htmx), not before.
    page.get_by_role("link", name="Distributors", exact=True).click()
    distributor_node = sidebar.locator("ul.tree details", has_text="North Distribution").first
    assert "Resell One" not in distributor_node.inner_text()
    distributor_node.locator(":scope > summary").click(position={"x": 4, "y": 8})
    sidebar.get_by_role("link", name="Resell One").wait_for()
    reseller_node = sidebar.locator("ul.tree details", has_text="Resell One").last
    reseller_node.locator(":scope > summary").click(position={"x": 4, "y": 8})
    sidebar.get_by_role("link", name="Tenant Alpha").wait_for()
    shot(page, "sidebar-expanded")


def test_branding_differs_between_two_host_names(page, url, acme, make):
    make.group(
        "Beta Networks", product_name="Beta Connect", primary_color="#14532d", hostnames=[HOST_B]
    )
    page.goto(url("/login", HOST_A))
    a_name = page.locator("#product-name").inner_text()
    a_color = page.locator("header.topbar").evaluate("e => getComputedStyle(e).backgroundColor")
    assert "Fusion" not in page.locator("body").inner_text()
    page.goto(url("/login", HOST_B))
    shot(page, "login-beta")
    b_name = page.locator("#product-name").inner_text()
    b_color = page.locator("header.topbar").evaluate("e => getComputedStyle(e).backgroundColor")
    assert (a_name, a_color) == ("Acme Voice", "rgb(124, 45, 18)")
    assert (b_name, b_color) == ("Beta Connect", "rgb(20, 83, 45)")
    assert "Fusion" not in page.locator("body").inner_text()


def test_tenant_admin_sees_only_their_tenant(page, url, acme, make):
    reseller = make.org("reseller", acme["distributor"], "Resell One")
    mine = make.org("tenant", reseller, "Mine Ltd")
    sibling = make.org("tenant", reseller, "Sibling Ltd")
    make.subscription(mine, "teams", name="Teams DR")
    sign_in(page, url, make.admin(mine))
    assert page.locator("h1").inner_text().startswith("Mine Ltd")
    assert "Sibling Ltd" not in page.locator("body").inner_text()
    assert page.locator("#card-teams").is_visible()  # the Teams connector's card
    nav = page.locator("nav[aria-label=Sections]").inner_text()
    assert "Tenants" not in nav and "Distributors" not in nav
    shot(page, "tenant-admin")
    response = page.goto(url(f"/orgs/{sibling.id}"))
    assert response.status == 404
    assert "Sibling Ltd" not in page.locator("body").inner_text()


def test_form_error_is_shown_beside_its_field(page, url, acme):
    sign_in(page, url, acme["admin"])
    page.goto(url(f"/tenants/new?parent_id={acme['distributor'].id}"))
    page.get_by_label("Name").fill("   ")  # passes the browser's `required`, not the schema
    page.get_by_role("button", name="Create tenant").click()
    error = page.locator("#f-name-error")
    assert error.inner_text() == "Must not be blank."
    assert page.get_by_label("Name").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Name").get_attribute("aria-describedby") == "f-name-error"
    shot(page, "form-error")


def test_audit_viewer_shows_the_change_just_made(page, url, acme):
    sign_in(page, url, acme["admin"])
    page.goto(url(f"/orgs/{acme['distributor'].id}/edit"))
    page.get_by_label("Name").fill("North Distribution Ltd")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("link", name="Audit", exact=True).click()
    first = page.locator("table.audit tbody tr").first
    assert "update" in first.inner_text() and acme["admin"].email in first.inner_text()
    shot(page, "audit")
    first.get_by_role("link", name=re.compile("Show change")).click()
    assert page.locator("td.before").first.inner_text() == "North Distribution"
    assert page.locator("td.after").first.inner_text() == "North Distribution Ltd"
    shot(page, "audit-diff")


def test_slash_focuses_global_search(page, url, acme):
    sign_in(page, url, acme["admin"])
    page.locator("main h1").click()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "global-search"
    page.keyboard.type("North")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Organisations").wait_for()
    assert page.locator("#content").get_by_role("link", name="North Distribution").is_visible()
    shot(page, "search")


def test_settings_preview_follows_the_form(page, url, acme):
    sign_in(page, url, acme["admin"])
    page.get_by_role("link", name="Settings", exact=True).click()
    page.wait_for_load_state("load")  # the preview script listens from here on
    page.get_by_label("Product name").fill("Acme Next")
    expect(page.locator("#preview-name")).to_have_text("Acme Next")
    page.get_by_label("Primary colour").fill("#1e3a8a")
    expect(page.locator(".preview-bar")).to_have_css("background-color", "rgb(30, 58, 138)")
    shot(page, "settings")
