"""The SIP-trunk portal pages (Flask test client, signed in, CSRF like a browser): the trunk
list with one-click creation and per-SBC sync badges, each tab of a trunk with real data and a
refused form's reason beside its field, the calling plan's locks, scope, the group's Settings
and the portal hooks (tenant card, subscription tab, menu, search)."""

from __future__ import annotations

import html
import re
import uuid

import pages_rig
from fusion_siptrunk.models import Trunk
from pages_rig import NUMBERS, text

from fusion_core.testing import PortalClient as Portal

memory_driver = pages_rig.memory_driver  # fixtures
rig = pages_rig.rig


def trunks_page(rig) -> str:
    return f"/siptrunk/subscriptions/{rig.sub.id}/trunks"


NEW_TRUNK = {
    "name": "Head office PBX",
    "kind": "ip_pbx",
    "licence": "national",
    "pbx_host": "198.51.100.7",
    "pbx_port": "5060",
    "transport": "",
    "max_calls": "2",
    "country": "GB",
}


def field_error(body: str, name: str) -> str:
    found = re.search(rf'<small id="f-{re.escape(name)}-error" class="field-error">([^<]*)<', body)
    assert found, f"no error beside {name}"
    return html.unescape(found.group(1))


# --- the trunk list -------------------------------------------------------------------------


def test_one_click_trunk_on_every_sbc_with_sync_badges(rig):
    client = Portal(rig.app, rig.tenant_admin)
    empty = client.get(trunks_page(rig))
    assert empty.status_code == 200
    body = text(empty)
    assert "No trunk yet." in body and "<details open" in body
    assert f'<a href="/subscriptions/{rig.sub.id}">Trunking</a>' in body  # breadcrumb
    # the layout's sidebar, seen by an upstream admin, opens down to the subscription's tenant
    upstream = text(Portal(rig.app, rig.reseller_admin).get(trunks_page(rig)))
    sidebar = upstream.split('<aside class="sidebar"', 1)[1].split("</aside>", 1)[0]
    assert f'href="/orgs/{rig.tree["tenant"].id}" class="node" aria-current="page"' in sidebar

    created = client.post(trunks_page(rig), NEW_TRUNK)
    assert created.status_code == 302, text(created)
    assert "/siptrunk/trunks/" in created.headers["Location"]
    assert len(rig.driver.trunks) == 2  # one access trunk on each SBC, applied by the job

    rig.driver.down.add("pop-b")
    teams = client.post(
        trunks_page(rig),
        {
            **NEW_TRUNK,
            "name": "Teams",
            "kind": "teams",
            "pbx_host": "sbc.contoso.example",
            "pbx_port": "",
            "max_calls": "1",
        },
    )
    assert teams.status_code == 302, text(teams)
    body = text(client.get(trunks_page(rig)))
    row = re.search(r'<tr id="trunk-[^"]+"> <td><a href="[^"]+">Head office PBX</a>.*?</tr>', body)
    assert row, body
    assert "<td>IP-PBX</td> <td>national</td> <td>2</td> <td>0</td>" in row.group(0)
    assert 'data-sbc="pop-a">pop-a: ✓ in sync</span>' in row.group(0)
    assert 'data-sbc="pop-b">pop-b: ✓ in sync</span>' in row.group(0)
    teams_row = re.search(r'<tr id="trunk-[^"]+"> <td><a href="[^"]+">Teams</a>.*?</tr>', body)
    assert "<td>Microsoft Teams</td>" in teams_row.group(0)
    assert re.search(
        r'<span class="sync sync-failed" title="[^"]*pop-b does not answer \(connection refused\)"'
        r' data-sbc="pop-b">pop-b: ✗ failed</span>',
        teams_row.group(0),
    )
    assert "Delete</a>" in teams_row.group(0)


