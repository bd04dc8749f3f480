"""List conventions (pagination with the total, search, sort, filters), ETag / If-Match against
lost updates, and the request id on every response."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from fusion_core.audit.models import AuditEntry
from fusion_core.db import get_db


@pytest.fixture
def shop(make, api):
    """A reseller with tenants named so that search and sort have something to show."""
    tree = make.tree()
    names = ["Delta Bakery", "alpha Dental", "Charlie Cafe", "bravo Books", "Echo Dental"]
    tenants = {
        name: make.org("tenant", tree["reseller"], name, external_billing_id=f"CRM-{i}")
        for i, name in enumerate(names)
    }
    client = api.as_(make.admin(tree["group"], password=None))
    return tree, tenants, client


def names(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [item["name"] for item in response.json["items"]]


def audit_count(app) -> int:
    with app.app_context():
        return get_db().session.scalar(select(func.count()).select_from(AuditEntry))


def test_pagination_reports_total_and_pages_without_overlap(shop):
    tree, _tenants, client = shop
    within = {"within": str(tree["reseller"].id)}
    seen = []
    for page in (1, 2, 3):
        response = client.get("tenants", query_string={**within, "per_page": 2, "page": page})
        body = response.json
        assert (body["total"], body["pages"], body["page"], body["per_page"]) == (6, 3, page, 2)
        seen += names(response)
    assert len(seen) == len(set(seen)) == 6
    beyond = client.get("tenants", query_string={**within, "per_page": 2, "page": 4})
    assert beyond.json["items"] == [] and beyond.json["total"] == 6


def test_search_is_case_insensitive_over_name_and_billing_id(shop):
    _tree, _tenants, client = shop
    assert sorted(names(client.get("tenants?q=DENTAL"))) == ["Echo Dental", "alpha Dental"]
    assert names(client.get("tenants?q=crm-2")) == ["Charlie Cafe"]
    nothing = client.get("tenants?q=zzz")
    assert nothing.json["items"] == [] and nothing.json["total"] == 0


def test_search_treats_wildcards_as_characters(shop, make):
    tree, _tenants, client = shop
    make.org("tenant", tree["reseller"], "100% Fibre")
    make.org("tenant", tree["reseller"], "snake_case Ltd")
    make.org("tenant", tree["reseller"], "Back\\slash")
    assert names(client.get("tenants", query_string={"q": "%"})) == ["100% Fibre"]
    assert names(client.get("tenants", query_string={"q": "_"})) == ["snake_case Ltd"]
    assert names(client.get("tenants", query_string={"q": "e_c"})) == ["snake_case Ltd"]
    assert names(client.get("tenants", query_string={"q": "k\\s"})) == ["Back\\slash"]
    assert names(client.get("tenants", query_string={"q": "0% F"})) == ["100% Fibre"]


def test_sort_ascending_descending_and_stable(shop, make):
    tree, tenants, client = shop
    within = f"within={tree['reseller'].id}"
    ascending = names(client.get(f"tenants?{within}&sort=name"))
    descending = names(client.get(f"tenants?{within}&sort=-name"))
    assert ascending == sorted(ascending, key=str)  # byte order on both engines
    assert descending == list(reversed(ascending))
    created = names(client.get(f"tenants?{within}&sort=created_at"))
    assert created[0] == tree["tenant"].name and created[1:] == list(tenants)

    # Equal sort keys: the id breaks the tie, so pages never repeat or skip a row.
    for _ in range(3):
        make.org("tenant", tree["sibling_reseller"], "Same")
    order = [
        item["id"]
        for page in (1, 2, 3)
        for item in client.get(
            "tenants", query_string={"q": "same", "sort": "name", "per_page": 1, "page": page}
        ).json["items"]
    ]
    assert order == sorted(order) and len(set(order)) == 3
    again = client.get("tenants", query_string={"q": "same", "sort": "name", "per_page": 3})
    assert [i["id"] for i in again.json["items"]] == order


def test_filters(shop, api, make):
    tree, tenants, client = shop
    suspended = tenants["Charlie Cafe"]
    patched = client.patch(f"tenants/{suspended.id}", {"status": "suspended"})
    assert patched.status_code == 200, patched.json
    assert names(client.get("tenants?status=suspended")) == ["Charlie Cafe"]
    assert names(client.get("tenants?external_billing_id=CRM-4")) == ["Echo Dental"]
    assert names(client.get(f"tenants?parent_id={tree['sibling_reseller'].id}")) == [
        tree["sibling_tenant"].name
    ]
    assert names(client.get(f"resellers?parent_id={tree['distributor'].id}&sort=name")) == sorted(
        [tree["reseller"].name, tree["sibling_reseller"].name]
    )
    within = client.get(f"tenants?within={tree['sibling_reseller'].id}")
    assert names(within) == [tree["sibling_tenant"].name]

    platforms = sorted(api.app.extensions["fusion"].registry.platforms)
    assert len(platforms) >= 2, platforms
    make.subscription(tree["tenant"], platforms[0], name="One")
    make.subscription(tree["tenant"], platforms[1], name="Two")
    by_platform = client.get(f"subscriptions?platform={platforms[1]}")
    assert names(by_platform) == ["Two"]
    assert names(client.get(f"tenants/{tree['tenant'].id}/subscriptions?sort=-name")) == [
        "Two",
        "One",
    ]


def test_etag_on_get_post_and_patch_and_if_match(shop, app):
    tree, _tenants, client = shop
    created = client.post("tenants", {"parent_id": str(tree["reseller"].id), "name": "New"})
    assert created.status_code == 201
    first = created.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}-1"', first), first
    tenant_id = created.json["id"]
    fetched = client.get(f"tenants/{tenant_id}")
    assert fetched.headers["ETag"] == first

    updated = client.patch(f"tenants/{tenant_id}", {"name": "Newer"}, headers={"If-Match": first})
    assert updated.status_code == 200, updated.json
    second = updated.headers["ETag"]
    assert second != first and updated.json["version"] == 2

    before = audit_count(app)
    stale = client.patch(f"tenants/{tenant_id}", {"name": "Lost"}, headers={"If-Match": first})
    assert stale.status_code == 412, stale.json
    assert stale.json["code"] == "precondition_failed"
    assert second in stale.json["errors"]["If-Match"][0]
    stale_delete = client.delete(f"tenants/{tenant_id}", headers={"If-Match": first})
    assert stale_delete.status_code == 412
    current = client.get(f"tenants/{tenant_id}")
    assert current.json["name"] == "Newer" and current.headers["ETag"] == second
    assert audit_count(app) == before

    weak = client.patch(
        f"tenants/{tenant_id}", {"name": "Weak"}, headers={"If-Match": f"W/{second}"}
    )
    assert weak.status_code == 200
    third = weak.headers["ETag"]
    listed = client.patch(
        f"tenants/{tenant_id}", {"name": "Listed"}, headers={"If-Match": f'"nope", {third}'}
    )
    assert listed.status_code == 200
    deleted = client.delete(f"tenants/{tenant_id}", headers={"If-Match": listed.headers["ETag"]})
    assert deleted.status_code == 204
    assert client.get(f"tenants/{tenant_id}").status_code == 404


def test_if_match_on_subscriptions_and_admins(shop, make):
    tree, _tenants, client = shop
    sub = make.subscription(tree["tenant"])
    etag = client.get(f"subscriptions/{sub.id}").headers["ETag"]
    assert client.patch(f"subscriptions/{sub.id}", {"name": "B"}).status_code == 200
    stale = client.patch(f"subscriptions/{sub.id}", {"name": "C"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert client.get(f"subscriptions/{sub.id}").json["name"] == "B"

    admin = make.admin(tree["tenant"], password=None)
    etag = client.get(f"admins/{admin.id}").headers["ETag"]
    assert client.patch(f"admins/{admin.id}", {"name": "Renamed"}).status_code == 200
    stale = client.delete(f"admins/{admin.id}", headers={"If-Match": etag})
    assert stale.status_code == 412
    assert client.get(f"admins/{admin.id}").json["name"] == "Renamed"


def test_request_id_is_echoed_or_generated(shop, api):
    _tree, _tenants, client = shop
    echoed = client.get("tenants", headers={"X-Request-ID": "trace-42.a_b"})
    assert echoed.headers["X-Request-ID"] == "trace-42.a_b"
    generated = client.get("tenants")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])
    assert generated.headers["X-Request-ID"] != client.get("tenants").headers["X-Request-ID"]
    for bad in ("has space", "x" * 65, "semi;colon", "<script>"):
        replaced = client.get("tenants", headers={"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["X-Request-ID"]), bad
    error = api.get("tenants", headers={"X-Request-ID": "err-1"})  # no token: 401
    assert error.status_code == 401
    assert error.headers["X-Request-ID"] == "err-1" and error.json["request_id"] == "err-1"
    assert api.get("/healthz", headers={"X-Request-ID": "hz"}).headers["X-Request-ID"] == "hz"
