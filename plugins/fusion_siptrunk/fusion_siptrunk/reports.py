"""The SIP capacity report: per subscription (or per trunk), SIP channels ordered (entitlements),
configured (the trunks' `max_calls`), the subscription's effective limit, and calls in use right
now (the SBCs' live dialog counts), with roll-up totals up the hierarchy. JSON, CSV or XLSX.

`api` (flask-smorest, `GET /api/v1/siptrunk/reports/capacity`) and `portal` (the page
`/siptrunk/reports/capacity` and its exports) are registered by `fusion_siptrunk.plugin`.

Shape, like the core's licence report (`fusion_core.catalog.reports`): flat rows with the
organisation they belong to. Each row has `row`: `subscription` or `trunk` (by `level`), then
`total` rows, one per reseller, distributor and group in the report's subtree and one for the
report's root whatever its kind (so a tenant administrator gets a grand total too). CSV and
XLSX hold the rows then the totals; JSON is an object `{"level", "within", "rows", "totals",
"unavailable"}`, `unavailable` naming the SBCs that did not answer.

Live counts: every enabled SBC holding one of the report's trunks is asked once per request
(`sync.live_calls`). A trunk on an SBC that did not answer has `in_use` null (its count is
unknown, not zero), and so has every subscription and total it is part of. Disabled SBCs are
not asked: they carry no calls.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterator
from typing import Any

from flask import (
    Blueprint,
    Response,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask.views import MethodView
from flask_login import login_required
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fusion_core.api.schemas import StrictSchema
from fusion_core.catalog.models import Entitlement, Sku
from fusion_core.catalog.reports import as_csv, as_xlsx
from fusion_core.context import Actor, current_actor
from fusion_core.db import session
from fusion_core.errors import FusionError, NotFound
from fusion_core.hierarchy.models import KINDS, Organization, Subscription
from fusion_core.scope import load, scoped, subtree
from fusion_siptrunk import services, sync
from fusion_siptrunk.models import AccessTrunk, Capacity, Sbc, Trunk

LEVELS = ("subscription", "trunk")
FORMATS = ("json", "csv", "xlsx")
RANK = {kind: i for i, kind in enumerate(KINDS)}  # group 0 ... tenant 3
BATCH = 2000
SUBSCRIPTION_COLUMNS = (
    "row",
    "organization_id",
    "organization_kind",
    "organization_name",
    "subscription_id",
    "subscription_name",
    "ordered",
    "configured",
    "subscription_limit",
    "in_use",
    "trunks",
)
TRUNK_COLUMNS = (
    "row",
    "organization_id",
    "organization_kind",
    "organization_name",
    "subscription_id",
    "subscription_name",
    "trunk_id",
    "trunk_name",
    "trunk_key",
    "max_calls",
    "in_use",
)
SUMMED = {
    "subscription": ("ordered", "configured", "subscription_limit", "in_use", "trunks"),
    "trunk": ("max_calls", "in_use"),
}
COLUMNS = {"subscription": SUBSCRIPTION_COLUMNS, "trunk": TRUNK_COLUMNS}
MIME = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


# --- the report -------------------------------------------------------------------------------


class CapacityReport:
    """What one request reports: built with `build` (reads the SBCs once), then `rows()` (a
    generator over subscriptions or trunks) and, once those are exhausted, `totals()`."""

    def __init__(self, session: Session, actor: Actor, root: Organization | None, level: str):
        self.session, self.actor, self.root, self.level = session, actor, root, level
        self.columns = COLUMNS[level]
        self.unavailable: list[str] = []
        self.live: dict[int, int] = {}
        self.unknown: set[uuid.UUID] = set()  # trunks on an SBC that did not answer
        self._totals: dict[str, dict[str, Any]] = {}
        self._uppers: dict[str, Any] = {}

    # scope

    def _where(self, stmt, model):
        stmt = scoped(stmt, model, self.actor)
        if self.root is not None:
            stmt = stmt.where(subtree(model.org_path, self.root.org_path))
        return stmt

    def build(self) -> CapacityReport:
        self._read_sbcs()
        self._uppers = {
            org.org_path: org
            for org in self.session.execute(
                self._where(
                    select(
                        Organization.id,
                        Organization.kind,
                        Organization.name,
                        Organization.org_path,
                    ).where(Organization.kind != "tenant"),
                    Organization,
                )
            )
        }
        if self.root is not None:  # the root totals too, even when it is a tenant
            self._uppers[self.root.org_path] = self.root
        return self

    def _read_sbcs(self) -> None:
        """Ask every enabled SBC holding one of the report's trunks, once."""
        on = self._where(
            select(AccessTrunk.sbc_id).join(Trunk, Trunk.id == AccessTrunk.trunk_id), Trunk
        )
        sbcs = list(
            self.session.scalars(
                select(Sbc).where(Sbc.id.in_(on), Sbc.enabled.is_(True)).order_by(Sbc.name)
            )
        )
        self.live, self.unavailable = sync.live_calls(self.session, sbcs)
        if self.unavailable:
            down = [s.id for s in sbcs if s.name in self.unavailable]
            self.unknown = set(
                self.session.scalars(
                    self._where(
                        select(AccessTrunk.trunk_id).where(AccessTrunk.sbc_id.in_(down)),
                        AccessTrunk,
                    )
                )
            )

    def in_use(self, trunk_id: uuid.UUID, key: int) -> int | None:
        return None if trunk_id in self.unknown else self.live.get(key, 0)

    # rows

    def rows(self) -> Iterator[dict[str, Any]]:
        rows = self._subscription_rows() if self.level == "subscription" else self._trunk_rows()
        for path, row in rows:
            self._add(path, row)
            yield row

    def _subscriptions(self):
        stmt = (
            select(
                Subscription.id,
                Subscription.name,
                Organization.id,
                Organization.name,
                Organization.org_path,
            )
            .join(Organization, Organization.id == Subscription.tenant_id)
            .where(Subscription.platform == services.PLATFORM)
            .order_by(Organization.name, Organization.org_path, Subscription.name, Subscription.id)
        )
        return self.session.execute(
            self._where(stmt, Subscription).execution_options(yield_per=BATCH)
        )

    def _subscription_rows(self):
        ordered = dict(
            self.session.execute(
                self._where(
                    select(Entitlement.subscription_id, func.sum(Entitlement.ordered))
                    .join(Sku, Sku.id == Entitlement.sku_id)
                    .where(Sku.key == services.CHANNEL_SKU)
                    .group_by(Entitlement.subscription_id),
                    Entitlement,
                )
            ).all()
        )
        own = dict(
            self.session.execute(
                self._where(
                    select(Capacity.subscription_id, Capacity.max_calls).join(
                        Subscription, Subscription.id == Capacity.subscription_id
                    ),
                    Subscription,
                )
            ).all()
        )
        trunks: dict[uuid.UUID, list[tuple[int, int | None]]] = {}
        for sub_id, trunk_id, key, max_calls in self.session.execute(
            self._where(
                select(Trunk.subscription_id, Trunk.id, Trunk.key, Trunk.max_calls), Trunk
            ).execution_options(yield_per=BATCH)
        ):
            trunks.setdefault(sub_id, []).append((max_calls, self.in_use(trunk_id, key)))
        for sub_id, sub_name, tenant_id, tenant_name, path in self._subscriptions():
            held = trunks.get(sub_id, [])
            channels = int(ordered.get(sub_id) or 0)
            limit = own.get(sub_id)
            uses = [use for _max, use in held]
            yield (
                path,
                {
                    "row": "subscription",
                    "organization_id": str(tenant_id),
                    "organization_kind": "tenant",
                    "organization_name": tenant_name,
                    "subscription_id": str(sub_id),
                    "subscription_name": sub_name,
                    "ordered": channels,
                    "configured": sum(m for m, _use in held),
                    "subscription_limit": min(limit, channels) if limit is not None else channels,
                    "in_use": None if None in uses else sum(uses),
                    "trunks": len(held),
                },
            )

    def _trunk_rows(self):
        stmt = (
            select(
                Trunk.id,
                Trunk.name,
                Trunk.key,
                Trunk.max_calls,
                Subscription.id,
                Subscription.name,
                Organization.id,
                Organization.name,
                Organization.org_path,
            )
            .join(Subscription, Subscription.id == Trunk.subscription_id)
            .join(Organization, Organization.id == Subscription.tenant_id)
            .order_by(Organization.name, Organization.org_path, Subscription.name, Trunk.name)
        )
        for row in self.session.execute(
            self._where(stmt, Trunk).execution_options(yield_per=BATCH)
        ):
            trunk_id, name, key, max_calls, sub_id, sub_name, tenant_id, tenant_name, path = row
            yield (
                path,
                {
                    "row": "trunk",
                    "organization_id": str(tenant_id),
                    "organization_kind": "tenant",
                    "organization_name": tenant_name,
                    "subscription_id": str(sub_id),
                    "subscription_name": sub_name,
                    "trunk_id": str(trunk_id),
                    "trunk_name": name,
                    "trunk_key": key,
                    "max_calls": max_calls,
                    "in_use": self.in_use(trunk_id, key),
                },
            )

    # totals

    def _add(self, tenant_path: str, row: dict[str, Any]) -> None:
        """Add a row to the running total of every visible organisation above (or, for the
        report's root tenant, at) its tenant."""
        parts = tenant_path.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            path = "/" + "/".join(parts[:depth]) + "/"
            if path not in self._uppers:
                continue
            total = self._totals.get(path)
            if total is None:
                total = self._totals[path] = dict.fromkeys(SUMMED[self.level], 0)
            for column in SUMMED[self.level]:
                if total[column] is None or row[column] is None:
                    total[column] = None
                else:
                    total[column] += row[column]

    def totals(self) -> list[dict[str, Any]]:
        """One row per organisation with rows below it: the root first, then down the
        hierarchy (by kind, then name)."""
        out = []
        for path, sums in sorted(
            self._totals.items(),
            key=lambda kv: (RANK[self._uppers[kv[0]].kind], self._uppers[kv[0]].name, kv[0]),
        ):
            org = self._uppers[path]
            row = dict.fromkeys(self.columns)
            row.update(
                row="total",
                organization_id=str(org.id),
                organization_kind=org.kind,
                organization_name=org.name,
                **sums,
            )
            out.append(row)
        return out

    def all_rows(self) -> Iterator[dict[str, Any]]:
        """The rows, then the totals (for CSV and XLSX)."""
        yield from self.rows()
        yield from self.totals()