def test_a_refused_new_trunk_shows_each_reason_beside_its_field(rig):
    client = Portal(rig.app, rig.tenant_admin)
    client.get(trunks_page(rig))
    refused = client.post(
        trunks_page(rig), {**NEW_TRUNK, "pbx_host": "not a host!", "max_calls": "2"}
    )
    assert refused.status_code == 422
    body = text(refused)
    assert "is neither an IP address nor a fully qualified host name" in field_error(
        body, "pbx_host"
    )
    assert 'value="not a host!"' in body and "No trunk yet." in body
    too_many = text(client.post(trunks_page(rig), {**NEW_TRUNK, "max_calls": "zero"}))
    assert field_error(too_many, "max_calls") == "A whole number from 1 to 10000."
    teams_udp = text(
        client.post(
            trunks_page(rig),
            {**NEW_TRUNK, "kind": "teams", "pbx_host": "sbc.contoso.example", "transport": "udp"},
        )
    )
    assert field_error(teams_udp, "transport") == "Teams Direct Routing needs TLS."
    assert rig.driver.trunks == {}


def test_delete_a_trunk_after_confirmation(rig):
    trunk_id = rig.trunk()
    client = Portal(rig.app, rig.tenant_admin)
    confirm = client.get(f"/siptrunk/trunks/{trunk_id}/delete")
    assert confirm.status_code == 200
    assert "Delete trunk Head office PBX?" in text(confirm)
    assert len(rig.driver.trunks) == 2
    deleted = client.post(f"/siptrunk/trunks/{trunk_id}/delete")
    assert deleted.status_code == 302
    assert rig.driver.trunks == {}
    body = text(client.get(deleted.headers["Location"]))
    assert "Trunk Head office PBX deleted" in body and "No trunk yet." in body


# --- the trunk's tabs -----------------------------------------------------------------------


def test_details_tab_saves_and_shows_sync_per_pop_with_resync(rig):
    trunk_id = rig.trunk(billing_id="BILL-7")
    page = f"/siptrunk/trunks/{trunk_id}"
    client = Portal(rig.app, rig.tenant_admin)
    body = text(client.get(page))
    assert 'aria-current="page">Details &amp; Settings</a>' in body
    assert 'id="f-name" name="name" type="text" value="Head office PBX"' in body
    assert 'value="BILL-7"' in body
    assert re.search(
        r'<td>pop-a <small class="muted">locale-a</small></td> <td><span class="sync sync-in_sync"',
        body,
    )
    assert 'Disaster recovery</strong> <span class="on-off on">off</span>' in body

    form = {"name": "HQ PBX", "billing_id": "BILL-8", "format_in": "national",
            "format_out": "e164", "inbound_enabled": "on", "outbound_enabled": "on",
            "dr_destination": "", "address_id": ""}  # fmt: skip
    refused = client.post(page, {**form, "dr_active": "on"})
    assert refused.status_code == 422
    body = text(refused)
    assert field_error(body, "dr_destination").startswith("Set a disaster-recovery destination")
    assert 'value="HQ PBX"' in body  # what was typed stays

    saved = client.post(page, {**form, "dr_destination": "+441632960999"})
    assert saved.status_code == 302
    body = text(client.get(page))
    assert "Trunk HQ PBX saved" in body and 'value="BILL-8"' in body
    assert '<option value="national" selected>' in body

    # The prominent switch activates disaster recovery.
    switched = client.post(f"{page}/switch", {"field": "dr_active", "value": "on"})
    assert switched.status_code == 302
    body = text(client.get(page))
    assert "Disaster recovery activated on HQ PBX." in body
    assert (
        '<span class="on-off off">ACTIVE</span> <span class="muted">→ +441632960999</span>' in body
    )
    off = client.post(f"{page}/switch", {"field": "outbound_enabled", "value": "off"})
    assert off.status_code == 302
    assert "Outbound calls disabled on HQ PBX." in text(client.get(page))

    # An SBC that fails shows its error beside its PoP; Resync after it is back.
    rig.driver.down.add("pop-b")
    client.post(f"{page}/resync")
    body = text(client.get(page))
    assert re.search(
        r'<td>pop-b .*?sync-failed.*?<small class="field-error">(SbcUnavailable: )?pop-b does not answer',
        body,
    )
    assert 'class="sync sync-failed"' in body.split('id="sync-status"')[1][:200]
    rig.driver.down.clear()
    client.post(f"{page}/resync")
    body = text(client.get(page))
    assert "a new sync with every SBC was requested" in body
    assert 'class="sync sync-failed"' not in body


