"""Portal pages through Flask's test client: sign-in, CSRF, scope, forms, sidebar, audit, search."""

from __future__ import annotations

import logging
import re

from sqlalchemy import select

from fusion_core.audit.models import AuditEntry
from fusion_core.db import get_db
from fusion_core.hierarchy.models import Organization

HTMX = {"HX-Request": "true"}  # what htmx sends with the sidebar's requests for a level


def text(response) -> str:
    return response.get_data(as_text=True)


def test_login_wrong_password_is_refused_and_right_one_signs_in(portal, make):
    tree = make.tree()
    admin = make.admin(tree["group"])
    client = portal()
    client.get("/login")
    bad = client.post("/login", {"email": admin.email, "password": "nope-nope-nope"})
    assert bad.status_code == 401
    assert "Wrong email or password." in text(bad)
    client.login(admin)
    page = client.get("/home", follow_redirects=True)
    assert page.status_code == 200
    assert tree["group"].name in text(page)
    assert admin.email in text(page)


def test_every_form_needs_the_csrf_token(portal, make):
    admin = make.admin(make.group())
    client = portal()
    client.get("/login")
    refused = client.post("/login", {"email": admin.email, "password": "x"}, csrf=False)
    assert refused.status_code == 400
    assert "The form expired" in text(refused)
    signed_in = portal(admin)
    logout = signed_in.post("/logout", csrf=False)
    assert logout.status_code == 400
    assert signed_in.get("/home").status_code == 302  # still signed in: redirect to own page


def test_logout_ends_the_session(portal, make):
    admin = make.admin(make.group())
    client = portal(admin)
    client.get("/home", follow_redirects=True)
    response = client.post("/logout", follow_redirects=True)
    assert "You are signed out." in text(response)
    again = client.get("/tenants")
    assert again.status_code == 302
    assert "/login" in again.headers["Location"]


def test_idle_session_expires(app, portal, make):
    admin = make.admin(make.group())
    client = portal(admin)
    with client.client.session_transaction() as session:
        session["seen"] -= app.config["PORTAL_IDLE_MINUTES"] * 60 + 1
    response = client.get("/tenants", follow_redirects=True)
    assert "Your session expired" in text(response)
    assert 'id="email"' in text(response)


def test_api_keeps_bearer_tokens_without_csrf(api, make):
    admin = make.admin(make.group())
    response = api.as_(admin).post(
        "distributors", json={"name": "Via API", "parent_id": str(admin.organization_id)}
    )
    assert response.status_code == 201, response.get_json()


def test_menu_shows_only_the_sections_the_admin_may_use(portal, make):
    tree = make.tree()
    group_page = text(portal(make.admin(tree["group"])).get("/audit"))
    nav = re.search(r'<nav aria-label="Sections">(.*?)</nav>', group_page, re.S).group(1)
    for label in ("Distributors", "Resellers", "Tenants", "Products", "Orders", "Reports"):
        assert f">{label}</a>" in nav
    for label in ("Admins", "Audit", "Settings", "Numbers"):
        assert f">{label}</a>" in nav
    tenant_page = text(portal(make.admin(tree["tenant"])).get("/audit"))
    nav = re.search(r'<nav aria-label="Sections">(.*?)</nav>', tenant_page, re.S).group(1)
    assert ">Admins</a>" in nav and ">Audit</a>" in nav and ">Numbers</a>" in nav
    assert ">Distributors</a>" not in nav and ">Settings</a>" not in nav


def test_tenant_admin_sees_only_their_tenant(portal, make):
    tree = make.tree()
    client = portal(make.admin(tree["tenant"]))
    own = client.get(f"/orgs/{tree['tenant'].id}")
    assert own.status_code == 200
    assert tree["tenant"].name in text(own)
    sibling = client.get(f"/orgs/{tree['sibling_tenant'].id}")
    assert sibling.status_code == 404
    assert tree["sibling_tenant"].name not in text(sibling)
    parent = client.get(f"/orgs/{tree['reseller'].id}")
    assert parent.status_code == 404
    assert client.get(f"/orgs/{tree['sibling_tenant'].id}/edit").status_code == 404
    # Breadcrumbs start at the admin's own organisation: nothing above it leaks.
    crumbs = re.search(r'<nav aria-label="breadcrumb"(.*?)</nav>', text(own), re.S).group(1)
    assert tree["reseller"].name not in crumbs
    assert tree["group"].name not in crumbs


