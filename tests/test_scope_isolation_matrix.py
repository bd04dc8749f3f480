"""The isolation matrix: every route of the OpenAPI document, called by administrators of every
level and role with ids from sibling subtrees and the other group, must answer as if those
resources did not exist — no 2xx, no foreign id in any body, nothing written.

Routes are read from /api/v1/openapi.json, so new routes (a plugin's too) join automatically.
A route the matrix cannot fill fails `test_every_route_is_known_to_the_matrix` with a message
saying what to add below (PATH_KINDS, REFERENCES or UNSCOPED).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from fusion_siptrunk.addresses.models import Address as SiptrunkAddress
from fusion_siptrunk.models import AccessTrunk, CallingPlan, Did, ListEntry, Sbc, Trunk
from sqlalchemy import func, select, text

from fusion_core.audit.models import AuditEntry
from fusion_core.catalog.models import Order, Product, Sku
from fusion_core.db import Base, get_db
from fusion_core.hierarchy.models import Organization, Subscription
from fusion_core.hookspecs import hookimpl
from fusion_core.iam.models import Admin, ApiToken
from fusion_core.numbering.models import (
    NumberImport,
    NumberRange,
    NumberRequest,
    PhoneNumber,
    PortDocument,
    PortIn,
)

PREFIX = "/api/v1"

# Path prefix ending in a parameter -> the kind of resource that parameter names.
PATH_KINDS: dict[str, str] = {
    "/distributors/{id}": "distributor",
    "/resellers/{id}": "reseller",
    "/tenants/{id}": "tenant",
    "/subscriptions/{id}": "subscription",
    "/admins/{id}": "admin",
    "/auth/tokens/{id}": "token",
    "/audit/{id}": "audit_entry",
    "/skus/{id}": "sku",
    "/products/{id}": "product",
    "/orders/{id}": "order",
    "/numbers/{id}": "number",
    "/number-ranges/{id}": "number_range",
    "/number-imports/{id}": "number_import",
    "/number-requests/{id}": "number_request",
    "/port-ins/{id}": "port_in",
    "/port-ins/{id}/documents/{document_id}": "port_document",
    "/siptrunk/addresses/{id}": "siptrunk_address",
    "/siptrunk/sbcs/{id}": "siptrunk_sbc",
    "/siptrunk/block-list/{id}": "siptrunk_block_entry",
    "/siptrunk/trunks/{id}": "siptrunk_trunk",
    # a trunk's sub-resources: the trunk's id is in scope, the sub-resource's foreign
    "/siptrunk/trunks/{id}/access-trunks/{aid}": "siptrunk_access_trunk",
    "/siptrunk/trunks/{id}/dids/{did}": "siptrunk_did",
    "/siptrunk/trunks/{id}/block-list/{entry}": "siptrunk_block_entry",
    "/siptrunk/trunks/{id}/allow-list/{entry}": "siptrunk_allow_entry",
    "/siptrunk/subscriptions/{id}": "subscription",
    "/siptrunk/tenants/{id}": "tenant",
}

# Each kind -> the model holding it (rows carry `org_path`) and a filter.
KIND_MODELS: dict[str, tuple[type, dict[str, Any]]] = {
    "group": (Organization, {"kind": "group"}),
    "distributor": (Organization, {"kind": "distributor"}),
    "reseller": (Organization, {"kind": "reseller"}),
    "tenant": (Organization, {"kind": "tenant"}),
    "subscription": (Subscription, {}),
    "admin": (Admin, {}),
    "token": (ApiToken, {}),
    "audit_entry": (AuditEntry, {}),
    "sku": (Sku, {}),
    "product": (Product, {}),
    "order": (Order, {}),
    "number": (PhoneNumber, {}),
    "number_range": (NumberRange, {}),
    "number_import": (NumberImport, {}),
    "number_request": (NumberRequest, {}),
    "port_in": (PortIn, {}),
    "port_document": (PortDocument, {}),
    "siptrunk_address": (SiptrunkAddress, {}),
    "siptrunk_sbc": (Sbc, {}),
    "siptrunk_calling_plan": (CallingPlan, {}),
    "siptrunk_trunk": (Trunk, {}),
    "siptrunk_access_trunk": (AccessTrunk, {}),
    "siptrunk_did": (Did, {}),
    "siptrunk_block_entry": (ListEntry, {"kind": "block"}),  # the group's and the trunks'
    "siptrunk_allow_entry": (ListEntry, {"kind": "allow"}),
    "allocated_number": (PhoneNumber, {"state": "allocated"}),  # free for a new DID
}

# Kinds a group shares with its whole tree (the catalogue): every administrator of the group
# sees them, although their path is the group's; other groups never do.
# SBCs too: a trunk's access trunks name their SBC (`sbc_id`) to the tenant, which names it to
# add one (GET /siptrunk/sbcs/{id} itself is the group administrators').
GROUP_SHARED = {"sku", "product", "siptrunk_sbc"}

# Writes only group administrators may make: below the group they answer 403 (revealing
# nothing about the ids named), whatever the body.
GROUP_ONLY = {("POST", "/orders"), ("POST", "/number-imports")}


# Extra builders `build(make, orgs)` for kinds the base world lacks (orgs by name: "Group A",
# "D1", "R11", "T111", "Group B", ...). A new kind adds a builder making one in several orgs.
def _catalog(make, orgs) -> None:
    """Each group's catalogue (a SKU, a product) and a completed order on some tenants."""
    from fusion_core.catalog import services as catalog
    from fusion_core.context import SYSTEM, acting_as
    from fusion_core.hierarchy.models import Subscription as Sub

    with make.app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        products = {}
        for name in ("Group A", "Group B"):
            group = session.get(Organization, orgs[name].id)
            sku = catalog.create_sku(
                session,
                {"kind": "license", "license_type": "sip_channel", "name": "Channel",
                 "external_reference": f"SC-{name}"},
                group,
            )  # fmt: skip
            products[name] = catalog.create_product(
                session, {"name": "Trunk", "lines": [{"sku_id": sku.id, "quantity": 2}]}, group
            )
        for tenant, group in (("T111", "Group A"), ("T121", "Group A"), ("T211", "Group A"),
                              ("TA", "Group A"), ("TB", "Group B")):  # fmt: skip
            sub = session.scalars(
                select(Sub).where(Sub.tenant_id == orgs[tenant].id, Sub.status == "active")
            ).first()
            catalog.place_order(
                session,
                {"type": "change", "subscription_id": sub.id,
                 "lines": [{"product_id": products[group].id, "quantity": 1}]},
            )  # fmt: skip


