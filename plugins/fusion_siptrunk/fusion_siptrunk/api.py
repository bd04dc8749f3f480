"""/api/v1/siptrunk/...: SBCs, calling plans, the group's block list, trunks with their access
trunks (PoPs), DIDs, block/allow lists and calling plan, and subscriptions' capacity.

Views are thin: they load in scope (404 otherwise), call `services` (which hold the rules and
flush) and commit. Jobs a change enqueues run after that commit, so a response read after it
shows the sync status the jobs left (in tests, where jobs run eagerly: the final one).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import func, select

from fusion_core import permissions
from fusion_core.api.errors import ErrorSchema
from fusion_core.api.http import check_if_match, with_etag
from fusion_core.api.lists import ListArgs, page_schema, paginate
from fusion_core.api.schemas import StrictSchema
from fusion_core.context import current_actor
from fusion_core.db import session
from fusion_core.errors import Forbidden, NotFound
from fusion_core.hierarchy.models import Organization, Subscription
from fusion_core.jobs import enqueue
from fusion_core.jobs.models import SyncStatus
from fusion_core.scope import load, scoped
from fusion_siptrunk import plans, services, sync
from fusion_siptrunk.models import (
    BARRING_CATEGORIES,
    DIRECTIONS,
    LICENCES,
    TRUNK_KINDS,
    AccessTrunk,
    CallingPlan,
    Did,
    ListEntry,
    Sbc,
    Trunk,
)
from fusion_siptrunk.sbc import FORMATS, TRANSPORTS

PREFIX = "/siptrunk"

# --- schemas --------------------------------------------------------------------------------


class SyncSchema(StrictSchema):
    state = fields.String(metadata={"description": "pending, in_sync, failed or out_of_sync"})
    error = fields.String(allow_none=True)
    last_synced_at = fields.DateTime(allow_none=True)


class PopSyncSchema(SyncSchema):
    access_trunk_id = fields.UUID()
    sbc = fields.String(metadata={"description": "the SBC's name"})


class TrunkSyncSchema(StrictSchema):
    state = fields.String(metadata={"description": "the worst of its PoPs' states"})
    pops = fields.List(fields.Nested(PopSyncSchema))


class GatewaySchema(StrictSchema):
    host = fields.String(required=True)
    port = fields.Integer(load_default=5060)
    transport = fields.String(load_default="udp", validate=validate.OneOf(TRANSPORTS))


class SbcFieldsSchema(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    driver = fields.String(metadata={"description": "a registered SBC driver, e.g. kamailio"})
    locale = fields.String(validate=validate.Length(max=20))
    signalling_host = fields.String(metadata={"description": "IP address or host name"})
    signalling_port = fields.Integer()
    settings = fields.Dict(
        load_only=True,
        metadata={"description": "driver connection settings (write-only: never returned)"},
    )
    carrier_sources = fields.List(fields.String(), metadata={"description": "IPs or CIDRs"})
    carrier_gateways = fields.List(fields.Nested(GatewaySchema))
    enabled = fields.Boolean()


class SbcSchema(SbcFieldsSchema):
    id = fields.UUID(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    signalling_host = fields.String(required=True)
    settings_keys = fields.List(
        fields.String(),
        dump_only=True,
        metadata={"description": "the names of the settings held (their values stay hidden)"},
    )
    sync = fields.Nested(SyncSchema, dump_only=True)
    last_reconcile = fields.Dict(dump_only=True, allow_none=True)
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class ReconcileSchema(StrictSchema):
    sbc_id = fields.UUID()
    job = fields.String()
    last_reconcile = fields.Dict(allow_none=True)


class PlanClassSchema(StrictSchema):
    key = fields.String(required=True)
    label = fields.String()
    category = fields.String(required=True, validate=validate.OneOf(BARRING_CATEGORIES))
    pattern = fields.String(required=True, metadata={"description": "regex starting with ^\\+"})
    default = fields.Boolean(metadata={"description": "may trunks call it unless they say no"})


class PlanSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    country = fields.String(dump_only=True)
    key = fields.Integer(dump_only=True)
    classes = fields.List(fields.Dict(), required=True)
    version = fields.Integer(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class EntrySchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    trunk_id = fields.UUID(dump_only=True, allow_none=True)
    kind = fields.String(dump_only=True)
    prefix = fields.String(required=True, metadata={"description": "E.164 prefix, e.g. +449"})
    note = fields.String(allow_none=True, validate=validate.Length(max=200))
    created_at = fields.DateTime(dump_only=True)


class AccessFieldsSchema(StrictSchema):
    locale = fields.String(validate=validate.Length(max=20))
    realm = fields.String(allow_none=True, metadata={"description": "private realm (R-URI host)"})
    direction = fields.String(validate=validate.OneOf(DIRECTIONS))
    options_ping = fields.Boolean()
    transport = fields.String(validate=validate.OneOf(TRANSPORTS))
    host = fields.String(metadata={"description": "the PBX as seen from this PoP"})
    port = fields.Integer()
    priority = fields.Integer()
    weight = fields.Integer()
    sources = fields.List(fields.String(), allow_none=True)


class AccessTrunkNewSchema(AccessFieldsSchema):
    sbc_id = fields.UUID(required=True)
    host = fields.String(required=True)


class AccessTrunkSchema(AccessTrunkNewSchema):
    id = fields.UUID(dump_only=True)
    trunk_id = fields.UUID(dump_only=True)
    sbc = fields.String(dump_only=True, metadata={"description": "the SBC's name"})
    sync = fields.Nested(SyncSchema, dump_only=True)
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class AccessTrunkUpdateSchema(AccessFieldsSchema):
    pass


class TrunkFieldsSchema(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    kind = fields.String(validate=validate.OneOf(TRUNK_KINDS))
    licence = fields.String(validate=validate.OneOf(LICENCES))
    country = fields.String(metadata={"description": "ISO 3166 alpha-2: the calling plan"})
    billing_id = fields.String(allow_none=True, validate=validate.Length(max=100))
    format_in = fields.String(validate=validate.OneOf(FORMATS))
    format_out = fields.String(validate=validate.OneOf(FORMATS))
    inbound_enabled = fields.Boolean()
    outbound_enabled = fields.Boolean()
    max_calls = fields.Integer(metadata={"description": "simultaneous calls (sip_channel units)"})
    dr_destination = fields.String(allow_none=True, metadata={"description": "E.164"})
    dr_active = fields.Boolean()
    barred = fields.List(fields.String(validate=validate.OneOf(BARRING_CATEGORIES)))
    address_id = fields.UUID(allow_none=True)


class TrunkNewSchema(TrunkFieldsSchema):
    subscription_id = fields.UUID(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    # one click: an access trunk on every SBC of the group, all pointing at the PBX
    pbx_host = fields.String(load_only=True)
    pbx_port = fields.Integer(load_only=True)
    transport = fields.String(load_only=True, validate=validate.OneOf(TRANSPORTS))
    direction = fields.String(load_only=True, validate=validate.OneOf(DIRECTIONS))
    realm = fields.String(load_only=True, allow_none=True)
    options_ping = fields.Boolean(load_only=True)
    sources = fields.List(fields.String(), load_only=True, allow_none=True)
    # ... or the PoPs one by one
    access_trunks = fields.List(fields.Nested(AccessTrunkNewSchema))


class TrunkSchema(TrunkNewSchema):
    id = fields.UUID(dump_only=True)
    key = fields.Integer(dump_only=True, metadata={"description": "the SBCs' key (>= 100)"})
    plan_settings = fields.Dict(dump_only=True)
    access_trunks = fields.List(fields.Nested(AccessTrunkSchema))
    sync = fields.Nested(TrunkSyncSchema, dump_only=True)
    did_count = fields.Integer(dump_only=True)
    pilot = fields.String(dump_only=True, allow_none=True, metadata={"description": "E.164"})
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class TrunkUpdateSchema(TrunkFieldsSchema):
    pass


class TrunkListArgs(ListArgs):
    subscription_id = fields.UUID()


class DidFieldsSchema(StrictSchema):
    pilot = fields.Boolean()
    rewrite_to = fields.String(
        allow_none=True, metadata={"description": "deliver as: an extension or E.164 number"}
    )
    divert_to = fields.String(allow_none=True, metadata={"description": "E.164"})
    dr_destination = fields.String(allow_none=True, metadata={"description": "E.164"})
    dr_active = fields.Boolean()
    address_id = fields.UUID(allow_none=True)


class DidNewSchema(DidFieldsSchema):
    number_id = fields.UUID(metadata={"description": "the number, or give e164"})
    e164 = fields.String()


class DidSchema(DidNewSchema):
    id = fields.UUID(dump_only=True)
    trunk_id = fields.UUID(dump_only=True)
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class DidUpdateSchema(DidFieldsSchema):
    pass


class PlanClassSettingSchema(StrictSchema):
    enabled = fields.Boolean()
    locked = fields.Boolean(metadata={"description": "upstream administrators only"})


class TrunkPlanUpdateSchema(StrictSchema):
    classes = fields.Dict(
        keys=fields.String(), values=fields.Nested(PlanClassSettingSchema), required=True
    )


class TrunkPlanClassSchema(StrictSchema):
    key = fields.String()
    label = fields.String()
    category = fields.String()
    enabled = fields.Boolean()
    locked = fields.Boolean()
    barred = fields.Boolean(metadata={"description": "by a barred category or the licence"})
    allowed = fields.Boolean(metadata={"description": "what the SBC lets through"})


class TrunkPlanSchema(StrictSchema):
    country = fields.String()
    plan_key = fields.Integer()
    classes = fields.List(fields.Nested(TrunkPlanClassSchema))


class CapacitySchema(StrictSchema):
    subscription_id = fields.UUID(dump_only=True)
    ordered = fields.Integer(dump_only=True, metadata={"description": "sip_channel ordered"})
    configured = fields.Integer(dump_only=True, metadata={"description": "sum of max_calls"})
    max_calls = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "the subscription's own limit; null: the channels ordered"},
    )
    limit = fields.Integer(dump_only=True, metadata={"description": "what the SBCs enforce"})


# --- views: helpers ---------------------------------------------------------------------------


def _status_body(status: SyncStatus | None) -> dict[str, Any]:
    if status is None:
        return {"state": "pending", "error": None, "last_synced_at": None}
    return {
        "state": status.state,
        "error": status.last_error,
        "last_synced_at": status.last_synced_at,
    }


def _columns(obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__mapper__.column_attrs}


def sbc_body(sbc: Sbc) -> dict[str, Any]:
    status = session.scalar(
        select(SyncStatus).where(
            SyncStatus.entity_type == Sbc.__tablename__,
            SyncStatus.entity_id == str(sbc.id),
            SyncStatus.target == sync.SHARED_TARGET,
        )
    )
    body = _columns(sbc)
    body.pop("settings", None)
    body["settings_keys"] = sorted(sbc.settings or {})
    body["sync"] = _status_body(status)
    body["last_reconcile"] = sync.last_reconcile(sbc)
    return body


def _statuses(access_ids: list[uuid.UUID]) -> dict[uuid.UUID, SyncStatus]:
    if not access_ids:
        return {}
    rows = session.scalars(
        select(SyncStatus).where(
            SyncStatus.entity_type == AccessTrunk.__tablename__,
            SyncStatus.entity_id.in_([str(i) for i in access_ids]),
        )
    )
    return {uuid.UUID(s.entity_id): s for s in rows}


def _sbc_names(ids) -> dict[uuid.UUID, str]:
    ids = list(set(ids))
    if not ids:
        return {}
    return dict(session.execute(select(Sbc.id, Sbc.name).where(Sbc.id.in_(ids))).all())


def access_bodies(accesses: list[AccessTrunk]) -> list[dict[str, Any]]:
    statuses = _statuses([a.id for a in accesses])
    names = _sbc_names(a.sbc_id for a in accesses)
    bodies = []
    for access in accesses:
        body = _columns(access)
        body["sbc"] = names.get(access.sbc_id)
        body["sync"] = _status_body(statuses.get(access.id))
        bodies.append(body)
    return bodies


def trunk_bodies(trunks: list[Trunk]) -> list[dict[str, Any]]:
    """Trunks with their PoPs and sync states, DID count and pilot, in a handful of queries."""
    ids = [t.id for t in trunks]
    if not ids:
        return []
    accesses = session.scalars(
        select(AccessTrunk)
        .where(AccessTrunk.trunk_id.in_(ids))
        .order_by(AccessTrunk.priority, AccessTrunk.id)
    ).all()
    by_trunk: dict[uuid.UUID, list[dict[str, Any]]] = {i: [] for i in ids}
    for body in access_bodies(list(accesses)):
        by_trunk[body["trunk_id"]].append(body)
    counts = dict(
        session.execute(
            select(Did.trunk_id, func.count()).where(Did.trunk_id.in_(ids)).group_by(Did.trunk_id)
        ).all()
    )
    pilots = dict(
        session.execute(
            select(Did.trunk_id, Did.e164).where(Did.trunk_id.in_(ids), Did.pilot.is_(True))
        ).all()
    )
    bodies = []
    for trunk in trunks:
        body = _columns(trunk)
        pops = by_trunk[trunk.id]
        body["access_trunks"] = pops
        body["sync"] = {
            "state": sync.overall([p["sync"]["state"] for p in pops]),
            "pops": [{"access_trunk_id": p["id"], "sbc": p["sbc"], **p["sync"]} for p in pops],
        }
        body["did_count"] = counts.get(trunk.id, 0)
        body["pilot"] = pilots.get(trunk.id)
        bodies.append(body)
    return bodies


def trunk_body(trunk: Trunk) -> dict[str, Any]:
    return trunk_bodies([trunk])[0]


def commit() -> None:
    """Commit the request's change. The jobs it enqueued run after the commit (eagerly in
    tests) in a session of their own and may change rows this one holds (sync states, a
    reconcile's report); the app's sessions do not expire on commit, so expire them here and
    the response shows what the jobs left."""
    session.commit()
    session.expire_all()


def respond(obj: Any, body: dict[str, Any], status: int = 200):
    """A single resource with its ETag (`"<id hex>-<version>"`)."""
    _obj, status, headers = with_etag(obj, status)
    return body, status, headers


def _group_only(what: str) -> None:
    actor = current_actor()
    if not actor.unrestricted and not actor.is_group:
        raise Forbidden(f"{what} belong to group administrators.")


def _group_path() -> str:
    return services.actor_group_path(session, current_actor())


def _trunk(id) -> Trunk:
    return services.get_trunk(session, id)


# --- SBCs -----------------------------------------------------------------------------------

sbcs = Blueprint(
    "siptrunk_sbcs",
    __name__,
    url_prefix=f"{PREFIX}/sbcs",
    description="SIP trunking: the group's SBCs (points of presence).",
)


@sbcs.route("")
class SbcCollection(MethodView):
    @sbcs.arguments(ListArgs, location="query")
    @sbcs.response(200, page_schema(SbcSchema))
    def get(self, args):
        """The SBCs of your group (group administrators see them), with their shared-state
        sync status and last reconcile."""
        page = paginate(
            scoped(select(Sbc), Sbc),
            args,
            sortable={"name": Sbc.name, "created_at": Sbc.created_at},
            default_sort="name",
            search=[Sbc.name, Sbc.signalling_host, Sbc.locale],
            tiebreak=Sbc.id,
        )
        page["items"] = [sbc_body(s) for s in page["items"]]
        return page

    @sbcs.arguments(SbcSchema)
    @sbcs.response(201, SbcSchema)
    @sbcs.alt_response(403, schema=ErrorSchema)
    @sbcs.alt_response(422, schema=ErrorSchema)
    def post(self, data):
        """Add an SBC (group administrators); `settings` is write-only."""
        sbc = services.create_sbc(session, data)
        commit()
        return respond(sbc, sbc_body(sbc), 201)


@sbcs.route("/<id:id>")
class SbcItem(MethodView):
    @sbcs.response(200, SbcSchema)
    @sbcs.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """One SBC; the ETag carries its version."""
        sbc = services.get_sbc(session, id)
        return respond(sbc, sbc_body(sbc))

    @sbcs.arguments(SbcFieldsSchema)
    @sbcs.response(200, SbcSchema)
    @sbcs.alt_response(412, schema=ErrorSchema)
    def patch(self, data, id):
        """Change an SBC (group administrators; send If-Match); its trunks are synced again."""
        sbc = services.get_sbc(session, id)
        check_if_match(sbc)
        services.update_sbc(session, sbc, data)
        commit()
        return respond(sbc, sbc_body(sbc))

    @sbcs.response(204)
    @sbcs.alt_response(409, schema=ErrorSchema, description="access trunks still use it")
    def delete(self, id):
        """Delete an SBC no access trunk uses (group administrators)."""
        sbc = services.get_sbc(session, id)
        check_if_match(sbc)
        services.delete_sbc(session, sbc)
        commit()


@sbcs.route("/<id:id>/reconcile")
class SbcReconcile(MethodView):
    @sbcs.response(202, ReconcileSchema)
    @sbcs.alt_response(403, schema=ErrorSchema)
    def post(self, id):
        """Compare the SBC with the database and repair drift, now (job `siptrunk.reconcile`).
        `last_reconcile` is the report as it stands when the answer is sent: the new one once
        the job has run (at once where jobs run eagerly)."""
        sbc = services.get_sbc(session, id)
        permissions.require(current_actor(), "siptrunk.sbcs", "reconcile SBCs")
        enqueue(session, sync.RECONCILE_JOB, sbc_id=str(sbc.id))
        commit()
        return {
            "sbc_id": sbc.id,
            "job": sync.RECONCILE_JOB,
            "last_reconcile": sync.last_reconcile(sbc),
        }


# --- calling plans --------------------------------------------------------------------------

calling_plans = Blueprint(
    "siptrunk_calling_plans",
    __name__,
    url_prefix=f"{PREFIX}/calling-plans",
    description="SIP trunking: the group's calling plans (destination classes per country).",
)


@calling_plans.route("")
class PlanCollection(MethodView):
    @calling_plans.arguments(ListArgs, location="query")
    @calling_plans.response(200, page_schema(PlanSchema))
    def get(self, args):
        """Your group's calling plans (group administrators)."""
        _group_only("Calling plans")
        return paginate(
            select(CallingPlan).where(CallingPlan.org_path == _group_path()),
            args,
            sortable={"country": CallingPlan.country, "created_at": CallingPlan.created_at},
            default_sort="country",
            search=[CallingPlan.country],
            tiebreak=CallingPlan.id,
        )


@calling_plans.route("/<country>")
class PlanItem(MethodView):
    @calling_plans.response(200, PlanSchema)
    @calling_plans.alt_response(422, schema=ErrorSchema, description="not a country code")
    def get(self, country):
        """The group's plan for a country (ISO alpha-2), made from the defaults on first use."""
        _group_only("Calling plans")
        plan = plans.plan_for(session, _group_path(), services.check_country(country))
        commit()
        return with_etag(plan)

    @calling_plans.arguments(PlanSchema)
    @calling_plans.response(200, PlanSchema)
    @calling_plans.alt_response(403, schema=ErrorSchema)
    @calling_plans.alt_response(412, schema=ErrorSchema)
    def put(self, data, country):
        """Replace the plan's ordered classes (group administrators; send If-Match): each
        `{key, label, category, pattern, default}`; every SBC and trunk of the country is
        synced again."""
        permissions.require(current_actor(), "siptrunk.calling_plans")
        plan = plans.plan_for(session, _group_path(), services.check_country(country))
        check_if_match(plan)
        plans.update_plan(session, plan, data["classes"])
        commit()
        return with_etag(plan)


# --- the group's block list -----------------------------------------------------------------

group_block_list = Blueprint(
    "siptrunk_block_list",
    __name__,
    url_prefix=f"{PREFIX}/block-list",
    description="SIP trunking: the group's block list, applied first to every trunk.",
)


@group_block_list.route("")
class GroupBlockList(MethodView):
    @group_block_list.arguments(ListArgs, location="query")
    @group_block_list.response(200, page_schema(EntrySchema))
    def get(self, args):
        """The prefixes no trunk of the group may call (group administrators)."""
        _group_only("The group's block list")
        return _entries_page(
            services.list_entries(session, trunk=None, kind="block", group=_group_path()), args
        )

    @group_block_list.arguments(EntrySchema)
    @group_block_list.response(201, EntrySchema)
    @group_block_list.alt_response(403, schema=ErrorSchema)
    def post(self, data):
        """Block a prefix for every trunk (group administrators)."""
        entry = services.add_entry(session, trunk=None, kind="block", data=data)
        commit()
        return entry, 201


@group_block_list.route("/<id:id>")
class GroupBlockEntry(MethodView):
    @group_block_list.response(204)
    @group_block_list.alt_response(404, schema=ErrorSchema)
    def delete(self, id):
        """Remove a prefix from the group's block list (group administrators)."""
        entry = services.get_entry(session, id, trunk=None, kind="block")
        services.remove_entry(session, entry)
        commit()


def _entries_page(stmt, args):
    return paginate(
        stmt.order_by(None),
        args,
        sortable={"prefix": ListEntry.prefix, "created_at": ListEntry.created_at},
        default_sort="prefix",
        search=[ListEntry.prefix, ListEntry.note],
        tiebreak=ListEntry.id,
    )


# --- trunks ---------------------------------------------------------------------------------

trunks = Blueprint(
    "siptrunk_trunks",
    __name__,
    url_prefix=f"{PREFIX}/trunks",
    description="SIP trunking: trunks, their PoPs, DIDs, call lists and calling plan.",
)


@trunks.route("")
class TrunkCollection(MethodView):
    @trunks.arguments(TrunkListArgs, location="query")
    @trunks.response(200, page_schema(TrunkSchema))
    def get(self, args):
        """Trunks in your scope; filter by `subscription_id`, search name and billing id."""
        stmt = scoped(select(Trunk), Trunk)
        if "subscription_id" in args:
            stmt = stmt.where(Trunk.subscription_id == args["subscription_id"])
        page = paginate(
            stmt,
            args,
            sortable={
                "name": Trunk.name,
                "created_at": Trunk.created_at,
                "max_calls": Trunk.max_calls,
                "key": Trunk.key,
            },
            default_sort="name",
            search=[Trunk.name, Trunk.billing_id],
            tiebreak=Trunk.id,
        )
        page["items"] = trunk_bodies(list(page["items"]))
        return page

    @trunks.arguments(TrunkNewSchema)
    @trunks.response(201, TrunkSchema)
    @trunks.alt_response(409, schema=ErrorSchema, description="no licence or channels left")
    @trunks.alt_response(422, schema=ErrorSchema)
    def post(self, data):
        """Create a trunk: give `pbx_host` (one click: an access trunk on every SBC of the
        group) or `access_trunks`. Takes one trunk licence and `max_calls` SIP channels from
        the subscription's entitlements (409 naming the SKU when none are left)."""
        data = dict(data)
        if "access_trunks" in data:
            data["access_trunks"] = [
                {**a, "sbc_id": str(a["sbc_id"])} for a in data["access_trunks"]
            ]
        trunk = services.create_trunk(session, data.pop("subscription_id"), data)
        commit()
        return respond(trunk, trunk_body(trunk), 201)


@trunks.route("/<id:id>")
class TrunkItem(MethodView):
    @trunks.response(200, TrunkSchema)
    @trunks.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """One trunk with its PoPs, their sync states, DID count and pilot number."""
        trunk = _trunk(id)
        return respond(trunk, trunk_body(trunk))

    @trunks.arguments(TrunkUpdateSchema)
    @trunks.response(200, TrunkSchema)
    @trunks.alt_response(409, schema=ErrorSchema, description="not enough channels left")
    @trunks.alt_response(412, schema=ErrorSchema)
    def patch(self, data, id):
        """Change a trunk (send If-Match); a new `max_calls` takes or gives back channels."""
        trunk = _trunk(id)
        check_if_match(trunk)
        services.update_trunk(session, trunk, data)
        commit()
        return respond(trunk, trunk_body(trunk))

    @trunks.response(204)
    @trunks.alt_response(412, schema=ErrorSchema)
    def delete(self, id):
        """Delete a trunk: off every SBC, its numbers unassigned (they stay allocated to the
        subscription), its licence and channels given back."""
        trunk = _trunk(id)
        check_if_match(trunk)
        services.delete_trunk(session, trunk)
        commit()


@trunks.route("/<id:id>/sync")
class TrunkSync(MethodView):
    @trunks.response(202, TrunkSchema)
    @trunks.alt_response(404, schema=ErrorSchema)
    def post(self, id):
        """Provision the trunk on its SBCs again (jobs `siptrunk.sync`)."""
        trunk = _trunk(id)
        permissions.require_write(current_actor())
        sync.request(session, trunk)
        commit()
        return respond(trunk, trunk_body(trunk), 202)


# access trunks


@trunks.route("/<id:id>/access-trunks")
class AccessTrunkCollection(MethodView):
    @trunks.arguments(ListArgs, location="query")
    @trunks.response(200, page_schema(AccessTrunkSchema))
    def get(self, args, id):
        """The trunk's PoPs with their sync states."""
        trunk = _trunk(id)
        page = paginate(
            select(AccessTrunk).where(AccessTrunk.trunk_id == trunk.id),
            args,
            sortable={"priority": AccessTrunk.priority, "created_at": AccessTrunk.created_at},
            default_sort="priority",
            search=[AccessTrunk.host, AccessTrunk.realm, AccessTrunk.locale],
            tiebreak=AccessTrunk.id,
        )
        page["items"] = access_bodies(list(page["items"]))
        return page

    @trunks.arguments(AccessTrunkNewSchema)
    @trunks.response(201, AccessTrunkSchema)
    @trunks.alt_response(422, schema=ErrorSchema)
    def post(self, data, id):
        """Put the trunk on one more SBC."""
        trunk = _trunk(id)
        access = services.add_access_trunk(session, trunk, {**data, "sbc_id": str(data["sbc_id"])})
        commit()
        return respond(access, access_bodies([access])[0], 201)


@trunks.route("/<id:id>/access-trunks/<aid>")
class AccessTrunkItem(MethodView):
    @trunks.response(200, AccessTrunkSchema)
    @trunks.alt_response(404, schema=ErrorSchema)
    def get(self, id, aid):
        """One PoP of the trunk."""
        access = services.get_access_trunk(session, _trunk(id), aid)
        return respond(access, access_bodies([access])[0])

    @trunks.arguments(AccessTrunkUpdateSchema)
    @trunks.response(200, AccessTrunkSchema)
    @trunks.alt_response(412, schema=ErrorSchema)
    def patch(self, data, id, aid):
        """Change a PoP (send If-Match); it stays on its SBC."""
        access = services.get_access_trunk(session, _trunk(id), aid)
        check_if_match(access)
        services.update_access_trunk(session, access, data)
        commit()
        return respond(access, access_bodies([access])[0])

    @trunks.response(204)
    @trunks.alt_response(409, schema=ErrorSchema, description="the trunk's last PoP")
    def delete(self, id, aid):
        """Take the trunk off one SBC (not its last one)."""
        access = services.get_access_trunk(session, _trunk(id), aid)
        check_if_match(access)
        services.delete_access_trunk(session, access)
        commit()


# DIDs


@trunks.route("/<id:id>/dids")
class DidCollection(MethodView):
    @trunks.arguments(ListArgs, location="query")
    @trunks.response(200, page_schema(DidSchema))
    def get(self, args, id):
        """The trunk's DIDs; `q` is an E.164 prefix (`%2B4420` or `4420`: the + is implied)."""
        trunk = _trunk(id)
        prefix = (args.get("q") or "").replace(" ", "")
        if prefix and not prefix.startswith("+"):
            prefix = "+" + prefix  # a "+" unescaped in a query string arrives as a space
        return paginate(
            services.list_dids(session, trunk, prefix or None).order_by(None),
            {**args, "q": None},
            sortable={"e164": Did.e164, "created_at": Did.created_at},
            default_sort="e164",
            tiebreak=Did.id,
        )

    @trunks.arguments(DidNewSchema)
    @trunks.response(201, DidSchema)
    @trunks.alt_response(422, schema=ErrorSchema)
    def post(self, data, id):
        """Assign one of the subscription's numbers (`number_id` or `e164`) to the trunk,
        through the core's number assignment (target `siptrunk.trunk`). The first DID is the
        pilot unless told otherwise; a new pilot replaces the old one."""
        trunk = _trunk(id)
        did = services.add_did(session, trunk, data)
        commit()
        return with_etag(did, 201)


@trunks.route("/<id:id>/dids/<did>")
class DidItem(MethodView):
    @trunks.response(200, DidSchema)
    @trunks.alt_response(404, schema=ErrorSchema)
    def get(self, id, did):
        """One DID of the trunk."""
        return with_etag(services.get_did(session, _trunk(id), did))

    @trunks.arguments(DidUpdateSchema)
    @trunks.response(200, DidSchema)
    @trunks.alt_response(412, schema=ErrorSchema)
    def patch(self, data, id, did):
        """Change a DID: pilot, rewrite, divert, its disaster recovery, address."""
        row = services.get_did(session, _trunk(id), did)
        check_if_match(row)
        services.update_did(session, row, data)
        commit()
        return with_etag(row)

    @trunks.response(204)
    @trunks.alt_response(404, schema=ErrorSchema)
    def delete(self, id, did):
        """Take the number off the trunk; it stays allocated to the subscription."""
        row = services.get_did(session, _trunk(id), did)
        check_if_match(row)
        services.remove_did(session, row)
        commit()


# block and allow lists


def _list_views(kind: str) -> None:
    path = f"/<id:id>/{kind}-list"

    class EntryCollection(MethodView):
        @trunks.arguments(ListArgs, location="query")
        @trunks.response(200, page_schema(EntrySchema))
        def get(self, args, id):
            trunk = _trunk(id)
            return _entries_page(services.list_entries(session, trunk=trunk, kind=kind), args)

        @trunks.arguments(EntrySchema)
        @trunks.response(201, EntrySchema)
        @trunks.alt_response(422, schema=ErrorSchema)
        def post(self, data, id):
            entry = services.add_entry(session, trunk=_trunk(id), kind=kind, data=data)
            commit()
            return entry, 201

    class EntryItem(MethodView):
        @trunks.response(204)
        @trunks.alt_response(404, schema=ErrorSchema)
        def delete(self, id, entry):
            row = services.get_entry(session, entry, trunk=_trunk(id), kind=kind)
            services.remove_entry(session, row)
            commit()

    what = "refused" if kind == "block" else "allowed whatever their class"
    EntryCollection.get.__doc__ = f"The trunk's {kind} list: E.164 prefixes {what}."
    EntryCollection.post.__doc__ = f"Add a prefix to the trunk's {kind} list."
    EntryItem.delete.__doc__ = f"Remove a prefix from the trunk's {kind} list."
    EntryCollection.__name__ = f"Trunk{kind.title()}List"
    EntryItem.__name__ = f"Trunk{kind.title()}Entry"
    trunks.route(path, endpoint=f"trunk_{kind}_list")(EntryCollection)
    trunks.route(f"{path}/<entry>", endpoint=f"trunk_{kind}_entry")(EntryItem)


for _kind in ("block", "allow"):
    _list_views(_kind)


@trunks.route("/<id:id>/calling-plan")
class TrunkPlan(MethodView):
    @trunks.response(200, TrunkPlanSchema)
    @trunks.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """Each class of the trunk country's plan: enabled, locked, barred, allowed."""
        view = services.trunk_plan(session, _trunk(id))
        commit()  # the group's plan may just have been made from the defaults
        return view

    @trunks.arguments(TrunkPlanUpdateSchema)
    @trunks.response(200, TrunkPlanSchema)
    @trunks.alt_response(403, schema=ErrorSchema, description="a locked class, or a lock")
    def patch(self, data, id):
        """Toggle classes `{key: {enabled, locked}}`: tenant administrators toggle unlocked
        classes; locking, unlocking and changing locked classes is for upstream ones."""
        view = services.update_trunk_plan(session, _trunk(id), data["classes"])
        commit()
        return view


# --- capacity -------------------------------------------------------------------------------

capacity = Blueprint(
    "siptrunk_capacity",
    __name__,
    url_prefix=f"{PREFIX}/subscriptions",
    description="SIP trunking: a subscription's limit on simultaneous calls.",
)


def _subscription(id) -> Subscription:
    sub = load(Subscription, id)
    if sub.platform != services.PLATFORM:
        raise NotFound(
            f"Subscription {id} is not a SIP-trunking subscription.",
            errors={"id": ["Not a SIP-trunking subscription."]},
        )
    return sub


@capacity.route("/<id:id>/capacity")
class CapacityItem(MethodView):
    @capacity.response(200, CapacitySchema)
    @capacity.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """Channels ordered, configured on trunks, the subscription's own limit and the limit
        the SBCs enforce."""
        return services.capacity_of(session, _subscription(id))

    @capacity.arguments(CapacitySchema)
    @capacity.response(200, CapacitySchema)
    @capacity.alt_response(422, schema=ErrorSchema)
    def put(self, data, id):
        """Set the subscription's limit (at most the channels ordered; null: all of them)."""
        body = services.set_subscription_limit(session, _subscription(id), data["max_calls"])
        commit()
        return body


# --- tenant settings ------------------------------------------------------------------------

tenant_settings = Blueprint(
    "siptrunk_tenant_settings",
    __name__,
    url_prefix=f"{PREFIX}/tenants",
    description="SIP trunking: a tenant's defaults for new trunks.",
)


class SiptrunkTenantSettingsSchema(StrictSchema):
    tenant_id = fields.UUID(dump_only=True)
    country = fields.String(allow_none=True, metadata={"description": "ISO 3166 alpha-2"})
    format_in = fields.String(validate=validate.OneOf(FORMATS))
    format_out = fields.String(validate=validate.OneOf(FORMATS))
    address_id = fields.UUID(allow_none=True)


def _tenant(id) -> Organization:
    tenant = load(Organization, id)
    if tenant.kind != "tenant":
        raise NotFound(f"No tenant with id {id}.", errors={"id": ["Not a tenant."]})
    return tenant


@tenant_settings.route("/<id:id>/settings")
class TenantSettingsItem(MethodView):
    @tenant_settings.response(200, SiptrunkTenantSettingsSchema)
    @tenant_settings.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """What the tenant's new trunks start from: country, presentation formats, emergency
        address (each used when a trunk's request leaves it out)."""
        return services.tenant_settings(session, _tenant(id))

    @tenant_settings.arguments(SiptrunkTenantSettingsSchema)
    @tenant_settings.response(200, SiptrunkTenantSettingsSchema)
    @tenant_settings.alt_response(422, schema=ErrorSchema)
    def patch(self, data, id):
        """Change some of the defaults; the address must be the tenant's own (and valid where
        the country's rules require one)."""
        found = services.update_tenant_settings(session, _tenant(id), data)
        commit()
        return found


blueprints = [sbcs, calling_plans, group_block_list, trunks, capacity, tenant_settings]
