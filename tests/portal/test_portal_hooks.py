"""The portal's hooks (menu_items, tenant_cards, subscription_tabs, global_search) with the
example plugin of docs/plugin-hooks.md installed beside the portal."""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

import pytest

from fusion_core.app import create_app
from fusion_core.migrations import upgrade
from fusion_core.testing import Factory, reset_database, settings_for_tests

EXAMPLE_DIR = Path(__file__).parents[1] / "plugins" / "fusion_example"


@pytest.fixture(scope="module")
def hooked_app(tmp_path_factory):
    from fusion_core.testing import _create_pg_database

    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(EXAMPLE_DIR))
        example = importlib.import_module("fusion_example.plugin")
        drop = None
        server = os.environ.get("FUSION_TEST_DATABASE_URL")
        if server:
            url, drop = _create_pg_database(server)
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('hooks') / 'hooks.db'}"
        app = create_app(
            {
                **settings_for_tests(url, tmp_path_factory.mktemp("inst"), PLUGINS=["portal"]),
                "PLUGIN_OBJECTS": [("example", example)],
            }
        )
        with app.app_context():
            upgrade(app)
        yield app
        app.extensions["fusion.db"].engine.dispose()
        if drop:
            drop()


@pytest.fixture
def hooked(hooked_app):
    yield hooked_app, Factory(hooked_app)
    reset_database(hooked_app)
    from sqlalchemy import text

    with hooked_app.extensions["fusion.db"].engine.begin() as conn:
        conn.execute(text("DELETE FROM example_notes"))


def test_plugin_cards_tabs_menu_and_search_reach_the_portal(hooked, portal_client):
    app, make = hooked
    group = make.group("Hooked Group")
    tenant = make.org("tenant", group, "Hooked Tenant")
    sub = make.subscription(tenant, "example", name="Example sub")
    client = portal_client(app).login(make.admin(group))

    tenant_page = client.get(f"/orgs/{tenant.id}").get_data(as_text=True)
    card = re.search(r'<article class="card" id="card-example">(.*?)</article>', tenant_page, re.S)
    assert card, "the example plugin's card is missing"
    assert "Example devices of Hooked Tenant: none yet." in card.group(1)
    assert f'href="/example/organizations/{tenant.id}"' in card.group(1)
    nav = re.search(r'<nav aria-label="Sections">(.*?)</nav>', tenant_page, re.S).group(1)
    assert '<a href="/example/"' in nav  # menu_items from a plugin

    sub_page = client.get(f"/subscriptions/{sub.id}?tab=example-settings").get_data(as_text=True)
    assert ">Example settings</a>" in sub_page
    assert "Example settings of Example sub." in sub_page

    found = client.get("/search?q=loop").get_data(as_text=True)
    assert "<h2>Example devices</h2>" in found and ">loopback</a>" in found
    assert "Example devices" not in client.get("/search?q=zzz").get_data(as_text=True)


def test_the_details_tab_comes_first_and_is_selected_by_default(hooked, portal_client):
    app, make = hooked
    group = make.group()
    tenant = make.org("tenant", group)
    sub = make.subscription(tenant, "example", name="Other")
    client = portal_client(app).login(make.admin(group))
    page = client.get(f"/subscriptions/{sub.id}").get_data(as_text=True)
    tabs = re.findall(r'<li><a href="\?tab=([\w-]+)"', page)
    # The core's own Licenses and Numbers tabs sit beside the plugin's.
    assert tabs[0] == "details" and sorted(tabs[1:]) == ["example-settings", "licenses", "numbers"]
    assert re.search(r'href="\?tab=details" aria-current="page"', page)
    assert "Example settings of Other." not in page  # a tab's body shows only when selected


def test_a_plugin_page_extends_the_layout_with_sidebar_and_breadcrumbs(hooked, portal_client):
    app, make = hooked
    group = make.group("Layout Group", product_name="Layout Cloud", hostnames=["layout.test"])
    reseller = make.org("reseller", group, "Layout Reseller")
    tenant = make.org("tenant", reseller, "Layout Tenant")
    sibling = make.org("tenant", reseller, "Sibling Tenant")
    client = portal_client(app, host="layout.test").login(make.admin(group))

    page = client.get(f"/example/organizations/{tenant.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "<h1>Example devices of Layout Tenant</h1>" in html  # the plugin's block
    assert "<title>Example devices · Layout Cloud</title>" in html  # the group's branding
    nav = re.search(r'<nav aria-label="Sections">(.*?)</nav>', html, re.S).group(1)
    assert '<a href="/example/" aria-current="page">Example</a>' in nav  # its menu entry
    crumbs = re.search(r'<nav aria-label="breadcrumb"[^>]*>(.*?)</nav>', html, re.S).group(1)
    labels = re.findall(r">([^<>]+)</(?:a|span)>", crumbs)
    assert labels == ["Layout Group", "Layout Reseller", "Layout Tenant", "Example devices"]
    sidebar = re.search(r'<aside class="sidebar"[^>]*>(.*?)</aside>', html, re.S).group(1)
    # Opened down to the page's tenant, which is marked; its sibling is listed beside it.
    assert re.search(rf'href="/orgs/{tenant.id}" class="node" aria-current="page">', sidebar)
    assert "Sibling Tenant" in sidebar

    outsider = make.admin(make.org("tenant", reseller, "Outsider"))
    other = portal_client(app, host="layout.test").login(outsider)
    refused = other.get(f"/example/organizations/{sibling.id}")
    assert refused.status_code == 404
    assert "Sibling Tenant" not in refused.get_data(as_text=True)