def test_capacity_tab_trunk_and_subscription_limits(rig):
    trunk_id = rig.trunk()
    page = f"/siptrunk/trunks/{trunk_id}/capacity"
    client = Portal(rig.app, rig.tenant_admin)
    body = text(client.get(page))
    assert 'id="f-max_calls" name="max_calls" type="number" value="2"' in body
    assert '<dd id="cap-ordered">4</dd>' in body and '<dd id="cap-configured">2</dd>' in body
    assert '<dd id="cap-limit"><strong>4</strong></dd>' in body

    too_many = client.post(
        f"/siptrunk/trunks/{trunk_id}/subscription-capacity", {"sub_max_calls": "9"}
    )
    assert too_many.status_code == 422
    assert field_error(text(too_many), "sub_max_calls") == (
        "At most the 4 SIP channel(s) the subscription has ordered."
    )
    assert (
        client.post(
            f"/siptrunk/trunks/{trunk_id}/subscription-capacity", {"sub_max_calls": "3"}
        ).status_code
        == 302
    )
    body = text(client.get(page))
    assert (
        '<dd id="cap-own">3</dd>' in body and '<dd id="cap-limit"><strong>3</strong></dd>' in body
    )

    over = client.post(page, {"max_calls": "4"})
    assert over.status_code == 422
    assert (
        field_error(text(over), "max_calls")
        == "At most the subscription's limit of 3 simultaneous calls."
    )
    assert client.post(page, {"max_calls": "3"}).status_code == 302
    assert 'id="f-max_calls" name="max_calls" type="number" value="3"' in text(client.get(page))


def test_dids_tab_add_edit_remove(rig):
    trunk_id = rig.trunk()
    without = rig.trunk(name="No address", address_id=None)
    client = Portal(rig.app, rig.tenant_admin)
    client.get(f"/siptrunk/trunks/{without}/dids")
    refused = client.post(
        f"/siptrunk/trunks/{without}/dids", {"number_id": rig.number_id(NUMBERS[0])}
    )
    assert refused.status_code == 422
    assert field_error(text(refused), "address_id") == (
        f"GB requires a validated emergency address for {NUMBERS[0]}: give the DID or its trunk one."
    )
    page = f"/siptrunk/trunks/{trunk_id}/dids"
    client = Portal(rig.app, rig.tenant_admin)
    body = text(client.get(page))
    assert "No DID on this trunk yet." in body
    for e164 in NUMBERS:
        assert f"{e164} (geographic)</option>" in body

    added = client.post(page, {"number_id": rig.number_id(NUMBERS[0]), "rewrite_to": "201"})
    assert added.status_code == 302, text(added)
    bad = client.post(page, {"number_id": rig.number_id(NUMBERS[1]), "divert_to": "12"})
    assert bad.status_code == 422
    assert (
        field_error(text(bad), "divert_to")
        == "'12' is not a number in E.164 form (+ and country code)."
    )
    client.post(page, {"number_id": rig.number_id(NUMBERS[1])})
    body = text(client.get(page))
    assert re.search(
        rf"<td>{re.escape(NUMBERS[0])}</td> <td><strong>pilot</strong></td> <td>201</td>", body
    )
    assert re.search(rf"<td>{re.escape(NUMBERS[1])}</td> <td></td> <td>—</td>", body)
    assert f"{NUMBERS[0]} (geographic)</option>" not in body  # assigned now

    edit = re.search(rf'href="(/siptrunk/trunks/{trunk_id}/dids/[^"]+)">Edit</a>', body).group(1)
    refused = client.post(edit, {"dr_active": "on"})
    assert refused.status_code == 422
    assert (
        field_error(text(refused), "dr_destination")
        == "Set this DID's disaster-recovery destination first."
    )
    saved = client.post(
        edit,
        {"rewrite_to": "202", "dr_destination": "+441632960999", "dr_active": "on", "pilot": "on"},
    )
    assert saved.status_code == 302
    body = text(client.get(page))
    assert (
        "<td>202</td>" in body
        and '+441632960999 <span class="sync sync-failed">active</span>' in body
    )

    remove = re.search(rf'action="(/siptrunk/trunks/{trunk_id}/dids/[^"]+/remove)"', body).group(1)
    assert client.post(remove).status_code == 302
    body = text(client.get(page))
    assert "taken off trunk" in body and body.count('<tr id="did-') == 1