def capacity_report(
    session: Session, actor: Actor, within: uuid.UUID | None = None, level: str = "subscription"
) -> CapacityReport:
    """The report for what `actor` may see, below `within` (an organisation in the actor's
    scope, else NotFound naming `within`); the SBCs are read here, once."""
    if level not in LEVELS:
        raise NotFound(f"No report level {level!r}.", errors={"level": ["Not a level."]})
    root = None
    if within is not None:
        root = load(Organization, within, actor, what="organisation", field="within")
    elif actor.org_path is not None and not actor.unrestricted:
        root = session.scalar(select(Organization).where(Organization.org_path == actor.org_path))
    return CapacityReport(session, actor, root, level).build()


def as_json(report: CapacityReport) -> Iterator[str]:
    """`{"level", "within", "rows": [...], "totals": [...], "unavailable": [...]}`, the rows
    written 500 at a time."""
    head = {"level": report.level, "within": str(report.root.id) if report.root else None}
    chunk = [json.dumps(head)[:-1] + ', "rows": [']
    for i, row in enumerate(report.rows()):
        chunk.append(("," if i else "") + "\n" + json.dumps(row))
        if len(chunk) >= 500:
            yield "".join(chunk)
            chunk = []
    chunk.append("\n]")
    chunk.append(', "totals": ' + json.dumps(report.totals()))
    chunk.append(', "unavailable": ' + json.dumps(report.unavailable) + "}\n")
    yield "".join(chunk)


