"""The audit log: every change recorded in its own transaction, secrets redacted, append-only,
readable through /api/v1/audit within one's scope — and no model escapes it (meta-test)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from fusion_core.audit.models import AuditEntry
from fusion_core.context import SYSTEM, Actor, acting_as
from fusion_core.db import Base, get_db, utcnow
from fusion_core.hierarchy import services as hierarchy
from fusion_core.hierarchy.models import Organization, Subscription
from fusion_core.hookspecs import hookimpl
from fusion_core.iam import services as iam
from fusion_core.iam.models import Admin, ApiToken
from fusion_core.jobs import JobDefinition, enqueue
from fusion_core.jobs.models import mark
from fusion_core.testing import need_service, settings_for_tests

CLI = Actor(label="cli:operator", via="cli", unrestricted=True)


def entries(app, **where: Any) -> list[AuditEntry]:
    with app.app_context():
        stmt = select(AuditEntry).filter_by(**where).order_by(AuditEntry.id)
        return list(get_db().session.scalars(stmt))


def audit_count(app) -> int:
    with app.app_context():
        return get_db().session.scalar(select(func.count()).select_from(AuditEntry))


# --- through the API -------------------------------------------------------------------------


def test_api_create_update_delete_are_recorded_with_who_what_and_request_id(api, make, app):
    tree = make.tree()
    admin = make.admin(tree["distributor"])
    client = api.as_(admin)

    created = client.post(
        "tenants",
        {"parent_id": str(tree["reseller"].id), "name": "Shop", "external_billing_id": "B-1"},
        headers={"X-Request-ID": "req-create-1"},
    )
    assert created.status_code == 201, created.json
    tenant_id = created.json["id"]
    changed = client.patch(
        f"tenants/{tenant_id}", {"name": "Shop 2"}, headers={"X-Request-ID": "req-update-1"}
    )
    assert changed.status_code == 200, changed.json
    gone = client.delete(f"tenants/{tenant_id}", headers={"X-Request-ID": "req-delete-1"})
    assert gone.status_code == 204, gone.data

    rows = entries(app, entity_type="organizations", entity_id=tenant_id)
    assert [r.action for r in rows] == ["create", "update", "delete"]
    for row, request_id in zip(rows, ["req-create-1", "req-update-1", "req-delete-1"], strict=True):
        assert row.actor_id == admin.id
        assert row.actor == admin.email
        assert row.via == "api"
        assert row.request_id == request_id
        assert row.organization_id == uuid.UUID(tenant_id)
        assert row.org_path == tree["reseller"].org_path + uuid.UUID(tenant_id).hex + "/"
        assert row.at is not None and abs(utcnow() - row.at) < timedelta(minutes=5)
    create, update_, delete_ = (r.changes for r in rows)
    assert create["name"] == [None, "Shop"]
    assert create["parent_id"] == [None, str(tree["reseller"].id)]
    assert create["external_billing_id"] == [None, "B-1"]
    assert update_ == {"name": ["Shop", "Shop 2"]}  # only what changed
    assert delete_["name"] == ["Shop 2", None]


def test_service_calls_as_the_cli_actor_are_recorded_as_cli(app, make):
    group = make.group()
    with app.app_context(), acting_as(CLI):
        session = get_db().session
        org = hierarchy.create_organization(session, "distributor", group.id, "From the shell")
        hierarchy.update_organization(session, org, {"name": "Renamed in the shell"})
        org_id = org.id
    rows = entries(app, entity_id=str(org_id))
    assert [(r.action, r.via, r.actor, r.actor_id) for r in rows] == [
        ("create", "cli", "cli:operator", None),
        ("update", "cli", "cli:operator", None),
    ]
    assert rows[1].changes == {"name": ["From the shell", "Renamed in the shell"]}
    # The event outbox row written in the same transaction is not itself audited.
    assert not entries(app, entity_type="events")


def test_a_job_is_recorded_as_the_job_actor_with_the_request_id_that_queued_it(
    app, make, fusion_database_url, tmp_path
):
    class RenamingPlugin:
        @staticmethod
        def rename(org_id: str, new_name: str) -> None:
            org = get_db().session.get(Organization, uuid.UUID(org_id))
            org.name = new_name

        @hookimpl
        def register_jobs(self):
            return [JobDefinition("audit_test.rename", self.rename)]

    tenant = make.tree()["tenant"]
    # A second app on the same database, with a plugin that registers one job.
    job_app = _app_with(fusion_database_url, tmp_path, [("audit_test", RenamingPlugin())])
    try:
        with job_app.app_context(), acting_as(SYSTEM.with_request("req-job-1")):
            session = get_db().session
            enqueue(session, "audit_test.rename", org_id=str(tenant.id), new_name="Renamed by job")
            session.commit()  # eager mode: the job runs right after this commit
    finally:
        job_app.extensions["fusion.db"].engine.dispose()
    [row] = entries(app, entity_id=str(tenant.id), action="update")
    assert (row.via, row.actor, row.actor_id) == ("job", "job:audit_test.rename", None)
    assert row.request_id == "req-job-1"
    assert row.changes == {"name": [tenant.name, "Renamed by job"]}


def _app_with(database_url: str, tmp_path, plugins: list) -> Any:
    from fusion_core.app import create_app

    return create_app(settings_for_tests(database_url, tmp_path, PLUGIN_OBJECTS=plugins))


def test_a_rolled_back_transaction_leaves_no_entry(app, make):
    group = make.group()
    before = audit_count(app)
    with app.app_context(), acting_as(CLI):
        session = get_db().session
        org = Organization(kind="distributor", name="Doomed", parent_id=group.id, status="active")
        org.org_path = group.org_path + org.id.hex + "/"
        session.add(org)
        session.flush()
        # Written by the flush, inside the same transaction ...
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == before + 1
        session.rollback()
    # ... and gone with it.
    assert audit_count(app) == before
    assert not entries(app, entity_id=str(org.id))


def test_failed_api_request_leaves_no_entry(api, make, app):
    tree = make.tree()
    client = api.as_(make.admin(tree["group"]))
    before = audit_count(app)
    refused = client.delete(f"distributors/{tree['distributor'].id}")  # it has children
    assert refused.status_code == 409, refused.json
    assert audit_count(app) == before


# --- secrets ---------------------------------------------------------------------------------


def test_password_and_token_hashes_are_never_recorded_in_clear(api, make, app):
    group = make.group()
    boss = make.admin(group)
    client = api.as_(boss)
    created = client.post(
        "admins",
        {
            "organization_id": str(group.id),
            "email": "new@example.test",
            "name": "New",
            "password": "a-first-password",
        },
    )
    assert created.status_code == 201, created.json
    changed = client.patch(f"admins/{created.json['id']}", {"password": "a-second-password"})
    assert changed.status_code == 200, changed.json
    token = client.post(
        "/api/v1/auth/tokens", {"email": "new@example.test", "password": "a-second-password"}
    )
    assert token.status_code == 201, token.json

    with app.app_context():
        session = get_db().session
        admin = session.get(Admin, uuid.UUID(created.json["id"]))
        stored = session.get(ApiToken, uuid.UUID(token.json["id"]))
        secrets = [admin.password_hash, stored.token_hash, token.json["token"]]
        secrets += ["a-first-password", "a-second-password"]
        log = [json.dumps(r.changes) for r in session.scalars(select(AuditEntry))]

    admin_rows = entries(app, entity_id=created.json["id"])
    assert admin_rows[0].changes["password_hash"] == [None, "[redacted]"]
    assert admin_rows[1].changes == {"password_hash": ["[redacted]", "[redacted]"]}
    token_row = entries(app, entity_type="api_tokens", entity_id=token.json["id"])[0]
    assert token_row.changes["token_hash"] == [None, "[redacted]"]
    assert token_row.actor_id == admin.id  # the exchange is the admin's own doing
    for secret in secrets:
        assert not any(secret in line for line in log), secret


# --- append-only -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_entries SET actor = 'someone else'", "DELETE FROM audit_entries"],
)
def test_the_database_refuses_to_change_or_remove_entries(app, make, statement):
    make.group()
    before = audit_count(app)
    assert before > 0
    engine = app.extensions["fusion.db"].engine
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    assert audit_count(app) == before
    assert all(r.actor == "system" for r in entries(app))


def test_postgresql_has_the_append_only_trigger(app, make):
    need_service("PostgreSQL", "FUSION_TEST_DATABASE_URL")
    engine = app.extensions["fusion.db"].engine
    assert engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        triggers = conn.execute(
            text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_entries'::regclass "
                "AND NOT tgisinternal"
            )
        ).scalars()
        assert "audit_entries_append_only" in list(triggers)
    make.group()
    for statement in ("UPDATE audit_entries SET via = 'x'", "DELETE FROM audit_entries"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))


@pytest.mark.parametrize(
    "statement",
    [
        update(Organization).values(name="bulk"),
        delete(Subscription),
        update(Admin).where(Admin.role == "admin").values(role="read_only"),
        insert(Organization).values(id=uuid.uuid4(), kind="tenant", name="bulk", org_path="/x/"),
        # Core statements on a model's table, run through the session, are caught too
        update(Organization.__table__).values(name="bulk"),
        delete(Subscription.__table__),
    ],
    ids=[
        "update-organizations",
        "delete-subscriptions",
        "update-admins",
        "insert-organization",
        "core-update-organizations",
        "core-delete-subscriptions",
    ],
)
def test_orm_bulk_changes_on_audited_models_are_refused(app, make, statement):
    tenant = make.tree()["tenant"]
    make.subscription(tenant)
    make.admin(tenant)
    with app.app_context(), acting_as(CLI):
        session = get_db().session
        with pytest.raises(RuntimeError, match="bypasses the audit"):
            session.execute(statement)
        session.rollback()
        assert session.scalar(select(func.count()).where(Organization.name == "bulk")) == 0
        assert session.scalar(select(func.count()).select_from(Subscription)) == 1


def test_legacy_query_bulk_update_is_refused_too(app, make):
    make.tree()
    with app.app_context(), acting_as(CLI):
        session = get_db().session
        with pytest.raises(RuntimeError, match="bypasses the audit"):
            session.query(Organization).filter(Organization.kind == "tenant").update(
                {"status": "suspended"}
            )
        session.rollback()
        with pytest.raises(RuntimeError, match="bypasses the audit"):
            session.query(Admin).delete()
        session.rollback()
        suspended = select(func.count()).where(Organization.status == "suspended")
        assert session.scalar(suspended) == 0


# --- GET /api/v1/audit -----------------------------------------------------------------------


def ids_of(response) -> list[int]:
    assert response.status_code == 200, response.json
    return [item["id"] for item in response.json["items"]]


def test_audit_api_filters_by_entity_actor_organization_and_time(api, make, app):
    tree = make.tree()
    alice = make.admin(tree["group"])
    bob = make.admin(tree["group"])
    as_alice, as_bob = api.as_(alice), api.as_(bob)
    # ApiClient.as_ issued tokens: audited as system. Start the clock after them.
    t0 = utcnow()
    first = as_alice.patch(f"tenants/{tree['tenant'].id}", {"name": "T by Alice"})
    assert first.status_code == 200
    t1 = utcnow()
    second = as_bob.patch(f"tenants/{tree['sibling_tenant'].id}", {"name": "T by Bob"})
    assert second.status_code == 200
    third = as_bob.patch(f"resellers/{tree['reseller'].id}", {"name": "R by Bob"})
    assert third.status_code == 200

    by_entity = as_alice.get(
        "audit",
        query_string={"entity_type": "organizations", "entity_id": str(tree["tenant"].id)},
    )
    assert [(i["action"], i["entity_id"]) for i in by_entity.json["items"]] == [
        ("update", str(tree["tenant"].id)),
        ("create", str(tree["tenant"].id)),
    ]
    assert by_entity.json["total"] == 2

    by_actor = as_alice.get("audit", query_string={"actor_id": str(bob.id)})
    assert {i["entity_id"] for i in by_actor.json["items"]} == {
        str(tree["sibling_tenant"].id),
        str(tree["reseller"].id),
    }
    assert all(i["actor"] == bob.email and i["via"] == "api" for i in by_actor.json["items"])

    # The reseller's subtree: the reseller itself and its tenant, not the sibling branch.
    by_org = as_alice.get(
        "audit", query_string={"organization_id": str(tree["reseller"].id), "per_page": 200}
    )
    assert {i["organization_id"] for i in by_org.json["items"]} == {
        str(tree["reseller"].id),
        str(tree["tenant"].id),
    }

    window = as_alice.get("audit", query_string={"since": t0.isoformat(), "until": t1.isoformat()})
    assert [(i["entity_id"], i["changes"]) for i in window.json["items"]] == [
        (str(tree["tenant"].id), {"name": [tree["tenant"].name, "T by Alice"]})
    ]
    later = as_alice.get("audit", query_string={"since": t1.isoformat(), "sort": "id"})
    assert [i["entity_id"] for i in later.json["items"]] == [
        str(tree["sibling_tenant"].id),
        str(tree["reseller"].id),
    ]

    one = as_alice.get(f"audit/{ids_of(later)[0]}")
    assert one.status_code == 200
    assert one.json["changes"] == {"name": [tree["sibling_tenant"].name, "T by Bob"]}


def test_a_reseller_admin_never_sees_a_sibling_resellers_entries(api, make):
    tree = make.tree()
    group_client = api.as_(make.admin(tree["group"]))
    assert (
        group_client.patch(f"tenants/{tree['sibling_tenant'].id}", {"name": "x"}).status_code == 200
    )
    reseller_admin = make.admin(tree["reseller"])
    client = api.as_(reseller_admin)

    listed = client.get("audit", query_string={"per_page": 200})
    assert listed.status_code == 200
    mine = (tree["reseller"].org_path, tree["tenant"].org_path)
    assert listed.json["total"] == len(listed.json["items"]) > 0
    seen_orgs = {i["organization_id"] for i in listed.json["items"]}
    assert seen_orgs <= {str(tree["reseller"].id), str(tree["tenant"].id)}, mine
    assert str(tree["sibling_tenant"].id) not in listed.data.decode()
    assert str(tree["sibling_reseller"].id) not in listed.data.decode()

    # Filtering on a sibling does not open a window onto it.
    for query in (
        {"organization_id": str(tree["sibling_reseller"].id)},
        {"entity_id": str(tree["sibling_tenant"].id)},
    ):
        response = client.get("audit", query_string=query)
        if response.status_code == 200:
            assert response.json["items"] == [], query
        else:
            assert response.status_code == 404, response.json
    sibling_entries = entries(client.app, entity_id=str(tree["sibling_tenant"].id))
    for entry in sibling_entries:
        response = client.get(f"audit/{entry.id}")
        assert response.status_code == 404, response.json
        assert str(tree["sibling_tenant"].id) not in response.data.decode()


# --- meta-test: no model escapes the audit ---------------------------------------------------

# Models that are not audited, and why. Anything else must be audited and proven below.
EXEMPT = {
    "AuditEntry": "the audit log itself (append-only)",
    "LoginThrottle": "failed-login counters: bookkeeping, written on every failed attempt",
    "OutboxEvent": "the event outbox is itself a record of what happened",
    "NumberHistory": "a number's state history: itself an append-only log (triggers refuse changes)",
    "PasswordReset": "single-use link secrets (hashed); the password change they lead to is audited",
}


@dataclass
class Lifecycle:
    """Create, update and delete one row of a model (each step commits as the system actor)."""

    create: Callable[[Any], Any]
    update: Callable[[Any, Any], None]
    delete: Callable[[Any, Any], None]


def _org_lifecycle() -> Lifecycle:
    def create(session):
        group = hierarchy.create_group(session, "Meta group")
        session.commit()
        return group

    def change(session, org):
        org.name = "Meta group renamed"

    return Lifecycle(create, change, lambda session, org: session.delete(org))


def _tenant(session) -> Organization:
    group = hierarchy.create_group(session, "Meta group")
    session.commit()
    return hierarchy.create_organization(session, "tenant", group.id, "Meta tenant")


def _subscription_lifecycle() -> Lifecycle:
    def create(session):
        platform = sorted(get_registry().platforms)[0]
        return hierarchy.create_subscription(session, _tenant(session), platform, "Meta sub")

    def change(session, sub):
        sub.status = "cancelled"

    return Lifecycle(create, change, lambda session, sub: session.delete(sub))


def _admin_lifecycle() -> Lifecycle:
    def create(session):
        return iam.create_admin(session, _tenant(session), "meta@example.test", "Meta", "admin")

    def change(session, admin):
        admin.role = "read_only"

    return Lifecycle(create, change, lambda session, admin: session.delete(admin))


def _token_lifecycle() -> Lifecycle:
    def create(session):
        admin = iam.create_admin(session, _tenant(session), "meta@example.test", "Meta", "admin")
        return iam.issue_token(session, admin, "meta")[0]

    def change(session, token):
        token.revoked_at = utcnow()

    return Lifecycle(create, change, lambda session, token: session.delete(token))


def _sync_status_lifecycle() -> Lifecycle:
    def create(session):
        return mark(session, _tenant(session), "pending", target="meta")

    def change(session, status):
        status.state = "failed"
        status.last_error = "boom"

    return Lifecycle(create, change, lambda session, status: session.delete(status))


def _catalog_group(session, with_product: bool = True):
    from fusion_core.catalog import services as catalog

    group = hierarchy.create_group(session, "Meta group")
    session.commit()
    sku = catalog.create_sku(
        session,
        {"kind": "license", "license_type": "sip_channel", "name": "Meta channel",
         "external_reference": "META-SC"},
        group,
    )  # fmt: skip
    if not with_product:
        return group, sku, None
    product = catalog.create_product(
        session, {"name": "Meta trunk", "lines": [{"sku_id": sku.id, "quantity": 2}]}, group
    )
    return group, sku, product


def _ordered(session):
    """A completed order on a new tenant's subscription; (order, subscription)."""
    from fusion_core.catalog import services as catalog

    group, _sku, product = _catalog_group(session)
    platform = sorted(get_registry().platforms)[0]
    order, _ = catalog.place_order(
        session,
        {"type": "new_tenant", "tenant": {"parent_id": group.id, "name": "Meta tenant"},
         "subscription": {"platform": platform, "name": "Meta sub"},
         "lines": [{"product_id": product.id, "quantity": 3}]},
    )  # fmt: skip
    return order