def test_call_barring_block_and_allow_lists(rig):
    trunk_id = rig.trunk()
    page = f"/siptrunk/trunks/{trunk_id}/calls"
    client = Portal(rig.app, rig.tenant_admin)
    body = text(client.get(page))
    assert "The block list is empty." in body and "The allow list is empty." in body
    assert (
        client.post(
            f"/siptrunk/trunks/{trunk_id}/barring",
            {"barred": ["premium", "mobile"], "barring": "1"},
        ).status_code
        == 302
    )
    body = text(client.get(page))
    assert 'id="barred-premium" checked' in body and 'id="barred-mobile" checked' in body
    assert 'id="barred-national" >' in body or 'id="barred-national"  >' in body

    bad = client.post(
        f"/siptrunk/trunks/{trunk_id}/lists/block", {"block_prefix": "449", "block_note": "x"}
    )
    assert bad.status_code == 422
    assert "is not an E.164 prefix" in field_error(text(bad), "block_prefix")
    assert (
        client.post(
            f"/siptrunk/trunks/{trunk_id}/lists/block",
            {"block_prefix": "+449", "block_note": "premium"},
        ).status_code
        == 302
    )
    assert (
        client.post(
            f"/siptrunk/trunks/{trunk_id}/lists/allow", {"allow_prefix": "+44800"}
        ).status_code
        == 302
    )
    twice = client.post(f"/siptrunk/trunks/{trunk_id}/lists/allow", {"allow_prefix": "+44800"})
    assert field_error(text(twice), "allow_prefix") == "+44800 is already on the allow list."
    body = text(client.get(page))
    assert "<td>+449</td><td>premium</td>" in body and "<td>+44800</td><td></td>" in body
    remove = re.search(r'action="(/siptrunk/trunks/[^"]+/lists/block/[^"]+/remove)"', body).group(1)
    assert client.post(remove).status_code == 302
    assert "The block list is empty." in text(client.get(page))


def test_calling_plan_locks_are_for_upstream_admins(rig):
    trunk_id = rig.trunk()
    page = f"/siptrunk/trunks/{trunk_id}/plan"
    reseller = Portal(rig.app, rig.reseller_admin)
    body = text(reseller.get(page))
    assert "Calling plan for <strong>GB</strong>" in body
    assert '<th scope="col">Locked</th>' in body
    assert 'name="locked.premium"' in body
    # The reseller locks mobile (enabled) and premium (disabled by default).
    form = {"present.mobile": "1", "enabled.mobile": "on", "locked.mobile": "on",
            "present.premium": "1", "locked.premium": "on"}  # fmt: skip
    assert reseller.post(page, form).status_code == 302

    tenant = Portal(rig.app, rig.tenant_admin)
    body = text(tenant.get(page))
    assert '<th scope="col">Locked</th>' not in body and 'name="locked.' not in body
    mobile = re.search(r'<tr id="class-mobile">.*?</tr>', body).group(0)
    assert "🔒 locked" in mobile and "disabled" in mobile and 'name="present.mobile"' not in mobile
    free = re.search(r'<tr id="class-toll_free">.*?</tr>', body).group(0)
    assert "disabled" not in free.replace('sync-pending">disabled', "")
    # The tenant turns an unlocked class off; a forged change of a locked one is refused.
    assert (
        tenant.post(
            page, {"present.toll_free": "1", "present.mobile": "1", "enabled.mobile": "on"}
        ).status_code
        == 302
    )
    body = text(tenant.get(page))
    assert re.search(
        r'<tr id="class-toll_free">.*?<span class="sync sync-pending">disabled</span>', body
    )
    forged = tenant.post(page, {"present.mobile": "1"})
    assert forged.status_code == 403
    assert "Locked: ask your provider to change it." in text(forged)