def _numbering(make, orgs) -> None:
    """Each group's imported range, and one of its numbers owned by every organisation."""
    from fusion_core.context import SYSTEM, acting_as
    from fusion_core.numbering import services as numbering

    with make.app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        for digit, name in enumerate(("Group A", "Group B")):
            first = f"+32255{digit}0000"
            numbering.import_numbers(
                session, rows=[{"first": first, "last": first[:-2] + "99"}], group_id=orgs[name].id
            )
        for index, org in enumerate(orgs.values()):
            digit = "0" if org.org_path.startswith(orgs["Group A"].org_path) else "1"
            number = session.scalar(
                select(PhoneNumber).where(PhoneNumber.e164 == f"+32255{digit}00{index:02d}")
            )
            number.org_path = org.org_path
        session.commit()


def _self_service(make, orgs) -> None:
    """A pending number request and a draft port-in with a document on every tenant's live
    subscription (rows as the services write them; the flows are tested in tests/numbering)."""
    from datetime import date

    from fusion_core.context import SYSTEM, acting_as
    from fusion_core.db import utcnow
    from fusion_core.hierarchy.models import Subscription as Sub

    with make.app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        subs = session.scalars(select(Sub).where(Sub.status == "active")).all()
        for index, sub in enumerate(subs):
            common = {"subscription_id": sub.id, "tenant_id": sub.tenant_id,
                      "org_path": sub.org_path, "country": "BE", "number_type": "geographic"}  # fmt: skip
            session.add(
                NumberRequest(quantity=1, expires_at=utcnow(), requested_by="matrix", **common)
            )
            port = PortIn(
                numbers=[f"+3225569{index:03d}"], count=1, current_carrier="Old", steps=[],
                account_reference="A-1", requested_date=date(2030, 1, 1), requested_by="matrix",
                **common,
            )  # fmt: skip
            session.add(port)
            session.flush()
            session.add(
                PortDocument(port_in_id=port.id, org_path=sub.org_path, filename="loa.pdf",
                             content_type="application/pdf", size=3, sha256="0" * 64,
                             content=b"pdf", uploaded_by="matrix")
            )  # fmt: skip
        session.commit()