def test_create_shows_the_error_beside_its_field_and_changes_nothing(app, portal, make):
    group = make.group()
    client = portal(make.admin(group))
    client.get("/distributors/new")
    response = client.post("/distributors/new", {"name": "   ", "parent_id": str(group.id)})
    assert response.status_code == 422
    body = text(response)
    assert re.search(r'id="f-name"[^>]*aria-invalid="true"', body, re.S)
    assert re.search(
        r'<small id="f-name-error" class="field-error">Must not be blank\.</small>', body
    )
    with app.app_context():
        kinds = get_db().session.scalars(select(Organization.kind)).all()
    assert kinds == ["group"]


def test_create_reseller_and_tenant_then_sidebar_and_breadcrumbs(app, portal, make):
    group = make.group("Acme Telecom")
    distributor = make.org("distributor", group, "North")
    client = portal(make.admin(group))
    client.get("/resellers/new")
    created = client.post(
        "/resellers/new", {"name": "Resell One", "parent_id": str(distributor.id)}
    )
    assert created.status_code == 302
    reseller_url = created.headers["Location"]
    client.get(reseller_url)
    tenant = client.post(
        "/tenants/new",
        {"name": "Tenant Alpha", "parent_id": reseller_url.rsplit("/", 1)[-1]},
        follow_redirects=True,
    )
    body = text(tenant)
    crumbs = re.search(r'<nav aria-label="breadcrumb"(.*?)</nav>', body, re.S).group(1)
    assert [c.strip() for c in re.findall(r">([^<>]+)</(?:a|span)>", crumbs)] == [
        "Acme Telecom",
        "North",
        "Resell One",
        "Tenant Alpha",
    ]
    # The sidebar: the group's children first; each level is fetched lazily.
    assert "North" in re.search(r'<aside class="sidebar"(.*?)</aside>', body, re.S).group(1)
    level2 = text(client.get(f"/orgs/{distributor.id}/children", headers=HTMX))
    assert "Resell One" in level2
    reseller_id = reseller_url.rsplit("/", 1)[-1]
    level3 = text(client.get(f"/orgs/{reseller_id}/children", headers=HTMX))
    assert "Tenant Alpha" in level3
    with app.app_context():
        entries = (
            get_db()
            .session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "organizations"))
            .all()
        )
    portal_entries = [e for e in entries if e.via == "portal"]
    assert {e.changes["name"][1] for e in portal_entries} == {"Resell One", "Tenant Alpha"}


def test_sidebar_children_are_paginated(portal, make):
    group = make.group()
    reseller = make.org("reseller", group, "Big reseller")
    for i in range(53):
        make.org("tenant", reseller, f"T{i:03d}")
    client = portal(make.admin(group))
    first = text(client.get(f"/orgs/{reseller.id}/children", headers=HTMX))
    assert first.count('class="node"') == 50
    assert "T049" in first and "T050" not in first
    assert f"/orgs/{reseller.id}/children?page=2" in first
    second = text(client.get(f"/orgs/{reseller.id}/children?page=2", headers=HTMX))
    assert second.count('class="node"') == 3
    assert "T052" in second and "More…" not in second
    # Without JavaScript the same link leads to the reseller's page, on the list page that
    # starts with T050 (the sidebar's pages hold 50, the list's 25).
    plain = client.get(f"/orgs/{reseller.id}/children?page=2")
    assert plain.status_code == 302
    assert plain.headers["Location"] == f"/orgs/{reseller.id}?page=3"
    listed = re.findall(
        r'<td><a href="/orgs/[^"]+">(T\d+)</a></td>', text(client.get(plain.headers["Location"]))
    )
    assert listed == ["T050", "T051", "T052"]


