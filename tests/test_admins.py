"""Administrators: created in scope with a role, emails unique, passwords long enough and
stored as argon2id; no one demotes, deactivates or deletes themselves; lists are scoped."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from fusion_core.audit.models import AuditEntry
from fusion_core.db import Base, get_db
from fusion_core.iam.models import Admin, ApiToken
from fusion_core.testing import PASSWORD


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        session = get_db().session
        return {
            t.name: session.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
        }


def stored(app, admin_id) -> Admin | None:
    with app.app_context():
        return get_db().session.get(Admin, admin_id)


@pytest.fixture
def tree(make):
    return make.tree()


def new_admin(org, **overrides):
    body = {
        "organization_id": str(org.id),
        "email": "New.Admin@Example.test",
        "name": "New Admin",
        "role": "read_only",
        "password": "a-long-enough-password",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def test_an_admin_creates_an_administrator_below(api, make, tree, app):
    client = api.as_(make.admin(tree["distributor"], password=None))
    response = client.post("admins", new_admin(tree["tenant"]))
    assert response.status_code == 201, response.json
    body = response.json
    assert body["email"] == "new.admin@example.test"  # normalised
    assert (body["role"], body["active"], body["organization_id"]) == (
        "read_only",
        True,
        str(tree["tenant"].id),
    )
    assert "password" not in body and "password_hash" not in body
    assert response.headers["ETag"]
    with app.app_context():
        admin = get_db().session.scalar(select(Admin).where(Admin.email == body["email"]))
        assert admin.password_hash.startswith("$argon2id$")
        assert admin.org_path == tree["tenant"].org_path
    login = api.post(
        "auth/tokens", {"email": "new.admin@example.test", "password": "a-long-enough-password"}
    )
    assert login.status_code == 201, login.json


def test_role_defaults_to_admin_and_an_invitation_has_no_password(api, make, tree, app):
    client = api.as_(make.admin(tree["group"], password=None))
    response = client.post("admins", new_admin(tree["reseller"], role=None, password=None))
    assert response.status_code == 201, response.json
    assert response.json["role"] == "admin"
    with app.app_context():
        admin = get_db().session.scalar(
            select(Admin).where(Admin.id == uuid.UUID(response.json["id"]))
        )
        assert admin.password_hash is None
    # Without a password nobody can log in with one.
    login = api.post("auth/tokens", {"email": "new.admin@example.test", "password": ""})
    assert login.status_code in (401, 422)


def test_duplicate_email_is_a_409_naming_email(api, make, tree, app):
    make.admin(tree["sibling_tenant"], email="taken@example.test", password=None)
    client = api.as_(make.admin(tree["reseller"], password=None))
    other = make.admin(tree["tenant"], password=None)
    before = row_counts(app)
    # Even when the holder is outside the caller's scope: emails are unique platform-wide.
    response = client.post("admins", new_admin(tree["tenant"], email="TAKEN@example.test"))
    assert response.status_code == 409, response.json
    assert response.json["errors"] == {"email": ["Already in use."]}
    changed = client.patch(f"admins/{other.id}", {"email": "taken@example.test"})
    assert changed.status_code == 409, changed.json
    assert "email" in changed.json["errors"]
    assert row_counts(app) == before


@pytest.mark.parametrize("password", ["short", "123456789"])
def test_password_too_short_is_a_422_naming_password(api, make, tree, app, password):
    client = api.as_(make.admin(tree["group"], password=None))
    before = row_counts(app)
    response = client.post("admins", new_admin(tree["tenant"], password=password))
    assert response.status_code == 422, response.json
    assert response.json["errors"] == {"password": ["Use at least 10 characters."]}
    target = make.admin(tree["tenant"], password=None)
    before = row_counts(app)
    changed = client.patch(f"admins/{target.id}", {"password": password})
    assert changed.status_code == 422
    assert "password" in changed.json["errors"]
    assert row_counts(app) == before


def test_admins_are_created_only_in_scope_and_only_by_the_admin_role(api, make, tree, app):
    reseller = api.as_(make.admin(tree["reseller"], password=None))
    viewer = api.as_(make.admin(tree["reseller"], role="read_only", password=None))
    before = row_counts(app)
    for org in (tree["sibling_tenant"], tree["distributor"], tree["group"]):
        refused = reseller.post("admins", new_admin(org))
        assert refused.status_code == 422, refused.json
        assert "organization_id" in refused.json["errors"]
    refused = viewer.post("admins", new_admin(tree["tenant"]))
    assert refused.status_code == 403, refused.json
    assert row_counts(app) == before


def test_no_one_demotes_deactivates_or_deletes_themselves(api, make, tree, app):
    me = make.admin(tree["reseller"], password=None)
    client = api.as_(me)
    for change, field in (({"role": "read_only"}, "role"), ({"active": False}, "active")):
        refused = client.patch(f"admins/{me.id}", change)
        assert refused.status_code == 403, refused.json
        assert field in refused.json["errors"]
    refused = client.delete(f"admins/{me.id}")
    assert refused.status_code == 403, refused.json
    assert "own account" in refused.json["message"]
    mine = stored(app, me.id)
    assert (mine.role, mine.active) == ("admin", True)
    # Renaming oneself is fine, and so is re-sending one's own role.
    fine = client.patch(f"admins/{me.id}", {"name": "Me", "role": "admin"})
    assert fine.status_code == 200, fine.json


def test_an_admin_changes_and_deletes_another_below_audited(api, make, tree, app):
    client = api.as_(make.admin(tree["distributor"], password=None))
    target = make.admin(tree["tenant"], password=None)
    make.token(target)
    changed = client.patch(f"admins/{target.id}", {"role": "read_only", "name": "Renamed"})
    assert changed.status_code == 200, changed.json
    assert (changed.json["role"], changed.json["name"]) == ("read_only", "Renamed")
    gone = client.delete(f"admins/{target.id}")
    assert gone.status_code == 204
    assert client.get(f"admins/{target.id}").status_code == 404
    with app.app_context():
        session = get_db().session
        assert session.scalar(select(func.count()).where(ApiToken.admin_id == target.id)) == 0
        actions = session.execute(
            select(AuditEntry.entity_type, AuditEntry.action).where(
                AuditEntry.via == "api", AuditEntry.action != "create"
            )
        ).all()
    assert ("admins", "update") in actions
    assert ("admins", "delete") in actions and ("api_tokens", "delete") in actions


def test_admin_lists_are_scoped_and_filterable(api, make, tree):
    reseller_admin = make.admin(tree["reseller"], password=None)
    tenant_viewer = make.admin(tree["tenant"], role="read_only", password=None)
    sibling = make.admin(tree["sibling_tenant"], password=None)
    group_admin = make.admin(tree["group"], password=None)
    client = api.as_(reseller_admin)

    listed = client.get("admins?per_page=200")
    assert listed.status_code == 200
    emails = {a["email"] for a in listed.json["items"]}
    assert emails == {reseller_admin.email, tenant_viewer.email}
    assert listed.json["total"] == 2
    assert sibling.email not in listed.data.decode()
    assert group_admin.email not in listed.data.decode()

    by_org = client.get(f"admins?organization_id={tree['tenant'].id}")
    assert [a["email"] for a in by_org.json["items"]] == [tenant_viewer.email]
    by_role = client.get("admins?role=read_only")
    assert [a["email"] for a in by_role.json["items"]] == [tenant_viewer.email]
    searched = client.get("admins", query_string={"q": reseller_admin.email[:10].upper()})
    assert [a["email"] for a in searched.json["items"]] == [reseller_admin.email]
    assert client.get(f"admins/{sibling.id}").status_code == 404
    assert client.get(f"admins/{group_admin.id}").status_code == 404


def test_me_reports_the_organisation(api, make, tree):
    admin = make.admin(tree["reseller"], password=PASSWORD)
    me = api.as_(admin).get("auth/me")
    assert me.status_code == 200
    assert me.json["organization_kind"] == "reseller"
    assert me.json["organization_name"] == tree["reseller"].name
    assert me.json["admin"]["id"] == str(admin.id)