def _siptrunk_addresses(make, orgs) -> None:
    """An emergency address on every tenant (validation is tested in plugins/fusion_siptrunk)."""
    from fusion_core.context import SYSTEM, acting_as

    with make.app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        for org in orgs.values():
            if org.kind == "tenant":
                session.add(
                    SiptrunkAddress(tenant_id=org.id, org_path=org.org_path, label=f"{org.name} HQ",
                                    country="GB", status="valid")
                )  # fmt: skip
        session.commit()


def _siptrunk(make, orgs) -> None:
    """Each group's SBC (driver `matrix`, below), GB calling plan and block list; on every
    tenant's live subscription a trunk (the tenant's address) with an access trunk on its group's
    SBC, a DID, a block- and an allow-list entry, and a number allocated to the subscription,
    free for a new DID. Rows as the services write them, in tenant order (a viewer's first
    trunk and first DID are one tenant's); the flows are tested in plugins/fusion_siptrunk."""
    from fusion_siptrunk import plans, services

    from fusion_core.context import SYSTEM, acting_as

    with make.app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        sbcs = {}
        for name in ("Group A", "Group B"):
            path = orgs[name].org_path
            plans.plan_for(session, path, "GB")  # made before the SBCs: nothing to sync
            sbcs[path] = Sbc(org_path=path, name=f"{name} PoP", driver=MatrixSbc.name,
                             signalling_host="192.0.2.1")  # fmt: skip
            session.add(sbcs[path])
            session.add(ListEntry(org_path=path, kind="block", prefix="+4490"))
        session.flush()
        for index, org in enumerate(orgs.values()):
            if org.kind != "tenant":
                continue
            sub = session.scalars(
                select(Subscription).where(
                    Subscription.tenant_id == org.id, Subscription.status == "active"
                )
            ).one()
            address = session.scalars(
                select(SiptrunkAddress).where(SiptrunkAddress.tenant_id == org.id)
            ).one()
            path, pool = sub.org_path, services.group_path(sub.org_path)
            trunk = Trunk(subscription_id=sub.id, org_path=path, key=services.next_key(session),
                          name=f"{org.name} PBX", country="GB", address_id=address.id)  # fmt: skip
            session.add(trunk)
            session.flush()
            host = f"203.0.113.{index}"
            session.add(
                AccessTrunk(trunk_id=trunk.id, org_path=path, sbc_id=sbcs[pool].id, host=host,
                            sources=[f"{host}/32"])
            )  # fmt: skip
            number = PhoneNumber(e164=f"+44207946{index:04d}", country="GB",
                                 number_type="geographic", state="assigned", org_path=path,
                                 pool_path=pool, subscription_id=sub.id,
                                 target_type=services.TARGET, target_ref=str(trunk.id))  # fmt: skip
            session.add(number)
            session.flush()
            session.add(Did(trunk_id=trunk.id, number_id=number.id, e164=number.e164, pilot=True,
                            org_path=path))  # fmt: skip
            session.add(PhoneNumber(e164=f"+44207946{100 + index:04d}", country="GB",
                                    number_type="geographic", state="allocated", org_path=path,
                                    pool_path=pool, subscription_id=sub.id))  # fmt: skip
            for kind, prefix in (("block", "+4470"), ("allow", "+44800")):
                session.add(ListEntry(trunk_id=trunk.id, kind=kind, prefix=prefix, org_path=path))
        session.commit()


class MatrixSbc:
    """An SBC driver that holds nothing and cannot fail, for the world's SBCs: a sync job or a
    capacity report reading live calls never leaves the process."""

    name = "matrix"

    def render(self, sbc, state):
        return {}

    def apply_trunk(self, sbc, state):
        pass

    def remove_trunk(self, sbc, key):
        pass

    def read_trunk(self, sbc, key):
        return {}

    def trunk_keys(self, sbc):
        return set()

    def apply_shared(self, sbc, shared):
        pass

    def render_shared(self, sbc, shared):
        return {}

    def read_shared(self, sbc):
        return {}

    def live_calls(self, sbc):
        return {}