def _catalog_lifecycle(pick, change) -> Callable[[], Lifecycle]:
    def make() -> Lifecycle:
        return Lifecycle(pick, change, lambda session, row: session.delete(row))

    return make


def _entitlement(session):
    from fusion_core.catalog.models import Entitlement

    order = _ordered(session)
    return session.scalar(
        select(Entitlement).where(Entitlement.subscription_id == order.subscription_id)
    )


def _hold(session):
    from fusion_core.catalog import ledger

    ent = _entitlement(session)
    return ledger.consume(session, ent.subscription_id, ent.sku_id, 2, ("meta", "holder"))


def _numbering_row(kind: str):
    """One numbering row of `kind` in a new group (imports write numbers with COPY and one
    audit entry per import; rows made as objects, as every later change is, are audited)."""
    from fusion_core.numbering import models as numbering

    def create(session):
        group = hierarchy.create_group(session, "Meta group")
        session.commit()
        common = {"org_path": group.org_path}
        if kind == "number":
            return numbering.PhoneNumber(
                e164="+3225551234", country="BE", number_type="geographic", **common
            )
        if kind == "range":
            return numbering.NumberRange(
                first="+3225550000", last="+3225550009", country="BE",
                number_type="geographic", count=10, **common,
            )  # fmt: skip
        if kind == "import":
            return numbering.NumberImport(source="api", rows=[], created_by="meta", **common)
        return numbering.NumberSettings(group_id=group.id, aging_days=90, **common)

    def add(session):
        row = create(session)
        session.add(row)
        return row

    return add