def export(report: CapacityReport, fmt: str):
    """Stream the report as JSON or CSV, or send it as an XLSX file."""
    name = f"sip-capacity-by-{report.level}.{fmt}"
    if fmt == "xlsx":
        return send_file(
            as_xlsx(report.all_rows(), report.columns),
            mimetype=MIME[fmt],
            as_attachment=True,
            download_name=name,
        )
    if fmt == "json":
        return Response(stream_with_context(as_json(report)), mimetype=MIME[fmt])
    writer = functools.partial(as_csv, columns=report.columns)
    response = Response(stream_with_context(writer(report.all_rows())), mimetype=MIME[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- API --------------------------------------------------------------------------------------


class CapacityReportArgs(StrictSchema):
    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS))
    level = fields.String(
        load_default="subscription",
        validate=validate.OneOf(LEVELS),
        metadata={"description": "a row per subscription, or per trunk"},
    )
    within = fields.UUID(metadata={"description": "only below this organisation (in scope)"})


api = ApiBlueprint(
    "siptrunk_reports",
    __name__,
    url_prefix="/siptrunk/reports",
    description="SIP trunking: capacity report (channels ordered, configured, in use).",
)


@api.route("/capacity")
class CapacityReportView(MethodView):
    @api.arguments(CapacityReportArgs, location="query")
    @api.response(200, description="A JSON object, a CSV or an XLSX file (`format`)")
    def get(self, args):
        """SIP channels per subscription or trunk in your subtree: ordered, configured, the
        subscription's limit and in use now (live from the SBCs; null where an SBC listed
        in `unavailable` did not answer), with totals per reseller, distributor and group."""
        report = capacity_report(session, current_actor(), args.get("within"), args["level"])
        return export(report, args["format"])