class _MatrixSbcPlugin:
    @hookimpl
    def register_sbc_drivers(self):
        return [MatrixSbc()]


@pytest.fixture(autouse=True)
def _matrix_sbc_driver(app):
    plugins, plugin = app.extensions["fusion.plugins"], _MatrixSbcPlugin()
    plugins.register(plugin, name="matrix-sbc")
    app.extensions.pop("siptrunk.drivers", None)  # the drivers found, cached
    yield
    plugins.unregister(plugin)
    app.extensions.pop("siptrunk.drivers", None)


BUILDERS: list[Any] = [_catalog, _numbering, _self_service, _siptrunk_addresses, _siptrunk]

# Body fields and query parameters that reference a resource -> its kind
# ("organization" is any organisation).
REFERENCES: dict[str, str] = {
    "parent_id": "organization",
    "organization_id": "organization",
    "within": "organization",
    "tenant_id": "tenant",
    "subscription_id": "subscription",
    "actor_id": "admin",
    "owner_id": "organization",
    "group_id": "group",
    "address_id": "siptrunk_address",
    "sbc_id": "siptrunk_sbc",
    "number_id": "number",
}

# Optional body fields an operation needs to be valid (it wants one of several, e.g. a DID's
# `number_id` or `e164`) -> the kind of in-scope resource the sample body names.
OPTIONAL_FIELDS: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/siptrunk/trunks/{id}/dids"): {"number_id": "allocated_number"},
}

# Operations with nothing to cross, and why.
UNSCOPED: dict[tuple[str, str], str] = {
    ("POST", "/auth/tokens"): "public: exchanges the caller's own email and password",
    ("POST", "/skus"): "adds to the caller's own group's catalogue (group administrators only)",
    ("POST", "/products"): "adds to the caller's own group's catalogue; its SKUs are checked "
    "against that catalogue (tests/catalog)",
    ("POST", "/siptrunk/sbcs"): "adds an SBC to the caller's own group (group administrators only)",
    ("POST", "/siptrunk/block-list"): "adds to the caller's own group's block list (group "
    "administrators only)",
    # {country} is no id but a value (from SAMPLES): the plan is always the caller's group's.
    ("GET", "/siptrunk/calling-plans/{country}"): "the caller's own group's plan for a country "
    "(group administrators only)",
    ("PUT", "/siptrunk/calling-plans/{country}"): "replaces the caller's own group's plan for a "
    "country (group administrators only)",
}

# Sample values for body fields the generic filler cannot guess.
SAMPLES: dict[str, Any] = {
    "name": "Matrix",
    "password": "matrix-password-123",
    "role": "admin",
    "type": "change",  # orders: the type that names an existing subscription
    "requested_date": "2030-01-01",  # port-ins
    "country": "GB",  # siptrunk addresses and calling plans (ISO alpha-2 with a GB plan)
}

LEVELS = ("group", "distributor", "reseller", "tenant")
ROLES = ("admin", "read_only")
HOW_TO_TEACH = (
    "teach tests/test_scope_isolation_matrix.py: map the path prefix to a resource kind in "
    "PATH_KINDS (and build such a resource in every organisation in `world()`), map a "
    "referencing field to a kind in REFERENCES, or list the operation in UNSCOPED with why"
)


# --- the world: two sibling branches at every level, and a second group ----------------------


@dataclass
class Resource:
    kind: str
    id: Any  # UUID, or int for audit entries
    org_path: str
    label: str = ""  # an email, for administrators


@dataclass
class Viewer:
    level: str
    role: str
    org: Any
    admin: Any
    client: Any

    @property
    def name(self) -> str:
        return f"{self.role} of {self.level} {self.org.name!r}"

    def in_scope(self, path: str) -> bool:
        return path.startswith(self.org.org_path)

    def is_ancestor(self, path: str) -> bool:
        return self.org.org_path.startswith(path)

    def sees(self, r: Resource) -> bool:
        return self.in_scope(r.org_path) or (
            r.kind in GROUP_SHARED and self.is_ancestor(r.org_path)
        )