def test_sidebar_opens_along_the_path_to_the_current_organisation(portal, make):
    group = make.group()
    north = make.org("distributor", group, "North")
    make.org("distributor", group, "South")
    resellers = [make.org("reseller", north, f"R{i:03d}") for i in range(52)]
    deep = resellers[-1]  # on the distributor's second sidebar page
    tenant = make.org("tenant", deep, "Deep tenant")
    make.org("tenant", deep, "Other tenant")
    client = portal(make.admin(group))
    body = text(client.get(f"/orgs/{tenant.id}"))
    side = re.search(r'<aside class="sidebar"(.*?)</aside>', body, re.S).group(1)
    opened = re.findall(r'<details open>\s*<summary>.*?class="node"[^>]*>([^<]+)</a>', side)
    assert [name.strip() for name in opened] == ["North", "R051"]
    current = re.findall(r'aria-current="page"><span class="kind">T</span> ([^<]+)</a>', side)
    assert current == ["Deep tenant"]
    assert "Other tenant" in side and "South" in side
    # a page of no organisation keeps the tree closed
    plain = text(client.get("/tenants"))
    side = re.search(r'<aside class="sidebar"(.*?)</aside>', plain, re.S).group(1)
    assert "R051" not in side and 'aria-current="page"' not in side


def test_list_search_sort_and_pagination(portal, make):
    group = make.group()
    for name in ("Charlie", "alpha", "Bravo"):
        make.org("tenant", group, name)
    client = portal(make.admin(group))
    body = text(client.get("/tenants?sort=-name"))
    names = re.findall(r'<tr>\s*<td><a href="/orgs/[^"]+">([^<]+)</a></td>', body)
    assert names == ["alpha", "Charlie", "Bravo"] or names == ["Charlie", "Bravo", "alpha"]
    found = text(client.get("/tenants?q=rav"))
    assert re.findall(r'<tr>\s*<td><a href="/orgs/[^"]+">([^<]+)</a></td>', found) == ["Bravo"]
    none = text(client.get("/tenants?q=zzz"))
    assert "No tenants match" in none


def test_delete_asks_for_confirmation_then_deletes(app, portal, make):
    group = make.group()
    tenant = make.org("tenant", group, "Doomed")
    client = portal(make.admin(group))
    confirm = client.get(f"/orgs/{tenant.id}/delete")
    assert "Delete tenant Doomed?" in text(confirm)
    done = client.post(f"/orgs/{tenant.id}/delete", follow_redirects=True)
    assert "Doomed deleted." in text(done)
    with app.app_context():
        assert get_db().session.get(Organization, tenant.id) is None


def test_delete_blocked_names_the_reason(portal, make):
    group = make.group()
    reseller = make.org("reseller", group, "Parent")
    make.org("tenant", reseller)
    page = text(portal(make.admin(group)).get(f"/orgs/{reseller.id}/delete"))
    assert "cannot be deleted now" in page
    assert "it has 1 child organisation(s)" in page


def test_tenant_page_cards_include_the_connectors_cards(portal, make):
    tree = make.tree()
    make.subscription(tree["tenant"], "siptrunk", name="Main trunks")
    body = text(portal(make.admin(tree["group"])).get(f"/orgs/{tree['tenant'].id}"))
    cards = re.findall(r'<article class="card" id="card-([^"]+)">', body)
    assert cards[0] == "subscriptions" and cards[-1] == "settings"
    assert {"siptrunk-trunks", "siptrunk-addresses"} <= set(cards)
    assert "Main trunks" in body
    assert "teams" not in cards  # not subscribed to Teams: no Teams card


def test_subscription_form_and_plugin_tab(portal, make):
    tree = make.tree()
    client = portal(make.admin(tree["group"]))
    client.get(f"/orgs/{tree['tenant'].id}/subscriptions/new")
    bad = client.post(
        f"/orgs/{tree['tenant'].id}/subscriptions/new", {"platform": "teams", "name": ""}
    )
    assert bad.status_code == 422
    assert 'id="f-name-error"' in text(bad)
    made = client.post(
        f"/orgs/{tree['tenant'].id}/subscriptions/new",
        {"platform": "teams", "name": "Teams DR", "billing_id": "B-1"},
        follow_redirects=True,
    )
    body = text(made)
    assert "Teams DR" in body and "B-1" in body
    assert "Teams users" in body  # the Teams connector's tab
    sub_url = re.search(r'href="(/subscriptions/[^"/?]+)/edit"', body).group(1)
    tab = text(client.get(f"{sub_url}?tab=teams"))
    assert "Teams users, resource accounts" in tab


