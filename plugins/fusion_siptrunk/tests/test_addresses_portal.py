"""The portal's Addresses pages (Flask test client, signed in, CSRF like a browser): the list
with status badges, the form with the reasons beside their fields, validate, delete, the card."""

from __future__ import annotations

import re

import pytest
from fusion_siptrunk import addresses

from fusion_core.context import acting_as
from fusion_core.db import get_db
from fusion_core.hierarchy.models import Organization
from fusion_core.iam import services as iam
from fusion_core.iam.models import Admin
from fusion_core.testing import PortalClient as Portal

DOWNING = {
    "label": "Head office",
    "country": "GB",
    "street_lines": "10 Downing Street\n",
    "city": "London",
    "postal_code": "SW1A 2AA",
}


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


@pytest.fixture
def tree(make):
    tree = make.tree()
    tree["tenant_admin"] = make.admin(tree["tenant"])
    return tree


def page(tenant) -> str:
    return f"/siptrunk/tenants/{tenant.id}/addresses"


def test_the_list_shows_each_address_with_its_status(app, tree):
    client = Portal(app, tree["tenant_admin"])
    empty = client.get(page(tree["tenant"]))
    assert empty.status_code == 200
    assert "No address yet." in text(empty)
    created = client.post(page(tree["tenant"]), DOWNING)
    assert created.status_code == 302
    broken = client.post(page(tree["tenant"]), {**DOWNING, "label": "Depot", "postal_code": ""})
    assert broken.status_code == 302
    body = text(client.get(page(tree["tenant"])))
    assert re.search(r">Depot</a></td> <td>10 Downing Street, London, GB</td>", body)
    assert 'class="status address-status status-invalid">✗ invalid</span>' in body
    assert re.search(
        r">Head office</a></td> <td>10 Downing Street, SW1A 2AA, LONDON, GB</td>", body
    )
    assert 'class="status address-status status-valid">✓ valid</span>' in body
    # The tenant's breadcrumb and the portal's layout (menu, CSRF) are there.
    tenant = tree["tenant"]
    assert f'<li><a href="/orgs/{tenant.id}">{tenant.name}</a></li>' in body
    assert '<li><span aria-current="page">Addresses</span></li>' in body
    assert 'name="csrf_token"' in body


def test_an_invalid_address_is_saved_and_its_reason_shown_beside_the_field(app, tree):
    client = Portal(app, tree["tenant_admin"])
    client.get(page(tree["tenant"]))
    saved = client.post(page(tree["tenant"]), {**DOWNING, "postal_code": "12"})
    assert saved.status_code == 302
    edit = client.get(saved.headers["Location"])
    assert edit.status_code == 200
    body = text(edit)
    assert "saved, but it is not valid" in body
    assert re.search(
        r'id="f-postal_code" name="postal_code" type="text" value="12" '
        r'aria-invalid="true" aria-describedby="f-postal_code-error">',
        body,
    )
    assert re.search(
        r'<small id="f-postal_code-error" class="field-error">'
        r"Not a valid postal code format for GB \(e.g. EC1Y 8SY",
        body,
    )
    assert "f-city-error" not in body

    blank = client.post(saved.headers["Location"], {**DOWNING, "label": "", "postal_code": "1"})
    assert blank.status_code == 422
    body = text(blank)
    assert '<small id="f-label-error" class="field-error">Length must be between 1 and 200' in body
    assert 'value="1"' in body  # what was typed stays in the form

    fixed = client.post(saved.headers["Location"], {**DOWNING, "postal_code": "ec1y 8sy"})
    assert fixed.status_code == 302
    body = text(client.get(fixed.headers["Location"]))
    assert "saved and valid" in body
    assert "field-error" not in body
    assert 'value="EC1Y 8SY"' in body


def test_a_refused_form_keeps_what_was_typed_with_the_error_beside_the_field(app, tree):
    client = Portal(app, tree["tenant_admin"])
    client.get(page(tree["tenant"]))
    refused = client.post(page(tree["tenant"]), {**DOWNING, "country": "XQ", "label": ""})
    assert refused.status_code == 422
    body = text(refused)
    assert re.search(
        r'<small id="f-country-error" class="field-error">Unknown country: use an ISO 3166-1', body
    )
    assert re.search(r'<small id="f-label-error" class="field-error">', body)
    assert 'value="SW1A 2AA"' in body and "<details open" in body
    assert "No address yet." in body  # nothing was saved


def test_validate_again_and_delete_with_confirmation(app, tree):
    client = Portal(app, tree["tenant_admin"])
    client.get(page(tree["tenant"]))
    location = client.post(page(tree["tenant"]), DOWNING).headers["Location"]
    address_id = location.rstrip("/").rsplit("/", 1)[-1]
    client.get(location)
    again = client.post(f"/siptrunk/addresses/{address_id}/validate")
    assert again.status_code == 302
    assert "Address Head office: valid." in text(client.get(location))

    confirm = client.get(f"/siptrunk/addresses/{address_id}/delete")
    assert confirm.status_code == 200
    assert "Delete address Head office?" in text(confirm)
    deleted = client.post(f"/siptrunk/addresses/{address_id}/delete")
    assert deleted.status_code == 302
    assert "No address yet." in text(client.get(page(tree["tenant"])))
    assert client.get(location).status_code == 404


def test_another_tenant_s_admin_finds_no_page(app, make, tree):
    client = Portal(app, tree["tenant_admin"])
    client.get(page(tree["tenant"]))
    location = client.post(page(tree["tenant"]), DOWNING).headers["Location"]
    other = Portal(app, make.admin(tree["sibling_tenant"]))
    assert other.get(location).status_code == 404
    assert other.get(page(tree["tenant"])).status_code == 404
    # A tenant's administrator is sent to their own addresses.
    own = other.get("/siptrunk/addresses")
    assert own.status_code == 302
    assert own.headers["Location"].endswith(page(tree["sibling_tenant"]))


def test_a_read_only_admin_sees_the_list_without_the_form(app, make, tree):
    reader = Portal(app, make.admin(tree["tenant"], role="read_only"))
    body = text(reader.get(page(tree["tenant"])))
    assert "No address yet." in body
    assert "New address" not in body
    refused = reader.post(page(tree["tenant"]), DOWNING)
    assert refused.status_code == 422
    assert "read-only" in text(refused)


def test_the_tenant_card(app, api, tree):
    api.as_(tree["tenant_admin"]).post(
        "siptrunk/addresses",
        json={"tenant_id": str(tree["tenant"].id), "label": "HQ", "country": "GB"},
    )
    with app.test_request_context("/"):
        session = get_db().session
        admin = session.get(Admin, tree["tenant_admin"].id)
        actor = iam.actor_for(admin, "portal", "test")
        with acting_as(actor):
            card = addresses.tenant_card(actor, session.get(Organization, tree["tenant"].id))
    assert card.title == "Emergency addresses"
    assert card.url == page(tree["tenant"])
    assert str(card.body).startswith("<p>1 address(es), 0 valid.</p><p>1 need(s) attention")