@dataclass
class World:
    orgs: dict[str, Any]
    viewers: list[Viewer]
    resources: list[Resource] = field(default_factory=list)

    def out_of_scope(self, viewer: Viewer, kind: str) -> list[Resource]:
        """One resource of `kind` per organisation outside the viewer's subtree."""
        picked: dict[str, Resource] = {}
        for r in self.resources:
            matches = r.kind == kind or (kind == "organization" and r.kind in LEVELS)
            if matches and not viewer.sees(r) and r.org_path not in picked:
                picked[r.org_path] = r
        return list(picked.values())

    def in_scope(self, viewer: Viewer, kind: str) -> Resource | None:
        for r in self.resources:
            matches = r.kind == kind or (kind == "organization" and r.kind in LEVELS)
            if matches and viewer.sees(r):
                return r
        return None

    def foreign_markers(self, viewer: Viewer) -> set[str]:
        """What must never appear in a body the viewer receives: ids (and emails) of resources
        outside the subtree, except the viewer's own ancestors (its path lists them)."""
        markers = set()
        for r in self.resources:
            if viewer.sees(r) or r.kind == "audit_entry":
                continue
            if r.kind in LEVELS and viewer.is_ancestor(r.org_path):
                continue
            markers |= {str(r.id), r.id.hex}
            if r.label:
                markers.add(r.label)
        return markers


def world(make, api) -> World:
    a = make.group("Group A")
    b = make.group("Group B")
    d1, d2 = make.org("distributor", a, "D1"), make.org("distributor", a, "D2")
    r11, r12 = make.org("reseller", d1, "R11"), make.org("reseller", d1, "R12")
    r21 = make.org("reseller", d2, "R21")
    t111, t112 = make.org("tenant", r11, "T111"), make.org("tenant", r11, "T112")
    t121, t211 = make.org("tenant", r12, "T121"), make.org("tenant", r21, "T211")
    ta = make.org("tenant", a, "TA")  # a tenant straight under the group
    db_ = make.org("distributor", b, "DB")
    rb = make.org("reseller", db_, "RB")
    tb = make.org("tenant", rb, "TB")
    orgs = {
        o.name: o for o in (a, b, d1, d2, r11, r12, r21, t111, t112, t121, t211, ta, db_, rb, tb)
    }

    platform = "siptrunk"  # the platform whose plugin has an API: its resources hang off these
    for tenant in (t111, t112, t121, t211, ta, tb):
        make.subscription(tenant, platform, name=f"{tenant.name} live")
    make.subscription(t112, platform, name="T112 cancelled", status="cancelled")

    viewers = []
    clients = {}
    for org in orgs.values():
        for role in ROLES:
            email = f"{role}.{org.name.lower().replace(' ', '-')}@matrix.test"
            admin = make.admin(org, role, email=email, password=None)  # tokens only: no hashing
            clients[(org.name, role)] = (admin, api.as_(admin))  # issues a token as well
    for level, org in zip(LEVELS, (a, d1, r11, t111), strict=True):
        for role in ROLES:
            admin, client = clients[(org.name, role)]
            viewers.append(Viewer(level, role, org, admin, client))

    for build in BUILDERS:
        build(make, orgs)
    w = World(orgs, viewers)
    with make.app.app_context():
        session = get_db().session
        for kind, (model, where) in KIND_MODELS.items():
            stmt = select(model).filter_by(**where).where(model.org_path.isnot(None))
            for row in session.scalars(stmt):
                w.resources.append(Resource(kind, row.id, row.org_path, getattr(row, "email", "")))
    return w


# --- reading the OpenAPI document ------------------------------------------------------------


@dataclass
class Operation:
    method: str
    path: str  # relative to /api/v1, with {param} placeholders
    spec: dict[str, Any]
    params: list[str]

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    def __str__(self) -> str:
        return f"{self.method} {PREFIX}{self.path}"


def operations(app) -> tuple[list[Operation], dict[str, Any]]:
    doc = app.test_client().get(f"{PREFIX}/openapi.json").json
    ops = []
    for path, item in doc["paths"].items():
        assert path.startswith(PREFIX), path
        relative = path.removeprefix(PREFIX)
        for method, spec in item.items():
            if method in ("parameters", "summary", "description"):
                continue
            ops.append(Operation(method.upper(), relative, spec, re.findall(r"{(\w+)}", path)))
    return ops, doc