def _self_service_row(kind: str):
    """A number request, a port-in or a port-in document on a new tenant's subscription."""
    from datetime import date

    from fusion_core.numbering import models as numbering

    def create(session):
        platform = sorted(get_registry().platforms)[0]
        sub = hierarchy.create_subscription(session, _tenant(session), platform, "Meta sub")
        session.commit()
        common = {"subscription_id": sub.id, "tenant_id": sub.tenant_id,
                  "org_path": sub.org_path, "country": "BE", "number_type": "geographic"}  # fmt: skip
        if kind == "request":
            row = numbering.NumberRequest(
                quantity=1, expires_at=utcnow(), requested_by="meta", **common
            )
        else:
            row = numbering.PortIn(
                numbers=["+3225551234"], count=1, current_carrier="Old", steps=[],
                account_reference="A-1", requested_date=date(2030, 1, 1), requested_by="meta",
                **common,
            )  # fmt: skip
        session.add(row)
        if kind == "document":
            session.flush()
            row = numbering.PortDocument(
                port_in_id=row.id, org_path=sub.org_path, filename="loa.pdf",
                content_type="application/pdf", size=3, sha256="0" * 64, content=b"pdf",
                uploaded_by="meta",
            )  # fmt: skip
            session.add(row)
        return row

    return create