def test_invite_sends_a_set_password_link_that_works_once(app, portal, make, caplog):
    group = make.group()
    client = portal(make.admin(group))
    client.get("/admins/new")
    with caplog.at_level(logging.WARNING, logger="webui.mail"):
        response = client.post(
            "/admins/new",
            {"email": "new.admin@example.test", "name": "New Admin", "role": "read_only"},
        )
    assert response.status_code == 302
    mail = "\n".join(r.getMessage() for r in caplog.records if r.name == "webui.mail")
    assert "To: new.admin@example.test" in mail
    link = re.search(r"http://localhost(/set-password/\S+)", mail).group(1)
    fresh = portal()
    fresh.get(link)
    short = fresh.post(link, {"password": "short", "confirm": "short"})
    assert short.status_code == 422
    assert 'id="f-password-error"' in text(short)
    ok = fresh.post(link, {"password": "a-long-password-1", "confirm": "a-long-password-1"})
    assert ok.status_code == 302
    assert fresh.get(link).status_code == 404  # single use
    fresh.get("/login")
    signed = fresh.post(
        "/login", {"email": "new.admin@example.test", "password": "a-long-password-1"}
    )
    assert signed.status_code == 302
    with app.app_context():
        entry = (
            get_db()
            .session.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity_type == "admins", AuditEntry.action == "update")
                .order_by(AuditEntry.id.desc())
            )
            .first()
        )
    assert entry.actor == "new.admin@example.test"
    assert "password_hash" in entry.changes
    assert "a-long-password-1" not in str(entry.changes)


def test_forgot_password_answers_the_same_for_unknown_addresses(portal, make, caplog):
    admin = make.admin(make.group())
    client = portal()
    client.get("/forgot-password")
    with caplog.at_level(logging.WARNING, logger="webui.mail"):
        unknown = client.post("/forgot-password", {"email": "nobody@example.test"})
        client.get("/forgot-password")
        known = client.post("/forgot-password", {"email": admin.email})
    assert unknown.status_code == known.status_code == 302
    mails = [r.getMessage() for r in caplog.records if r.name == "webui.mail"]
    assert len(mails) == 1
    assert f"To: {admin.email}" in mails[0]
    assert "/set-password/" in mails[0]


def test_audit_viewer_filters_and_shows_a_diff(portal, make):
    group = make.group()
    tenant = make.org("tenant", group, "Before Name")
    client = portal(make.admin(group))
    client.get(f"/orgs/{tenant.id}/edit")
    client.post(f"/orgs/{tenant.id}/edit", {"name": "After Name", "status": "active"})
    listing = text(client.get("/audit?action=update&entity_type=organizations"))
    rows = re.findall(r'href="/audit/(\d+)"', listing)
    assert len(rows) == 1
    diff = text(client.get(f"/audit/{rows[0]}"))
    assert "<del>Before Name</del>" in diff
    assert "<ins>After Name</ins>" in diff
    assert "via portal" in diff
    creates = text(client.get("/audit?action=create"))
    assert "update" not in re.findall(r'class="action action-(\w+)"', creates)


def test_audit_entries_out_of_scope_answer_404(portal, make, app):
    tree = make.tree()
    with app.app_context():
        sibling_entry = get_db().session.scalar(
            select(AuditEntry.id).where(AuditEntry.entity_id == str(tree["sibling_tenant"].id))
        )
    client = portal(make.admin(tree["tenant"]))
    assert client.get(f"/audit/{sibling_entry}").status_code == 404
    assert str(tree["sibling_tenant"].id)[:8] not in text(client.get("/audit"))


def test_global_search_finds_organisations_and_admins_in_scope(portal, make):
    tree = make.tree()
    admin = make.admin(tree["reseller"], email="findme@example.test")
    client = portal(admin)
    body = text(client.get(f"/search?q={tree['tenant'].name}"))
    assert "Organisations" in body and tree["tenant"].name in body
    sibling = text(client.get(f"/search?q={tree['sibling_tenant'].name}"))
    assert "Nothing matches" in sibling
    assert str(tree["sibling_tenant"].id) not in sibling
    assert "findme@example.test" in text(client.get("/search?q=findme"))


