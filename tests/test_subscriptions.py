"""Subscriptions: a tenant's use of one registered UC platform; managed from above the tenant,
unknown platforms refused naming the registered ones, lifecycle through the API."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from fusion_core.db import Base, get_db


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        session = get_db().session
        return {
            t.name: session.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
        }


@pytest.fixture
def tree(make):
    return make.tree()


@pytest.fixture
def platforms(app) -> list[str]:
    return sorted(app.extensions["fusion"].registry.platforms)


def test_platforms_lists_every_registered_platform_with_its_plugin(api, make, platforms):
    client = api.as_(make.admin(make.group(), password=None))
    response = client.get("platforms")
    assert response.status_code == 200
    assert [p["key"] for p in response.json] == platforms
    installed = {"siptrunk", "teams", "anywherenow"}
    assert installed <= set(platforms), "the three connector distributions are installed"
    for platform in response.json:
        assert platform["name"] and platform["plugin"]


def test_a_subscription_of_each_platform(api, make, tree, platforms):
    client = api.as_(make.admin(tree["reseller"], password=None))
    for platform in platforms:
        created = client.post(
            f"tenants/{tree['tenant'].id}/subscriptions",
            {"platform": platform, "name": f"{platform} service", "billing_id": f"L-{platform}"},
        )
        assert created.status_code == 201, created.json
        assert created.json["tenant_id"] == str(tree["tenant"].id)
        assert (created.json["platform"], created.json["status"]) == (platform, "active")
        assert created.json["billing_id"] == f"L-{platform}"
        assert created.headers["ETag"]
    listed = client.get(f"tenants/{tree['tenant'].id}/subscriptions")
    assert listed.json["total"] == len(platforms)
    assert sorted(s["platform"] for s in listed.json["items"]) == platforms


def test_unknown_platform_is_refused_naming_the_registered_ones(api, make, tree, app, platforms):
    client = api.as_(make.admin(tree["group"], password=None))
    before = row_counts(app)
    response = client.post(
        f"tenants/{tree['tenant'].id}/subscriptions", {"platform": "fax", "name": "Fax"}
    )
    assert response.status_code == 422, response.json
    reason = response.json["errors"]["platform"][0]
    for platform in platforms:
        assert platform in reason
    assert row_counts(app) == before


def test_subscriptions_belong_to_tenants_only(api, make, tree, app, platforms):
    client = api.as_(make.admin(tree["group"], password=None))
    before = row_counts(app)
    for org in ("reseller", "distributor", "group"):
        response = client.post(
            f"tenants/{tree[org].id}/subscriptions", {"platform": platforms[0], "name": "S"}
        )
        assert response.status_code == 404, (org, response.json)
    assert row_counts(app) == before


def test_tenant_admins_see_but_do_not_manage_subscriptions(api, make, tree, app, platforms):
    sub = make.subscription(tree["tenant"], platforms[0], name="Voice")
    client = api.as_(make.admin(tree["tenant"], password=None))
    assert client.get(f"subscriptions/{sub.id}").json["name"] == "Voice"
    assert [s["id"] for s in client.get("subscriptions").json["items"]] == [str(sub.id)]
    before = row_counts(app)
    for method, path, body in (
        (
            "POST",
            f"tenants/{tree['tenant'].id}/subscriptions",
            {"platform": platforms[0], "name": "S"},
        ),
        ("PATCH", f"subscriptions/{sub.id}", {"name": "Mine now"}),
        ("PATCH", f"subscriptions/{sub.id}", {"status": "cancelled"}),
        ("DELETE", f"subscriptions/{sub.id}", None),
    ):
        response = client.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.json)
    assert row_counts(app) == before


def test_out_of_scope_subscriptions_are_404(api, make, tree, platforms):
    sibling_sub = make.subscription(tree["sibling_tenant"], platforms[0])
    client = api.as_(make.admin(tree["reseller"], password=None))
    for method, path, body in (
        ("GET", f"subscriptions/{sibling_sub.id}", None),
        ("PATCH", f"subscriptions/{sibling_sub.id}", {"name": "x"}),
        ("DELETE", f"subscriptions/{sibling_sub.id}", None),
        ("GET", f"tenants/{tree['sibling_tenant'].id}/subscriptions", None),
        (
            "POST",
            f"tenants/{tree['sibling_tenant'].id}/subscriptions",
            {"platform": platforms[0], "name": "S"},
        ),
    ):
        response = client.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.json)
    assert client.get("subscriptions").json["total"] == 0


def test_update_cancel_and_delete(api, make, tree, platforms):
    sub = make.subscription(tree["tenant"], platforms[0], name="Voice")
    client = api.as_(make.admin(tree["distributor"], password=None))
    renamed = client.patch(f"subscriptions/{sub.id}", {"name": "Voice 2", "billing_id": "B-9"})
    assert renamed.status_code == 200, renamed.json
    assert (renamed.json["name"], renamed.json["billing_id"]) == ("Voice 2", "B-9")
    assert renamed.json["version"] == 2
    refused = client.patch(f"subscriptions/{sub.id}", {"platform": platforms[-1]})
    assert refused.status_code == 422 and "platform" in refused.json["errors"]
    refused = client.patch(f"subscriptions/{sub.id}", {"status": "paused"})
    assert refused.status_code == 422 and "status" in refused.json["errors"]
    cancelled = client.patch(f"subscriptions/{sub.id}", {"status": "cancelled"})
    assert cancelled.json["status"] == "cancelled"
    listed = client.get("subscriptions?status=cancelled")
    assert [s["id"] for s in listed.json["items"]] == [str(sub.id)]
    assert client.delete(f"subscriptions/{sub.id}").status_code == 204
    assert client.get(f"subscriptions/{sub.id}").status_code == 404