def _siptrunk_address(session):
    from fusion_siptrunk.addresses.models import Address

    tenant = _tenant(session)
    session.commit()
    row = Address(tenant_id=tenant.id, org_path=tenant.org_path, label="Meta", country="GB")
    session.add(row)
    return row


def _siptrunk_row(kind: str):
    """One row of each SIP-trunk model, made directly (the services would enqueue SBC jobs)."""

    def create(session):
        from fusion_siptrunk import models as st

        from fusion_core.numbering.models import PhoneNumber

        sub = hierarchy.create_subscription(session, _tenant(session), "siptrunk", "Meta sub")
        session.commit()
        group_path = "/" + sub.org_path.strip("/").split("/")[0] + "/"
        if kind == "Sbc":
            row = st.Sbc(org_path=group_path, name="meta", signalling_host="192.0.2.1")
        elif kind == "CallingPlan":
            row = st.CallingPlan(org_path=group_path, country="GB", key=900, classes=[])
        elif kind == "Capacity":
            row = st.Capacity(subscription_id=sub.id, org_path=sub.org_path, max_calls=2)
        elif kind == "TenantSettings":
            row = st.TenantSettings(tenant_id=sub.tenant_id, org_path=sub.org_path, country="GB")
        elif kind == "ListEntry":
            row = st.ListEntry(org_path=group_path, kind="block", prefix="+449")
        else:
            trunk = st.Trunk(
                subscription_id=sub.id, org_path=sub.org_path, key=901, name="Meta", country="GB"
            )
            session.add(trunk)
            row = trunk
            if kind == "AccessTrunk":
                sbc = st.Sbc(org_path=group_path, name="meta", signalling_host="192.0.2.1")
                session.add(sbc)
                session.flush()
                row = st.AccessTrunk(
                    trunk_id=trunk.id, sbc_id=sbc.id, org_path=sub.org_path, host="192.0.2.2"
                )
            elif kind == "Did":
                number = PhoneNumber(
                    e164="+441632960001", country="GB", number_type="geographic",
                    state="allocated", subscription_id=sub.id, org_path=sub.org_path,
                )  # fmt: skip
                session.add(number)
                session.flush()
                row = st.Did(
                    trunk_id=trunk.id, number_id=number.id, e164=number.e164, org_path=sub.org_path
                )
        session.add(row)
        return row

    return create