def test_unknown_portal_address_is_a_page_and_the_api_keeps_json(portal, api, make):
    client = portal(make.admin(make.group()))
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert "There is no page here." in text(page)
    missing = api.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.get_json()["code"] == "not_found"


def test_large_lists_count_only_up_to_a_cap(portal, make, monkeypatch):
    from webui import sections

    monkeypatch.setattr(sections, "PER_PAGE", 2)
    monkeypatch.setattr(sections, "COUNT_CAP", 3)
    group = make.group()
    for i in range(12):
        make.org("tenant", group, f"T{i:02d}")
    client = portal(make.admin(group))
    first = text(client.get("/tenants"))
    assert "<small>(3+)</small>" in first
    assert "<span>Page 1</span>" in first and 'rel="next"' in first
    last = text(client.get("/tenants?page=6"))
    assert "<small>(12)</small>" in last
    assert "<span>Page 6 of 6</span>" in last and 'rel="next"' not in last
    assert re.findall(r'<tr>\s*<td><a href="/orgs/[^"]+">([^<]+)</a></td>', last) == ["T10", "T11"]


def test_read_only_admins_get_no_quick_actions_and_writes_are_refused(portal, make):
    group = make.group()
    tenant = make.org("tenant", group, "Keep Me")
    client = portal(make.admin(group, role="read_only"))
    listing = text(client.get("/tenants"))
    assert "Keep Me" in listing
    assert 'aria-label="Edit Keep Me"' not in listing
    client.get(f"/orgs/{tenant.id}/edit")
    refused = client.post(f"/orgs/{tenant.id}/edit", {"name": "Changed"})
    assert refused.status_code == 422 or refused.status_code == 403
    assert "read-only" in text(refused)
    assert "Keep Me" in text(client.get(f"/orgs/{tenant.id}"))


def test_admin_edit_errors_show_beside_the_field(portal, make):
    group = make.group()
    me = make.admin(group)
    other = make.admin(group, email="other@example.test")
    client = portal(me)
    client.get(f"/admins/{me.id}/edit")
    demote = client.post(
        f"/admins/{me.id}/edit",
        {"email": me.email, "name": "Me", "role": "read_only", "active": "on"},
    )
    assert demote.status_code == 422
    assert re.search(
        r'id="f-role-error" class="field-error">Not on your own account\.', text(demote)
    )
    taken = client.post(
        f"/admins/{me.id}/edit",
        {"email": other.email, "name": "Me", "role": "admin", "active": "on"},
    )
    assert re.search(r'id="f-email-error" class="field-error">Already in use\.', text(taken))
    client.get(f"/admins/{other.id}/edit")
    ok = client.post(
        f"/admins/{other.id}/edit",
        {"email": other.email, "name": "Renamed Other", "role": "read_only"},
        follow_redirects=True,
    )
    body = text(ok)
    assert "other@example.test saved." in body
    row = re.search(r"<tr>\s*<td>other@example.test</td>(.*?)</tr>", body, re.S).group(1)
    assert "Renamed Other" in row and "read-only" in row and "inactive" in row


def test_sorting_keeps_the_lists_filters_and_settings_and_search_have_breadcrumbs(portal, make):
    group = make.group("Crumb Group")
    tenant = make.org("tenant", group, "Filtered")
    make.admin(tenant)
    client = portal(make.admin(group))
    page = client.get(f"/admins?org={tenant.id}&page=1").get_data(as_text=True)
    links = re.findall(r'<a href="\?([^"]*sort=[^"]*)"', page)
    assert links, "no sort link"
    for link in links:
        assert f"org={tenant.id}" in link.replace("&amp;", "&")
        assert "page=" not in link
    for path, last in (("/settings", "Settings"), ("/search?q=crumb", "Search")):
        body = text(client.get(path))
        crumbs = re.search(r'<nav aria-label="breadcrumb"(.*?)</nav>', body, re.S).group(1)
        assert [c.strip() for c in re.findall(r">([^<>]+)</(?:a|span)>", crumbs)] == [
            "Crumb Group",
            last,
        ]