def test_access_trunks_tab_add_edit_remove(rig):
    trunk_id = rig.trunk()
    page = f"/siptrunk/trunks/{trunk_id}/access"
    client = Portal(rig.app, rig.tenant_admin)
    body = text(client.get(page))
    assert body.count('<tr id="access-') == 2
    assert (
        "<td>pop-a</td><td>locale-a</td><td>—</td><td>both</td> <td>off</td><td>UDP</td><td>198.51.100.7</td><td>5060</td> <td>0</td><td>50</td>"
        in body
    )
    assert 'id="new-access"' not in body  # every SBC has one

    rig.sbc(name="pop-c", locale="locale-c", signalling_host="192.0.2.3")
    body = text(client.get(page))
    assert '<option value="' in body and ">pop-c (locale-c)</option>" in body
    bad = client.post(
        page,
        {
            "sbc_id": rig.sbc_ids[0],
            "host": "198.51.100.8",
            "port": "5060",
            "transport": "udp",
            "direction": "both",
            "priority": "2",
            "weight": "50",
        },
    )
    assert bad.status_code == 422
    assert field_error(text(bad), "sbc_id") == "The trunk already has an access trunk on that SBC."
    sbc_c = re.search(r'<option value="([^"]+)" >pop-c', body) or re.search(
        r'<option value="([^"]+)"\s*>pop-c', body
    )
    added = client.post(
        page,
        {
            "sbc_id": sbc_c.group(1),
            "host": "198.51.100.8",
            "port": "5080",
            "transport": "tcp",
            "direction": "inbound",
            "realm": "pbx.example.net",
            "priority": "2",
            "weight": "10",
            "options_ping": "on",
        },
    )
    assert added.status_code == 302, text(added)
    body = text(client.get(page))
    assert (
        "<td>pop-c</td><td>locale-c</td><td>pbx.example.net</td><td>inbound</td> <td>on</td><td>TCP</td><td>198.51.100.8</td><td>5080</td>"
        in body
    )
    assert len(rig.driver.trunks) == 3

    edit = re.search(rf'href="(/siptrunk/trunks/{trunk_id}/access/[^"]+)">Edit</a>', body).group(1)
    refused = client.post(
        edit,
        {
            "host": "198.51.100.7",
            "port": "99999",
            "transport": "udp",
            "direction": "both",
            "priority": "0",
            "weight": "50",
            "locale": "locale-a",
        },
    )
    assert refused.status_code == 422
    assert field_error(text(refused), "port") == "A port number from 1 to 65535."
    remove = re.search(rf'action="(/siptrunk/trunks/{trunk_id}/access/[^"]+/remove)"', body).group(
        1
    )
    assert client.post(remove).status_code == 302
    assert text(client.get(page)).count('<tr id="access-') == 2


def test_another_tenant_s_trunk_is_not_found(rig):
    trunk_id = rig.trunk()
    other = Portal(rig.app, rig.sibling_admin)
    for path in ("", "/capacity", "/dids", "/calls", "/plan", "/access", "/delete"):
        response = other.get(f"/siptrunk/trunks/{trunk_id}{path}")
        assert response.status_code == 404, path
        assert "Not found" in text(response)
    assert other.get(trunks_page(rig)).status_code == 404
    assert other.post(f"/siptrunk/trunks/{trunk_id}/delete").status_code == 404
    assert len(rig.driver.trunks) == 2  # still there
    # The reseller above sees it.
    assert (
        Portal(rig.app, rig.reseller_admin).get(f"/siptrunk/trunks/{trunk_id}").status_code == 200
    )


# --- the group's settings -------------------------------------------------------------------