# One factory per audited model; a plugin adding a model adds its factory here (or its own
# meta-test in its package: the audit is proven per model, not assumed).
LIFECYCLES: dict[str, Callable[[], Lifecycle]] = {
    "Organization": _org_lifecycle,
    "Subscription": _subscription_lifecycle,
    "Admin": _admin_lifecycle,
    "ApiToken": _token_lifecycle,
    "SyncStatus": _sync_status_lifecycle,
    "Sku": _catalog_lifecycle(
        lambda s: _catalog_group(s, with_product=False)[1],
        lambda s, sku: setattr(sku, "name", "Renamed"),
    ),
    "Product": _catalog_lifecycle(
        lambda s: _catalog_group(s)[2], lambda s, product: setattr(product, "active", False)
    ),
    "ProductLine": _catalog_lifecycle(
        lambda s: _catalog_group(s)[2].lines[0], lambda s, line: setattr(line, "quantity", 5)
    ),
    "Order": _catalog_lifecycle(_ordered, lambda s, order: setattr(order, "bss_reference", "B")),
    "OrderLine": _catalog_lifecycle(
        lambda s: _ordered(s).lines[0], lambda s, line: setattr(line, "quantity", 4)
    ),
    "Entitlement": _catalog_lifecycle(_entitlement, lambda s, ent: setattr(ent, "ordered", 9)),
    "EntitlementHold": _catalog_lifecycle(
        _hold, lambda s, hold: setattr(hold, "holder_id", "other")
    ),
    "PhoneNumber": _catalog_lifecycle(
        _numbering_row("number"), lambda s, number: setattr(number, "state", "available")
    ),
    "NumberRange": _catalog_lifecycle(
        _numbering_row("range"), lambda s, block: setattr(block, "notes", "renamed")
    ),
    "NumberImport": _catalog_lifecycle(
        _numbering_row("import"), lambda s, imp: setattr(imp, "status", "completed")
    ),
    "NumberSettings": _catalog_lifecycle(
        _numbering_row("settings"), lambda s, settings: setattr(settings, "aging_days", 30)
    ),
    "NumberRequest": _catalog_lifecycle(
        _self_service_row("request"), lambda s, request: setattr(request, "state", "cancelled")
    ),
    "PortIn": _catalog_lifecycle(
        _self_service_row("port"), lambda s, port: setattr(port, "state", "submitted")
    ),
    "Sbc": _catalog_lifecycle(_siptrunk_row("Sbc"), lambda s, r: setattr(r, "locale", "en-GB")),
    "CallingPlan": _catalog_lifecycle(
        _siptrunk_row("CallingPlan"), lambda s, r: setattr(r, "country", "BE")
    ),
    "Capacity": _catalog_lifecycle(
        _siptrunk_row("Capacity"), lambda s, r: setattr(r, "max_calls", 1)
    ),
    "ListEntry": _catalog_lifecycle(
        _siptrunk_row("ListEntry"), lambda s, r: setattr(r, "note", "x")
    ),
    "TenantSettings": _catalog_lifecycle(
        _siptrunk_row("TenantSettings"), lambda s, r: setattr(r, "format_in", "national")
    ),
    "Trunk": _catalog_lifecycle(_siptrunk_row("Trunk"), lambda s, r: setattr(r, "max_calls", 2)),
    "AccessTrunk": _catalog_lifecycle(
        _siptrunk_row("AccessTrunk"), lambda s, r: setattr(r, "port", 5062)
    ),
    "Did": _catalog_lifecycle(_siptrunk_row("Did"), lambda s, r: setattr(r, "rewrite_to", "201")),
    "Address": _catalog_lifecycle(
        _siptrunk_address, lambda s, address: setattr(address, "label", "Meta renamed")
    ),
    "PortDocument": _catalog_lifecycle(
        _self_service_row("document"), lambda s, doc: setattr(doc, "filename", "bill.pdf")
    ),
}