# The "kind" of a path parameter that is a value, not an id: a parameter of an UNSCOPED
# operation with a value in SAMPLES (a country code); paths are filled with that value.
VALUE = "value"


def param_kinds(op: Operation) -> dict[str, str | None]:
    """Each path parameter -> the kind of resource it names (None: unknown to the matrix)."""
    kinds = {}
    for param in op.params:
        prefix = op.path[: op.path.index("{" + param + "}") + len(param) + 2]
        kinds[param] = PATH_KINDS.get(prefix)
        if kinds[param] is None and op.key in UNSCOPED and param in SAMPLES:
            kinds[param] = VALUE
    return kinds


def missing_in_scope(w: World, viewer: Viewer, kinds: dict[str, str | None]) -> bool:
    """True when the viewer's subtree holds no resource of a kind the path names."""
    return any(k != VALUE and w.in_scope(viewer, k) is None for k in kinds.values())


def resolve(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
    return schema


def body_schema(op: Operation, doc: dict[str, Any]) -> dict[str, Any] | None:
    content = op.spec.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    return resolve(content["application/json"]["schema"], doc)


def body_references(op: Operation, doc: dict[str, Any]) -> dict[str, str | None]:
    schema = body_schema(op, doc) or {}
    return {
        name: REFERENCES.get(name)
        for name, prop in schema.get("properties", {}).items()
        if prop.get("format") == "uuid" and not prop.get("readOnly")
    }


def query_references(op: Operation) -> dict[str, str | None]:
    refs = {}
    for param in op.spec.get("parameters", []):
        if param.get("in") == "query" and param.get("schema", {}).get("format") == "uuid":
            refs[param["name"]] = REFERENCES.get(param["name"])
    return refs


def sample_body(op: Operation, doc: dict[str, Any], viewer: Viewer, world_: World) -> Any:
    """A body that passes schema validation, so the answer depends on scope alone."""
    schema = body_schema(op, doc)
    if schema is None:
        return None
    required = set(schema.get("required", []))
    body = {}
    for name, prop in schema.get("properties", {}).items():
        if prop.get("readOnly") or (name not in required and name != "name"):
            continue
        prop = resolve(prop, doc)
        if name in SAMPLES:
            body[name] = SAMPLES[name]
        elif prop.get("format") == "uuid":
            own = world_.in_scope(viewer, REFERENCES.get(name) or "organization")
            body[name] = str(own.id if own else viewer.org.id)
        elif name == "platform":
            body[name] = sorted(viewer.client.app.extensions["fusion"].registry.platforms)[0]
        elif name == "email" or prop.get("format") == "email":
            body[name] = f"matrix-{uuid.uuid4().hex[:8]}@matrix.test"
        elif "enum" in prop:
            body[name] = prop["enum"][0]
        else:
            body[name] = {
                "integer": 1,
                "number": 1,
                "boolean": True,
                "array": [],
                "object": {},
            }.get(prop.get("type"), "matrix")
    for name, kind in OPTIONAL_FIELDS.get(op.key, {}).items():
        own = world_.in_scope(viewer, kind)
        body[name] = str(own.id if own else uuid.uuid4())
    return body


# --- the state that must not change ----------------------------------------------------------


def fingerprint(app) -> dict[str, Any]:
    """Row counts of every table, and a digest of every versioned row."""
    with app.app_context():
        session = get_db().session
        state: dict[str, Any] = {}
        for table in Base.metadata.sorted_tables:
            state[table.name] = session.scalar(select(func.count()).select_from(table))
        for model in (Organization, Subscription, Admin):
            rows = session.execute(
                select(model.id, model.version, model.name).order_by(model.id)
            ).all()
            state[f"{model.__tablename__}:versions"] = hashlib.sha256(
                repr(rows).encode()
            ).hexdigest()
        revoked = session.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.revoked_at.isnot(None))
        )
        state["api_tokens:revoked"] = revoked
        state["audit_entries:max"] = session.scalar(text("SELECT MAX(id) FROM audit_entries"))
    return state


def leaks(body: str, markers: set[str], sent: set[str]) -> list[str]:
    return sorted(m for m in markers - sent if m in body)


