"""Hierarchy rules (DESIGN.md §4): parents of every kind, who may create what, read-only roles,
deletion with its reasons (plugins add blockers), and what no one may do to their own org."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from fusion_core.app import create_app
from fusion_core.audit.models import AuditEntry
from fusion_core.db import Base, get_db
from fusion_core.hookspecs import hookimpl
from fusion_core.iam.models import Admin, ApiToken
from fusion_core.testing import ApiClient, Factory, settings_for_tests

COLLECTION = {"distributor": "distributors", "reseller": "resellers", "tenant": "tenants"}
ALLOWED = {
    "distributor": {"group"},
    "reseller": {"group", "distributor"},
    "tenant": {"group", "distributor", "reseller"},
}


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
def group_client(api, make, tree):
    return api.as_(make.admin(tree["group"], password=None))


@pytest.mark.parametrize("kind", sorted(ALLOWED))
@pytest.mark.parametrize("parent_kind", ["group", "distributor", "reseller", "tenant"])
def test_parent_rules_for_every_kind(group_client, tree, app, kind, parent_kind):
    parent = tree[parent_kind]
    before = row_counts(app)
    response = group_client.post(COLLECTION[kind], {"parent_id": str(parent.id), "name": "New"})
    if parent_kind in ALLOWED[kind]:
        assert response.status_code == 201, response.json
        assert response.json["kind"] == kind
        assert response.json["parent_id"] == str(parent.id)
        assert response.json["path"][:-1] == [str(i) for i in parent.ancestor_ids]
    else:
        assert response.status_code == 422, response.json
        reason = response.json["errors"]["parent_id"][0]
        assert f"not a {parent_kind}" in reason and "must be a" in reason
        assert row_counts(app) == before


def test_a_group_cannot_be_created_through_the_api(group_client, tree):
    for collection in ("groups", "organizations"):
        assert group_client.post(collection, {"name": "G"}).status_code in (404, 405)
    refused = group_client.post("distributors", {"name": "D"})  # no parent: not a group either
    assert refused.status_code == 422 and "parent_id" in refused.json["errors"]


def test_who_may_create_what(api, make, tree, app):
    distributor_admin = api.as_(make.admin(tree["distributor"], password=None))
    reseller_admin = api.as_(make.admin(tree["reseller"], password=None))
    tenant_admin = api.as_(make.admin(tree["tenant"], password=None))

    made = distributor_admin.post(
        "resellers", {"parent_id": str(tree["distributor"].id), "name": "By distributor"}
    )
    assert made.status_code == 201, made.json
    made = reseller_admin.post("tenants", {"parent_id": str(tree["reseller"].id), "name": "T"})
    assert made.status_code == 201, made.json

    before = row_counts(app)
    # A reseller admin cannot create a distributor: the group is out of its scope, and its own
    # reseller is no place for one.
    for parent in (tree["group"], tree["distributor"], tree["reseller"]):
        refused = reseller_admin.post("distributors", {"parent_id": str(parent.id), "name": "D"})
        assert refused.status_code == 422, refused.json
        assert "parent_id" in refused.json["errors"]
    refused = distributor_admin.post(
        "distributors", {"parent_id": str(tree["group"].id), "name": "D"}
    )
    assert refused.status_code == 422
    assert "in your scope" in refused.json["errors"]["parent_id"][0]
    # A tenant admin creates no organisation at all.
    for collection in COLLECTION.values():
        refused = tenant_admin.post(collection, {"parent_id": str(tree["tenant"].id), "name": "X"})
        assert refused.status_code == 422, (collection, refused.json)
    # ... nor subscriptions (those are its provider's business).
    platform = sorted(app.extensions["fusion"].registry.platforms)[0]
    refused = tenant_admin.post(
        f"tenants/{tree['tenant'].id}/subscriptions", {"platform": platform, "name": "S"}
    )
    assert refused.status_code == 403, refused.json
    assert row_counts(app) == before


def test_read_only_gets_403_in_scope_and_404_out_of_scope(api, make, tree, app):
    viewer = api.as_(make.admin(tree["reseller"], role="read_only", password=None))
    before = row_counts(app)
    in_scope = [
        ("POST", "tenants", {"parent_id": str(tree["reseller"].id), "name": "T"}),
        ("PATCH", f"tenants/{tree['tenant'].id}", {"name": "Renamed"}),
        ("PATCH", f"resellers/{tree['reseller'].id}", {"name": "Renamed"}),
        ("DELETE", f"tenants/{tree['tenant'].id}", None),
    ]
    for method, path, body in in_scope:
        response = viewer.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.json)
        assert "read-only" in response.json["message"]
    out_of_scope = [
        ("PATCH", f"tenants/{tree['sibling_tenant'].id}", {"name": "Renamed"}),
        ("DELETE", f"tenants/{tree['sibling_tenant'].id}", None),
        ("GET", f"resellers/{tree['sibling_reseller'].id}", None),
        ("PATCH", f"distributors/{tree['distributor'].id}", {"name": "Renamed"}),
    ]
    for method, path, body in out_of_scope:
        response = viewer.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.json)
    assert viewer.get(f"tenants/{tree['tenant'].id}").status_code == 200
    assert row_counts(app) == before


def test_delete_is_refused_with_reasons_while_children_or_live_subscriptions_exist(
    group_client, make, tree, app
):
    before = row_counts(app)
    refused = group_client.delete(f"resellers/{tree['reseller'].id}")
    assert refused.status_code == 409, refused.json
    assert refused.json["errors"]["id"] == ["it has 1 child organisation(s)"]

    live = make.subscription(tree["tenant"])
    make.subscription(tree["tenant"], status="cancelled")
    before = row_counts(app)
    refused = group_client.delete(f"tenants/{tree['tenant'].id}")
    assert refused.status_code == 409, refused.json
    assert refused.json["errors"]["id"] == ["it has 1 live subscription(s); cancel them first"]
    assert "cannot be deleted" in refused.json["message"]
    assert row_counts(app) == before

    # Once the live one is cancelled, cancelled subscriptions do not block.
    cancel = group_client.patch(f"subscriptions/{live.id}", {"status": "cancelled"})
    assert cancel.status_code == 200
    gone = group_client.delete(f"tenants/{tree['tenant'].id}")
    assert gone.status_code == 204, gone.json
    assert group_client.get(f"tenants/{tree['tenant'].id}").status_code == 404
    assert group_client.get(f"subscriptions/{live.id}").status_code == 404
    # Now the reseller is childless and can go too.
    assert group_client.delete(f"resellers/{tree['reseller'].id}").status_code == 204


def test_deleting_an_org_deletes_its_admins_and_tokens_audited(group_client, make, tree, app):
    admin = make.admin(tree["sibling_tenant"], password=None)
    secret = make.token(admin)
    sibling_client = ApiClient(app, make, secret)
    assert sibling_client.get("auth/me").status_code == 200

    gone = group_client.delete(f"tenants/{tree['sibling_tenant'].id}")
    assert gone.status_code == 204, gone.data
    assert sibling_client.get("auth/me").status_code == 401
    with app.app_context():
        session = get_db().session
        assert session.get(Admin, admin.id) is None
        assert session.scalar(select(func.count()).where(ApiToken.admin_id == admin.id)) == 0
        deleted = session.execute(
            select(AuditEntry.entity_type, AuditEntry.entity_id).where(
                AuditEntry.action == "delete"
            )
        ).all()
    types = {t for t, _ in deleted}
    assert {"organizations", "admins", "api_tokens"} <= types
    assert ("admins", str(admin.id)) in deleted
    assert ("organizations", str(tree["sibling_tenant"].id)) in deleted


class Blocker:
    """A tiny plugin that holds on to one entity."""

    def __init__(self) -> None:
        self.blocked: set[uuid.UUID] = set()

    @hookimpl
    def deletion_blockers(self, entity):
        if entity.id in self.blocked:
            return ["it has 2 SIP trunks"]
        return []


def test_a_plugins_deletion_blocker_refuses_the_delete(app, fusion_database_url, tmp_path):
    blocker = Blocker()
    other = create_app(
        settings_for_tests(fusion_database_url, tmp_path, PLUGIN_OBJECTS=[("blocker", blocker)])
    )
    try:
        make = Factory(other)
        tree = make.tree()
        client = ApiClient(other, make).as_(make.admin(tree["group"], password=None))
        sub = make.subscription(tree["sibling_tenant"], status="cancelled")
        blocker.blocked = {tree["sibling_tenant"].id, sub.id}

        refused = client.delete(f"tenants/{tree['sibling_tenant'].id}")
        assert refused.status_code == 409, refused.json
        assert refused.json["errors"]["id"] == ["it has 2 SIP trunks"]
        refused = client.delete(f"subscriptions/{sub.id}")
        assert refused.status_code == 409, refused.json
        assert refused.json["errors"]["id"] == ["it has 2 SIP trunks"]

        blocker.blocked = set()
        assert client.delete(f"subscriptions/{sub.id}").status_code == 204
        assert client.delete(f"tenants/{tree['sibling_tenant'].id}").status_code == 204
    finally:
        other.extensions["fusion.db"].engine.dispose()


def test_no_one_deletes_or_suspends_their_own_organisation(api, make, tree, app):
    for level, collection in (("distributor", "distributors"), ("tenant", "tenants")):
        client = api.as_(make.admin(tree[level], password=None))
        org_id = tree[level].id
        deleted = client.delete(f"{collection}/{org_id}")
        assert deleted.status_code == 403, deleted.json
        assert "own organisation" in deleted.json["message"]
        suspended = client.patch(f"{collection}/{org_id}", {"status": "suspended"})
        assert suspended.status_code == 403, suspended.json
        assert "status" in suspended.json["errors"]
        renamed = client.patch(f"{collection}/{org_id}", {"name": f"Own {level}"})
        assert renamed.status_code == 200  # renaming is fine
    distributor = api.as_(make.admin(tree["distributor"], password=None))
    # from above, suspending works
    done = distributor.patch(f"tenants/{tree['tenant'].id}", {"status": "suspended"})
    assert done.status_code == 200 and done.json["status"] == "suspended"


def test_a_suspended_tenant_is_listed_with_its_status(group_client, tree):
    group_client.patch(f"tenants/{tree['tenant'].id}", {"status": "suspended"})
    listed = group_client.get("tenants?status=active")
    assert [t["id"] for t in listed.json["items"]] == [str(tree["sibling_tenant"].id)]