def test_settings_lists_sbcs_without_secrets_and_reconciles(rig):
    trunk_id = rig.trunk()
    client = Portal(rig.app, rig.group_admin)
    page = client.get("/siptrunk/settings")
    assert page.status_code == 200
    body = text(page)
    assert "<code>192.0.2.1:5060</code>" in body and "<td>memory</td>" in body
    assert "<code>postgresql://kam:••••@db-a.example.net/kamailio</code>" in body
    assert "s3cret" not in body
    assert '<small class="muted">never</small>' in body

    sbc_a = rig.sbc_ids[0]
    with rig.app.app_context():
        key = rig.session().get(Trunk, uuid.UUID(trunk_id)).key
    rig.driver.trunks[("pop-a", key)] = {"trunk": ["edited by hand"]}  # drift
    rig.driver.trunks[("pop-a", 9999)] = {"trunk": ["left over"]}  # orphan
    assert client.post(f"/siptrunk/settings/sbcs/{sbc_a}/reconcile").status_code == 302
    body = text(client.get("/siptrunk/settings"))
    row = re.search(rf'<tr id="sbc-{sbc_a}">.*?</tr>', body).group(0)
    assert "1 trunk(s) checked, drift repaired on Head office PBX, 1 orphan(s) removed" in row
    assert ("pop-a", 9999) not in rig.driver.trunks

    # A refused SBC keeps what was typed with the reason beside the field.
    client.get("/siptrunk/settings/sbcs/new")
    refused = client.post(
        "/siptrunk/settings/sbcs/new",
        {
            "name": "pop-c",
            "driver": "memory",
            "signalling_host": "not a host!",
            "signalling_port": "5060",
            "enabled": "on",
            "settings": "{}",
        },
    )
    assert refused.status_code == 422
    assert "neither an IP address" in field_error(text(refused), "signalling_host")
    created = client.post(
        "/siptrunk/settings/sbcs/new",
        {
            "name": "pop-c",
            "driver": "memory",
            "signalling_host": "192.0.2.3",
            "signalling_port": "5060",
            "enabled": "on",
            "settings": '{"rpc_token": "tok-xyzzy-secret"}',
            "carrier_gateways": "192.0.2.50 5060 udp",
        },
    )
    assert created.status_code == 302, text(created)
    body = text(client.get("/siptrunk/settings"))
    assert "<strong>rpc_token</strong>: <code>••••</code>" in body and "xyzzy" not in body
    assert "<code>192.0.2.50:5060/udp</code>" in body

    # Group block list and a calling plan.
    bad = client.post("/siptrunk/settings/block", {"prefix": "88", "note": ""})
    assert bad.status_code == 422
    assert "is not an E.164 prefix" in field_error(text(bad), "prefix")
    assert (
        client.post("/siptrunk/settings/block", {"prefix": "+88", "note": "sat"}).status_code == 302
    )
    body = text(client.get("/siptrunk/settings"))
    assert "<td>+88</td><td>sat</td>" in body
    assert '<details id="plan-GB">' in body  # made for the trunk
    added = client.post("/siptrunk/settings/plans", {"country": "NL"})
    assert added.status_code == 302
    edit = client.get(added.headers["Location"])
    assert "Calling plan NL" in text(edit) and "national_fixed" in text(edit)
    broken = client.post(
        added.headers["Location"], {"classes": '[{"key": "x", "category": "nope"}]'}
    )
    assert broken.status_code == 422
    assert "One of: international" in field_error(text(broken), "classes")


def test_settings_are_the_group_s_only(rig):
    for admin in (rig.reseller_admin, rig.tenant_admin):
        client = Portal(rig.app, admin)
        assert client.get("/siptrunk/settings").status_code == 404
        assert client.get(f"/siptrunk/settings/sbcs/{rig.sbc_ids[0]}").status_code == 404


# --- portal hooks ---------------------------------------------------------------------------


