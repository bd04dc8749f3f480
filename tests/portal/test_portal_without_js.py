"""The portal's basic flows in a browser with JavaScript switched off.

htmx and portal.js only enhance the pages: signing in, creating, editing and deleting
organisations (with the confirmation step), the sidebar (its lazy levels become links) and
signing out are plain links and forms. Screenshots land in test-artifacts/portal-nojs-*.png.
"""

from __future__ import annotations

import pytest
from browsing import HOST_A, open_page, shot, sign_in


@pytest.fixture
def nojs_page(browser):
    page = open_page(browser, java_script_enabled=False)
    yield page
    page.context.close()


@pytest.fixture
def acme(make):
    group = make.group(
        "Acme Telecom", product_name="Acme Voice", primary_color="#7c2d12", hostnames=[HOST_A]
    )
    distributor = make.org("distributor", group, "North Distribution")
    return {"group": group, "distributor": distributor, "admin": make.admin(group)}


def crumbs(page) -> list[str]:
    return page.locator("nav[aria-label=breadcrumb] li").all_inner_texts()


def below(page) -> list[str]:
    """The names in the table of organisations below the one shown."""
    return page.locator("#content table tbody tr td:first-child").all_inner_texts()


def test_create_edit_delete_and_sign_out_without_javascript(nojs_page, url, acme):
    page = nojs_page
    sign_in(page, url, acme["admin"])
    # Nothing ran: neither htmx nor the portal's own script.
    assert page.evaluate("typeof window.htmx") == "undefined"
    shot(page, "nojs-home")

    page.get_by_role("link", name="Distributors", exact=True).click()
    page.locator("#content").get_by_role("link", name="North Distribution", exact=True).click()
    page.get_by_role("button", name="New reseller").click()
    page.get_by_label("Name").fill("Resell One")
    page.get_by_role("button", name="Create reseller").click()
    assert page.locator("p.flash").inner_text() == "Reseller Resell One created."
    assert crumbs(page) == ["Acme Telecom", "North Distribution", "Resell One"]

    page.get_by_role("button", name="New tenant").click()
    shot(page, "nojs-tenant-form")
    page.get_by_label("Name").fill("Tenant Alpha")
    page.get_by_label("External billing ID").fill("BILL-42")
    page.get_by_role("button", name="Create tenant").click()
    assert page.locator("main h1").inner_text().startswith("Tenant Alpha")
    assert crumbs(page) == ["Acme Telecom", "North Distribution", "Resell One", "Tenant Alpha"]
    # The sidebar is rendered open down to the tenant by the server.
    current = page.locator('aside.sidebar a[aria-current="page"]')
    assert current.inner_text().strip() == "T Tenant Alpha" and current.is_visible()
    shot(page, "nojs-tenant")

    page.get_by_role("link", name="Tenants", exact=True).click()
    assert below(page) == ["Tenant Alpha"]
    assert "Resell One" in page.locator("#content table tbody").inner_text()  # its parent

    # A sidebar level that htmx would load on opening is a link to that organisation.
    sidebar = page.locator("aside.sidebar")
    north = sidebar.locator("ul.tree details", has_text="North Distribution").first
    assert not north.locator(":scope > ul").is_visible()
    north.locator(":scope > summary").click(position={"x": 4, "y": 8})
    shot(page, "nojs-sidebar-opened")
    north.get_by_role("link", name="Open North Distribution").click()
    assert page.locator("main h1").inner_text().startswith("North Distribution")
    assert below(page) == ["Resell One"]
    sidebar.get_by_role("link", name="Resell One", exact=True).click()
    assert below(page) == ["Tenant Alpha"]

    page.locator("#content").get_by_role("link", name="Tenant Alpha", exact=True).click()
    page.locator("#content").get_by_role("button", name="Edit", exact=True).click()
    page.get_by_label("Name").fill("Tenant Alpha Ltd")
    page.get_by_role("button", name="Save").click()
    assert page.locator("p.flash").inner_text() == "Tenant Alpha Ltd saved."
    assert crumbs(page)[-1] == "Tenant Alpha Ltd"
    assert page.locator("#card-settings").inner_text().count("BILL-42") == 1

    # Delete: a page that asks first; Cancel leaves the tenant alone.
    page.locator("#content").get_by_role("button", name="Delete", exact=True).click()
    assert page.locator("main h1").inner_text() == "Delete tenant Tenant Alpha Ltd?"
    shot(page, "nojs-confirm-delete")
    page.get_by_role("link", name="Cancel").click()
    assert page.locator("main h1").inner_text().startswith("Tenant Alpha Ltd")
    page.locator("#content").get_by_role("button", name="Delete", exact=True).click()
    page.locator("#content").get_by_role("button", name="Delete", exact=True).click()
    assert page.locator("p.flash").inner_text() == "Tenant Alpha Ltd deleted."
    assert page.locator("main h1").inner_text().startswith("Resell One")
    assert below(page) == []
    assert "Nothing below Resell One yet." in page.locator("#content .empty").inner_text()
    assert "Tenant Alpha" not in page.locator("aside.sidebar").inner_text()

    # The account menu is a <details>: it opens without a script, and Sign out is a form.
    page.locator("details.account > summary").click()
    page.get_by_role("button", name="Sign out").click()
    assert page.locator("p.flash").inner_text() == "You are signed out."
    assert page.locator("main h1").inner_text() == "Sign in to Acme Voice"
    shot(page, "nojs-signed-out")
    page.goto(url("/tenants"))
    assert page.locator("main h1").inner_text() == "Sign in to Acme Voice"