def without(body: str, *values: str) -> str:
    for value in values:
        body = body.replace(value, "<id>")
    return re.sub(r'"request_id": ?"[^"]*"', "", body)


# --- the matrix ------------------------------------------------------------------------------


def test_every_route_is_known_to_the_matrix(app):
    ops, doc = operations(app)
    assert len(ops) >= 20, "the OpenAPI document lists suspiciously few operations"
    problems = []
    for op in ops:
        for param, kind in param_kinds(op).items():
            if kind is None:
                problems.append(f"{op}: path parameter {{{param}}} names an unknown resource")
        for name, kind in {**body_references(op, doc), **query_references(op)}.items():
            if kind is None:
                problems.append(f"{op}: field {name!r} references an unknown resource")
        crosses = op.params or body_references(op, doc) or op.key in UNSCOPED
        if op.method == "POST" and not crosses:
            problems.append(f"{op}: a write naming no organisation or parent to cross")
    for key in UNSCOPED:
        assert any(op.key == key for op in ops), f"stale UNSCOPED entry {key}"
    for key in OPTIONAL_FIELDS:
        assert any(op.key == key for op in ops), f"stale OPTIONAL_FIELDS entry {key}"
    assert not problems, "\n".join(problems) + "\n\n" + HOW_TO_TEACH


def test_foreign_ids_in_paths_answer_404_as_if_they_did_not_exist(app, make, api):
    ops, doc = operations(app)
    w = world(make, api)
    before = fingerprint(app)
    failures: list[str] = []
    ghosts: dict[tuple, tuple[int, str]] = {}
    calls = 0
    for viewer in w.viewers:
        markers = w.foreign_markers(viewer)
        for op in ops:
            kinds = param_kinds(op)
            if not kinds or None in kinds.values():
                continue  # the known-routes test reports those
            for param, kind in kinds.items():
                for target in w.out_of_scope(viewer, kind):
                    path = _fill(op, kinds, viewer, w, {param: target.id})
                    body = sample_body(op, doc, viewer, w)
                    response = viewer.client.request(op.method, path, json=body)
                    calls += 1
                    where = f"{op} as {viewer.name} with {param}={target.id} ({target.kind})"
                    if response.status_code != 404:
                        failures.append(f"{where}: {response.status_code} {response.data[:200]!r}")
                        continue
                    text_ = response.data.decode()
                    if found := leaks(text_, markers, {str(target.id), _hex(target.id)}):
                        failures.append(f"{where}: body names foreign {found}")
                    # Indistinguishable from an id that exists nowhere.
                    if (viewer.name, op.key, param) not in ghosts:
                        missing = _missing_id(target.id)
                        ghost = viewer.client.request(
                            op.method, _fill(op, kinds, viewer, w, {param: missing}), json=body
                        )
                        ghosts[(viewer.name, op.key, param)] = (
                            ghost.status_code,
                            without(ghost.data.decode(), str(missing)),
                        )
                    if ghosts[(viewer.name, op.key, param)] != (
                        404,
                        without(text_, str(target.id)),
                    ):
                        failures.append(f"{where}: differs from a missing id: {text_[:200]}")
    assert calls > 500, calls
    assert not failures, f"{len(failures)} of {calls} calls crossed scope:\n" + "\n".join(
        failures[:50]
    )
    assert fingerprint(app) == before


def test_lists_and_filters_show_nothing_from_another_subtree(app, make, api):
    ops, _doc = operations(app)
    w = world(make, api)
    before = fingerprint(app)
    failures: list[str] = []
    calls = 0
    for viewer in w.viewers:
        markers = w.foreign_markers(viewer)
        for op in ops:
            kinds = param_kinds(op)
            if op.method != "GET" or None in kinds.values():
                continue
            if kinds and missing_in_scope(w, viewer, kinds):
                continue  # e.g. a tenant admin's subtree holds no ... of that kind
            path = _fill(op, kinds, viewer, w, {})
            queries: list[dict[str, str]] = [{}]
            if _has_query(op, "per_page"):
                queries = [{"per_page": "200"}]
            for name, kind in query_references(op).items():
                if kind is None:
                    continue
                queries += [{name: str(t.id)} for t in w.out_of_scope(viewer, kind)]
            for query in queries:
                response = viewer.client.get(path, query_string=query)
                calls += 1
                where = f"{op} {query or ''} as {viewer.name}"
                # 403: a group-only list refused outright (it names nothing) is fine.
                if response.status_code >= 500 or response.status_code == 401:
                    failures.append(f"{where}: {response.status_code} {response.data[:200]!r}")
                    continue
                sent = {v for v in query.values()} | {uuid.UUID(v).hex for v in _uuids(query)}
                if found := leaks(response.data.decode(), markers, sent):
                    failures.append(f"{where}: shows foreign {found}")
    assert calls > 50, calls
    assert not failures, "\n".join(failures[:50])
    assert fingerprint(app) == before