def get_registry():
    from flask import current_app

    return current_app.extensions["fusion"].registry


def test_every_model_is_audited_or_explicitly_exempt(app):
    mapped = sorted({m.class_.__name__: m.class_ for m in Base.registry.mappers}.items())
    assert {name for name, _ in mapped} >= set(EXEMPT), "stale exemption"
    problems = []
    for name, cls in mapped:
        if name in EXEMPT:
            continue
        if not cls.__audit__:
            problems.append(f"{name} sets __audit__ = False but is not in EXEMPT (say why there)")
        elif name not in LIFECYCLES:
            problems.append(
                f"{name} ({cls.__module__}) has no audit factory: add a Lifecycle to "
                "LIFECYCLES in tests/test_audit.py that creates, updates and deletes one row"
            )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(LIFECYCLES))
def test_model_lifecycle_is_audited(app, name):
    cls = {m.class_.__name__: m.class_ for m in Base.registry.mappers}.get(name)
    assert cls is not None, f"{name} is no longer a mapped model: drop its factory"
    lifecycle = LIFECYCLES[name]()
    with app.app_context(), acting_as(CLI):
        session = get_db().session
        row = lifecycle.create(session)
        session.commit()
        ident = str(row.id)
        lifecycle.update(session, row)
        session.commit()
        lifecycle.delete(session, row)
        session.commit()
    table = cls.__tablename__
    actions = [(r.action, r.via) for r in entries(app, entity_type=table, entity_id=ident)]
    assert actions == [("create", "cli"), ("update", "cli"), ("delete", "cli")], (name, actions)
    update_entry = entries(app, entity_type=table, entity_id=ident, action="update")[0]
    assert update_entry.changes, f"{name}: the update entry records no changed field"
    for before, after in update_entry.changes.values():
        assert before != after
