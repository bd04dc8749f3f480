"""The Numbers pages: inventory search and a number's history, import with a dry-run preview
and its per-row report, the request form and the upstream queue."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from fusion_core.numbering.search import number_url

# The numbering tests' helper (a hierarchy, stock numbers, entitlements), from its conftest.
_spec = importlib.util.spec_from_file_location(
    "numbering_helpers", Path(__file__).parent.parent / "numbering" / "conftest.py"
)
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)


@pytest.fixture
def nm(app, api, make):
    return _helpers.Numbering(app, api, make)


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def be(n: int) -> str:
    return f"+322555{n:04d}"


def test_import_preview_shows_the_report_and_writes_nothing(portal, api, make):
    group = make.group()
    admin = make.admin(group)
    client = portal(admin)
    page = client.get("/numbers/import")
    assert page.status_code == 200
    bad = client.post(
        "/numbers/import", {"csv": "number\n+3225550001\n+32255\n", "action": "preview"}
    )
    assert bad.status_code == 200
    body = text(bad)
    assert 'id="import-report"' in body
    assert "<td>3</td><td>+32255</td><td>number</td>" in body
    good = client.post(
        "/numbers/import", {"csv": "first,last\n+3225550000,+3225550009\n", "action": "preview"}
    )
    assert "Would create 10 number(s) in 1 range(s)." in text(good)
    assert api.as_(admin).get("numbers").json["items"] == []

    done = client.post(
        "/numbers/import",
        {"csv": "first,last\n+3225550000,+3225550009\n", "action": "import", "publish": "on"},
    )
    assert done.status_code == 302
    items = api.as_(admin).get("numbers").json["items"]
    assert [n["state"] for n in items] == ["available"] * 10
    refused = client.post("/numbers/import", {"csv": "number\n+3225550001\n", "action": "import"})
    assert refused.status_code == 422
    assert "f-csv-error" in text(refused)


def test_the_import_page_is_the_group_s_only(portal, make):
    tree = make.tree()
    assert portal(make.admin(tree["reseller"])).get("/numbers/import").status_code == 404


def test_inventory_search_and_number_history(portal, nm, app):
    nm.stock(be(1), be(2))
    nm.transfer("reseller", be(2))
    client = portal(nm.make.admin(nm.tree["reseller"]))
    page = text(client.get("/numbers?prefix=%2B322555"))
    assert be(2) in page and be(1) not in page
    bad = client.get("/numbers?prefix=abc")
    assert bad.status_code == 422
    assert "f-prefix-error" in text(bad)
    number = nm.group.get(f"numbers/{be(2)}").json
    history = text(client.get(f"/numbers/{number['id']}"))
    assert "transfer" in history and "import" in history
    assert client.get(f"/numbers/{nm.group.get(f'numbers/{be(1)}').json['id']}").status_code == 404
    with app.test_request_context():
        from fusion_core.numbering.models import PhoneNumber

        assert number_url(PhoneNumber(id=number["id"], e164=be(2))) == f"/numbers/{number['id']}"


def test_request_form_and_queue(portal, nm):
    nm.stock(be(1), be(2), be(3))
    sub = nm.subscription()
    nm.grant(sub, quantity=2)
    tenant = portal(nm.make.admin(nm.tree["tenant"]))
    assert "Reserve and request" in text(tenant.get("/number-requests"))
    form = {"subscription_id": str(sub.id), "country": "BE", "type": "geographic"}
    refused = tenant.post("/number-requests", {**form, "quantity": "4"})
    assert refused.status_code == 422
    assert "f-quantity-error" in text(refused)
    assert "4 asked, 3 available (BE geographic)." in text(refused)
    made = tenant.post("/number-requests", {**form, "quantity": "2"})
    assert made.status_code == 302
    assert "Approve" not in text(tenant.get("/number-requests"))

    reseller = portal(nm.make.admin(nm.tree["reseller"]))
    queue = text(reseller.get("/number-requests"))  # also the CSRF token
    assert f"{be(1)}, {be(2)}" in queue and "Approve" in queue
    request_id = nm.group.get("number-requests").json["items"][0]["id"]
    assert reseller.post(f"/number-requests/{request_id}/approve").status_code == 302
    assert [nm.group.get(f"numbers/{n}").json["state"] for n in (be(1), be(2))] == ["allocated"] * 2
    sibling = portal(nm.make.admin(nm.tree["sibling_reseller"]))
    assert request_id not in text(sibling.get("/number-requests?state="))


def test_tenant_page_numbers_card(portal, nm):
    nm.stock(*[be(n) for n in range(5)])
    sub = nm.subscription()
    nm.grant(sub, quantity=3)
    for n in (1, 2):
        allocated = nm.group.post(f"numbers/{be(n)}/allocate", {"subscription_id": str(sub.id)})
        assert allocated.status_code == 200, allocated.json
    nm.group.post(f"numbers/{be(3)}/reserve", {"tenant_id": str(nm.tree["tenant"].id)})
    reseller = portal(nm.make.admin(nm.tree["reseller"]))
    page = text(reseller.get(f"/orgs/{nm.tree['tenant'].id}"))
    card = re.search(r'<dl class="numbers-card">(.*?)</dl>', page).group(1)
    assert card == (
        "<dt>Allocated</dt><dd>2</dd><dt>Assigned</dt><dd>0</dd><dt>Free</dt><dd>2</dd>"
        "<dt>Reserved for requests</dt><dd>1</dd>"
    )
    assert f"/numbers?tenant_id={nm.tree['tenant'].id}" in page
    sibling = text(reseller.get(f"/orgs/{nm.tree['sibling_tenant'].id}"))
    assert "numbers-card" not in sibling  # out of scope: no page at all


def test_port_in_wizard_and_its_page(portal, nm):
    sub = nm.subscription()
    nm.grant(sub, quantity=5)
    nm.group.patch("number-settings", {"port_steps": {"BE": ["letter of authorisation"]}})
    tenant = portal(nm.make.admin(nm.tree["tenant"]))
    assert "Create port-in" in text(tenant.get("/port-ins"))
    form = {"subscription_id": str(sub.id), "current_carrier": "Old Telco",
            "account_reference": "ACC-1", "requested_date": "2030-01-15"}  # fmt: skip
    bad = tenant.post("/port-ins", {**form, "numbers": "+3225559999999"})
    assert bad.status_code == 422
    assert "f-numbers-error" in text(bad) and "too long" in text(bad)
    made = tenant.post("/port-ins", {**form, "numbers": "+3225570000\n+3225570010-+3225570011",
                                     "submit": "on"})  # fmt: skip
    assert made.status_code == 302, text(made)
    page_url = made.headers["Location"].removeprefix("http://localhost")
    page = text(tenant.get(page_url))
    assert "3 \u00d7 BE geographic" in page and "submitted" in page
    assert 'value="accept"' not in page  # the tenant's moves only: cancel
    assert 'value="cancel"' in page
    empty = tenant.post(page_url, {"what": "comment", "text": ""})
    assert empty.status_code == 422 and "f-text-error" in text(empty)
    assert tenant.post(page_url, {"what": "comment", "text": "LoA signed"}).status_code == 302

    group = portal(nm.make.admin(nm.tree["group"]))
    page = text(group.get(page_url))
    assert "LoA signed" in page and 'value="accept"' in page
    for what, extra in (("accept", {}), ("schedule", {"date": "2030-01-20"})):
        assert group.post(page_url, {"what": what, **extra}).status_code == 302
    refused = group.post(page_url, {"what": "complete"})
    assert refused.status_code == 422  # the portal answers its form with the errors
    assert "Not done: letter of authorisation." in text(refused)
    group.post(page_url, {"what": "step", "step": "letter of authorisation"})
    assert group.post(page_url, {"what": "complete"}).status_code == 302
    assert nm.group.get("numbers/+3225570011").json["state"] == "allocated"
    sibling = portal(nm.make.admin(nm.tree["sibling_reseller"]))
    assert sibling.get(page_url).status_code == 404


def test_number_page_actions_allocate_release_and_refuse_with_the_state(portal, nm):
    nm.stock(be(1), be(2))
    sub = nm.subscription()
    nm.grant(sub, quantity=1)
    number = nm.group.get(f"numbers/{be(1)}").json
    group = portal(nm.make.admin(nm.tree["group"]))
    page = text(group.get(f"/numbers/{number['id']}"))
    for action in ("Allocate", "Reserve", "Unpublish", "Retire"):
        assert f">{action}</button>" in page, action
    missing = group.post(f"/numbers/{number['id']}/allocate", {"subscription_id": ""})
    assert missing.status_code == 422
    assert 'id="f-subscription_id-error"' in text(missing)
    done = group.post(
        f"/numbers/{number['id']}/allocate",
        {"subscription_id": str(sub.id), "reason": "for Acme"},
        follow_redirects=True,
    )
    assert done.status_code == 200
    assert f"{be(1)}: allocate done; it is now allocated." in text(done)
    assert nm.entitlement(sub) == (1, 1)
    history = nm.group.get(f"numbers/{be(1)}/history").json
    assert (history[-1]["action"], history[-1]["reason"]) == ("allocate", "for Acme")
    # no entitlement left: the second allocation is refused and changes nothing
    other = nm.group.get(f"numbers/{be(2)}").json
    refused = group.post(f"/numbers/{other['id']}/allocate", {"subscription_id": str(sub.id)})
    assert refused.status_code == 409 and "entitlement" in text(refused)
    assert nm.group.get(f"numbers/{be(2)}").json["state"] == "available"
    # an action the state does not allow answers the current state
    illegal = group.post(f"/numbers/{number['id']}/publish", {})
    assert illegal.status_code == 409 and "is allocated" in text(illegal)
    released = group.post(f"/numbers/{number['id']}/release", {}, follow_redirects=True)
    assert "it is now aging" in text(released)
    assert nm.entitlement(sub) == (1, 0)


def test_a_tenant_sees_no_group_actions_and_a_read_only_admin_none(portal, nm):
    nm.stock(be(1))
    sub = nm.subscription()
    nm.grant(sub)
    assert (
        nm.group.post(f"numbers/{be(1)}/allocate", {"subscription_id": str(sub.id)}).status_code
        == 200
    )
    number_id = nm.group.get(f"numbers/{be(1)}").json["id"]
    tenant = text(portal(nm.make.admin(nm.tree["tenant"])).get(f"/numbers/{number_id}"))
    assert ">Release</button>" in tenant and ">Retire</button>" not in tenant
    viewer = portal(nm.make.admin(nm.tree["tenant"], role="read_only"))
    assert 'class="number-actions"' not in text(viewer.get(f"/numbers/{number_id}"))
    assert viewer.post(f"/numbers/{number_id}/release", {}).status_code == 403
    assert nm.group.get(f"numbers/{be(1)}").json["state"] == "allocated"


def test_ranges_page_publishes_and_imports_page_shows_progress(portal, nm):
    group = portal(nm.make.admin(nm.tree["group"]))
    group.get("/numbers/import")
    done = group.post(
        "/numbers/import",
        {"csv": "first,last\n+3225550000,+3225550009\n", "action": "import"},
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("/number-imports")
    imports = text(group.get("/number-imports"))
    assert '<progress value="10" max="10"' in imports and "completed" in imports
    ranges = text(group.get("/number-ranges"))
    assert "+3225550000" in ranges and "+3225550009" in ranges
    range_id = nm.group.get("number-ranges").json["items"][0]["id"]
    published = group.post(f"/number-ranges/{range_id}/publish", {}, follow_redirects=True)
    assert "10 number(s) published." in text(published)
    states = {n["state"] for n in nm.group.get("numbers?prefix=%2B322555").json["items"]}
    assert states == {"available"}
    reseller = portal(nm.make.admin(nm.tree["reseller"]))
    assert reseller.get("/number-ranges").status_code == 404
    assert reseller.get("/number-imports").status_code == 404


def test_subscription_numbers_tab_lists_its_numbers_and_targets(portal, nm):
    nm.stock(be(1), be(2), be(3))
    sub = nm.subscription()
    nm.grant(sub, quantity=2)
    for n in (1, 2):
        assert (
            nm.group.post(f"numbers/{be(n)}/allocate", {"subscription_id": str(sub.id)}).status_code
            == 200
        )
    tenant = portal(nm.make.admin(nm.tree["tenant"]))
    page = text(tenant.get(f"/subscriptions/{sub.id}?tab=numbers"))
    summary = re.search(r'<dl class="numbers-tab">(.*?)</dl>', page).group(1)
    assert summary == "<dt>Numbers</dt><dd>2</dd><dt>Assigned</dt><dd>0</dd><dt>Free</dt><dd>2</dd>"
    assert be(1) in page and be(2) in page and be(3) not in page