# --- portal -----------------------------------------------------------------------------------

portal = Blueprint(
    "siptrunk_report_pages", __name__, url_prefix="/siptrunk/reports", template_folder="templates"
)
PAGE_ROWS = 500


@portal.errorhandler(FusionError)
def _fusion_error(exc: FusionError):
    session.rollback()
    title = "Not found" if exc.status == 404 else "Not possible"
    return render_template("error.html", title=title, message=exc.message), exc.status


def _page_args() -> dict[str, Any]:
    level = request.args.get("level", "subscription")
    within = request.args.get("within") or None
    if within is not None:
        try:
            within = uuid.UUID(within)
        except ValueError:
            raise NotFound(
                "No such organisation.", errors={"within": ["Not a valid UUID."]}
            ) from None
    return {"level": level if level in LEVELS else "subscription", "within": within}


@portal.get("/capacity")
@login_required
def capacity_page():
    args = _page_args()
    report = capacity_report(session, current_actor(), args["within"], args["level"])
    shown = []
    for row in report.rows():  # read them all, so the totals are complete
        if len(shown) < PAGE_ROWS:
            shown.append(row)
    query = {"level": args["level"], **({"within": args["within"]} if args["within"] else {})}
    crumbs = [("SIP capacity", url_for("siptrunk_report_pages.capacity_page"))]
    return render_template(
        "siptrunk/capacity_report.html",
        report=report,
        rows=shown,
        more=len(shown) == PAGE_ROWS,
        totals=report.totals(),
        columns=[c for c in report.columns if not c.endswith("_id") and c != "row"],
        levels=LEVELS,
        args=args,
        query=query,
        crumbs=crumbs,
    )


@portal.get("/capacity/export")
@login_required
def capacity_export():
    args = _page_args()
    fmt = request.args.get("format", "csv")
    if fmt not in FORMATS:
        raise NotFound("No such format.")
    report = capacity_report(session, current_actor(), args["within"], args["level"])
    return export(report, fmt)