def test_writes_naming_another_subtree_are_refused_and_change_nothing(app, make, api):
    ops, doc = operations(app)
    w = world(make, api)
    before = fingerprint(app)
    failures: list[str] = []
    calls = 0
    for viewer in w.viewers:
        markers = w.foreign_markers(viewer)
        allowed = {404, 422} if viewer.role == "admin" else {403, 404, 422}
        for op in ops:
            if op.method not in ("POST", "PUT", "PATCH") or op.key in UNSCOPED:
                continue
            kinds = param_kinds(op)
            if None in kinds.values() or missing_in_scope(w, viewer, kinds):
                continue
            group_only = op.key in GROUP_ONLY and viewer.level != "group"
            for name, kind in body_references(op, doc).items():
                if kind is None:
                    continue
                for target in w.out_of_scope(viewer, kind):
                    body = sample_body(op, doc, viewer, w)
                    body[name] = str(target.id)
                    response = viewer.client.request(
                        op.method, _fill(op, kinds, viewer, w, {}), json=body
                    )
                    calls += 1
                    where = f"{op} as {viewer.name} with {name}={target.id} ({target.kind})"
                    ok = allowed | {403} if group_only else allowed
                    if response.status_code == 403 and 403 not in ok:
                        # A refusal of what the caller is (e.g. "tenants cannot ...") reveals
                        # nothing if naming an id that exists nowhere gets the same answer.
                        body[name] = str(uuid.uuid4())
                        ghost = viewer.client.request(
                            op.method, _fill(op, kinds, viewer, w, {}), json=body
                        )
                        if (ghost.status_code, without(ghost.data.decode(), body[name])) == (
                            403,
                            without(response.data.decode(), str(target.id)),
                        ):
                            ok = ok | {403}
                    if response.status_code not in ok:
                        failures.append(f"{where}: {response.status_code} {response.data[:200]!r}")
                        continue
                    found = leaks(
                        response.data.decode(), markers, {str(target.id), _hex(target.id)}
                    )
                    if found:
                        failures.append(f"{where}: body names foreign {found}")
                    if response.status_code == 422:
                        named = response.json.get("errors", {})
                        if name not in named:
                            failures.append(
                                f"{where}: 422 without naming {name}: {named} (the sample body is"
                                " invalid elsewhere: teach SAMPLES a valid value for that field)"
                            )
    assert calls > 50, calls
    assert not failures, "\n".join(failures[:50])
    assert fingerprint(app) == before


# --- helpers ---------------------------------------------------------------------------------


def _fill(op: Operation, kinds: dict[str, str | None], viewer: Viewer, w: World, given) -> str:
    """The operation's path with `given` ids, and in-scope ids for the other parameters."""
    path = op.path
    for param, kind in kinds.items():
        value = given.get(param)
        if value is None and kind == VALUE:
            value = SAMPLES[param]
        elif value is None:
            own = w.in_scope(viewer, kind)
            value = own.id if own else _missing_id(uuid.uuid4())
        path = path.replace("{" + param + "}", str(value))
    return PREFIX + path


def _missing_id(like: Any) -> Any:
    return 2**31 - 7 if isinstance(like, int) else uuid.uuid4()


def _hex(value: Any) -> str:
    return value.hex if isinstance(value, uuid.UUID) else str(value)


def _has_query(op: Operation, name: str) -> bool:
    return any(p.get("in") == "query" and p["name"] == name for p in op.spec.get("parameters", []))


def _uuids(query: dict[str, str]) -> list[str]:
    out = []
    for value in query.values():
        try:
            uuid.UUID(value)
        except ValueError:
            continue
        out.append(value)
    return out