def test_tenant_card_subscription_tab_menu_and_search(rig):
    rig.trunk(billing_id="ACME-TRUNK-1")
    tenant = rig.tree["tenant"]
    client = Portal(rig.app, rig.tenant_admin)
    body = text(client.get(f"/orgs/{tenant.id}"))
    card = re.search(r'<article class="card" id="card-siptrunk-trunks">.*?</article>', body)
    assert card, body
    assert (
        f'<a href="/siptrunk/subscriptions/{rig.sub.id}/trunks">Trunking</a>: 1 trunk(s)'
        in card.group(0)
    )
    assert '<span class="sync sync-in_sync">in sync</span>' in card.group(0)
    assert 'id="card-siptrunk-addresses"' in body  # the addresses card stays

    body = text(client.get(f"/subscriptions/{rig.sub.id}"))
    assert f'<li><a href="/siptrunk/subscriptions/{rig.sub.id}/trunks" >Trunks</a></li>' in body
    assert '<li><a href="/siptrunk/trunks" >Trunks</a></li>' in body  # menu
    assert '<li><a href="/siptrunk/reports/capacity" >SIP capacity</a></li>' in body

    found = text(client.get("/search?q=acme-trunk"))
    assert "Head office PBX" in found and "IP-PBX · ACME-TRUNK-1" in found
    other = Portal(rig.app, rig.sibling_admin)
    assert "Head office PBX" not in text(other.get("/search?q=acme-trunk"))
    index = text(Portal(rig.app, rig.reseller_admin).get("/siptrunk/trunks?q=head"))
    assert "Head office PBX" in index and tenant.name in index
    group_menu = text(Portal(rig.app, rig.group_admin).get("/siptrunk/settings"))
    assert '<a href="/siptrunk/settings" aria-current="page">SIP settings</a>' in group_menu


def test_read_only_admins_see_the_trunk_without_forms_and_cannot_write(rig):
    trunk_id = rig.trunk()
    viewer = Portal(rig.app, rig.make.admin(rig.tree["tenant"], role="read_only"))
    body = text(viewer.get(f"/siptrunk/trunks/{trunk_id}"))
    assert (
        "Head office PBX" in body
        and ">Resync</button>" not in body
        and ">Save</button>" not in body
    )
    assert ">Activate</button>" not in body
    assert 'id="new-trunk"' not in text(viewer.get(trunks_page(rig)))
    refused = viewer.post(f"/siptrunk/trunks/{trunk_id}/resync")
    assert refused.status_code == 403
    assert "read-only" in text(refused)
    switched = viewer.post(
        f"/siptrunk/trunks/{trunk_id}/switch", {"field": "dr_active", "value": "on"}
    )
    assert switched.status_code == 403


def test_tenant_sip_settings_page_saves_the_defaults_of_new_trunks(rig):
    tenant = rig.tree["tenant"]
    client = Portal(rig.app, rig.tenant_admin)
    page = f"/siptrunk/tenants/{tenant.id}/settings"
    assert f'href="{page}"' in text(client.get(f"/orgs/{tenant.id}"))  # from the Trunks card
    body = text(client.get(page))
    assert "SIP-trunking settings" in body and "Head office" in body  # the address choices

    refused = client.post(page, {"country": "GB", "format_in": "sideways", "format_out": "e164"})
    assert refused.status_code == 422
    assert "Use one of" in field_error(text(refused), "format_in")

    saved = client.post(
        page,
        {"country": "GB", "format_in": "national", "format_out": "international",
         "address_id": str(rig.address_id)},
    )  # fmt: skip
    assert saved.status_code == 200 and "Saved" in text(saved), text(saved)
    made = client.post(trunks_page(rig), {**NEW_TRUNK, "country": ""})
    assert made.status_code in (200, 302), text(made)
    with rig.app.app_context():
        from sqlalchemy import select

        from fusion_core.db import get_db

        trunk = get_db().session.scalar(select(Trunk).where(Trunk.name == NEW_TRUNK["name"]))
        assert (trunk.format_in, trunk.format_out, trunk.address_id) == (
            "national",
            "international",
            uuid.UUID(str(rig.address_id)),
        )

    other = Portal(rig.app, rig.sibling_admin)
    assert other.get(page).status_code == 404
