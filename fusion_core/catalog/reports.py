"""Licence usage: ordered vs consumed per SKU, per tenant or rolled up, in JSON, CSV or XLSX.

Rows are read from the database in batches and written out as they come (a generator for JSON
and CSV; openpyxl's write-only workbook for XLSX), so a report over 100,000 tenants never holds
them all in memory. Roll-ups keep one running total per (organisation, SKU).
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from fusion_core.catalog.models import (
    MARKUP_TIERS,
    Entitlement,
    Order,
    OrderLine,
    Product,
    Sku,
)
from fusion_core.context import Actor
from fusion_core.db import utcnow
from fusion_core.hierarchy.models import KINDS, Organization
from fusion_core.scope import scoped

COLUMNS = (
    "organization_id",
    "organization_kind",
    "organization_name",
    "sku_id",
    "sku_external_reference",
    "sku_name",
    "sku_key",
    "ordered",
    "consumed",
    "available",
)
RANK = {kind: i for i, kind in enumerate(KINDS)}  # group 0 ... tenant 3
BATCH = 2000


def _skus(session: Session) -> dict[Any, Sku]:
    return {sku.id: sku for sku in session.scalars(select(Sku))}


def _row(org_id, kind, name, sku: Sku, ordered: int, consumed: int) -> dict[str, Any]:
    return {
        "organization_id": str(org_id),
        "organization_kind": kind,
        "organization_name": name,
        "sku_id": str(sku.id),
        "sku_external_reference": sku.external_reference,
        "sku_name": sku.name,
        "sku_key": sku.key,
        "ordered": int(ordered),
        "consumed": int(consumed),
        "available": int(ordered) - int(consumed),
    }


def _per_tenant(session: Session, actor: Actor):
    """(tenant path, id, name, sku id, ordered, consumed), tenant by tenant, in batches."""
    stmt = (
        select(
            Organization.org_path,
            Organization.id,
            Organization.name,
            Entitlement.sku_id,
            func.sum(Entitlement.ordered),
            func.sum(Entitlement.consumed),
        )
        .join(Organization, Organization.org_path == Entitlement.org_path)
        .group_by(Organization.org_path, Organization.id, Organization.name, Entitlement.sku_id)
        .order_by(Organization.org_path, Entitlement.sku_id)
    )
    stmt = scoped(stmt, Entitlement, actor)
    return session.execute(stmt.execution_options(yield_per=BATCH))


def license_rows(session: Session, actor: Actor, group_by: str = "tenant") -> Iterator[dict]:
    """The report's rows for what `actor` may see; a generator."""
    skus = _skus(session)
    if group_by == "tenant":
        for _path, org_id, name, sku_id, ordered, consumed in _per_tenant(session, actor):
            yield _row(org_id, "tenant", name, skus[sku_id], ordered, consumed)
        return
    uppers = _uppers(session, actor)
    totals: dict[tuple[str, Any], list[int]] = {}
    target = RANK[group_by]
    for path, _org_id, _name, sku_id, ordered, consumed in _per_tenant(session, actor):
        owner = _owner(path, uppers, target)
        acc = totals.setdefault((owner, sku_id), [0, 0])
        acc[0] += int(ordered)
        acc[1] += int(consumed)
    for (owner, sku_id), (ordered, consumed) in sorted(
        totals.items(), key=lambda kv: (uppers[kv[0][0]].name, skus[kv[0][1]].name, kv[0])
    ):
        org = uppers[owner]
        yield _row(org.id, org.kind, org.name, skus[sku_id], ordered, consumed)


def _owner(tenant_path: str, uppers: dict[str, Any], target: int) -> str:
    """The visible ancestor a tenant rolls up into: the deepest one at or above the requested
    level (a tenant directly under a distributor rolls up into it when grouping by reseller);
    above the viewer's own organisation, the viewer's organisation (a tenant administrator's
    roll-up is their tenant)."""
    parts = tenant_path.strip("/").split("/")
    visible = []
    for depth in range(1, len(parts) + 1):
        path = "/" + "/".join(parts[:depth]) + "/"
        if path in uppers:
            visible.append(uppers[path])
    fitting = [org for org in visible if RANK[org.kind] <= target]
    return (fitting[-1] if fitting else visible[0]).org_path


# --- products held, with list prices and markups (for the billing system) -------------------

PRODUCT_COLUMNS = (
    "organization_id",
    "organization_kind",
    "organization_name",
    "product_id",
    "product_name",
    "quantity",
    "currency",
    "setup_price",
    "monthly_price",
    "markup_tier",
    "markup_percent",
    "markup_starts_on",
    "as_of",
)


def markup_in_effect(product: Product, tier: str | None, as_of: date) -> dict | None:
    """The product's markup for `tier` that started last on or before `as_of`, if any."""
    if tier is None:
        return None
    started = [
        m
        for m in product.markups or []
        if m["tier"] == tier and date.fromisoformat(m["starts_on"]) <= as_of
    ]
    return max(started, key=lambda m: m["starts_on"]) if started else None


def viewer_tier(actor: Actor, asked: str | None) -> str | None:
    """Distributors and resellers see their own tier's markup; the group picks one (default
    reseller); tenants see none."""
    if actor.org_kind in MARKUP_TIERS:
        return actor.org_kind
    if actor.org_kind == "tenant":
        return None
    return asked or "reseller"


def _product_row(org_id, kind, name, product: Product, quantity, tier, as_of) -> dict:
    markup = markup_in_effect(product, tier, as_of)
    price = lambda v: None if v is None else str(v)  # noqa: E731
    return {
        "organization_id": str(org_id),
        "organization_kind": kind,
        "organization_name": name,
        "product_id": str(product.id),
        "product_name": product.name,
        "quantity": int(quantity),
        "currency": product.currency,
        "setup_price": price(product.setup_price),
        "monthly_price": price(product.monthly_price),
        "markup_tier": tier if markup else None,
        "markup_percent": markup["percent"] if markup else None,
        "markup_starts_on": markup["starts_on"] if markup else None,
        "as_of": as_of.isoformat(),
    }


def _products_per_tenant(session: Session, actor: Actor):
    """(tenant path, id, name, product id, net quantity of completed orders), in batches."""
    stmt = (
        select(
            Organization.org_path,
            Organization.id,
            Organization.name,
            OrderLine.product_id,
            func.sum(OrderLine.quantity),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .join(Organization, Organization.id == Order.tenant_id)
        .where(Order.state == "completed")
        .group_by(Organization.org_path, Organization.id, Organization.name, OrderLine.product_id)
        .order_by(Organization.org_path, OrderLine.product_id)
    )
    stmt = scoped(stmt, Order, actor)
    return session.execute(stmt.execution_options(yield_per=BATCH))


def _uppers(session: Session, actor: Actor) -> dict[str, Any]:
    """The organisations tenants roll up into: those above tenants, and the viewer's own."""
    rollup = Organization.kind != "tenant"
    if actor.organization_id is not None:
        rollup = or_(rollup, Organization.id == actor.organization_id)
    return {
        org.org_path: org
        for org in session.execute(
            scoped(
                select(
                    Organization.id, Organization.kind, Organization.name, Organization.org_path
                ).where(rollup),
                Organization,
                actor,
            )
        )
    }


def product_rows(
    session: Session,
    actor: Actor,
    group_by: str = "tenant",
    as_of: date | None = None,
    tier: str | None = None,
) -> Iterator[dict]:
    """Products each tenant holds (net of completed orders), with list prices and the markup
    in effect for the viewer's tier on `as_of` (today by default); a generator. Fusion never
    invoices: these are figures for the billing system."""
    as_of = as_of or utcnow().date()
    tier = viewer_tier(actor, tier)
    products = {p.id: p for p in session.scalars(select(Product))}
    per_tenant = _products_per_tenant(session, actor)
    if group_by == "tenant":
        for _path, org_id, name, product_id, quantity in per_tenant:
            if quantity:
                yield _product_row(
                    org_id, "tenant", name, products[product_id], quantity, tier, as_of
                )
        return
    uppers = _uppers(session, actor)
    totals: dict[tuple[str, Any], int] = {}
    for path, _org_id, _name, product_id, quantity in per_tenant:
        owner = _owner(path, uppers, RANK[group_by])
        totals[(owner, product_id)] = totals.get((owner, product_id), 0) + int(quantity)
    for (owner, product_id), quantity in sorted(
        totals.items(), key=lambda kv: (uppers[kv[0][0]].name, products[kv[0][1]].name, kv[0])
    ):
        if quantity:
            org = uppers[owner]
            yield _product_row(
                org.id, org.kind, org.name, products[product_id], quantity, tier, as_of
            )


# --- orders, for export -----------------------------------------------------------------------

ORDER_COLUMNS = (
    "id",
    "created_at",
    "type",
    "state",
    "bss_reference",
    "tenant_id",
    "tenant_name",
    "subscription_id",
    "lines",
    "effect",
    "reason",
    "completed_at",
)


def order_rows(session: Session, stmt, query: str | None = None) -> Iterator[dict]:
    """Every order `stmt` selects (already scoped and filtered), oldest first, in batches.
    `lines` reads "Starter x2; Trunk 10 x-1", `effect` "FU-1 +2; SC-1 -10"."""
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(
            or_(func.lower(Order.bss_reference).like(like), func.lower(Order.reason).like(like))
        )
    stmt = (
        stmt.add_columns(Organization.name)
        .outerjoin(Organization, Organization.id == Order.tenant_id)
        .order_by(Order.created_at, Order.id)
        .execution_options(yield_per=500)
    )
    when = lambda v: v.isoformat() if v else None  # noqa: E731
    for order, tenant_name in session.execute(stmt):
        yield {
            "id": str(order.id),
            "created_at": when(order.created_at),
            "type": order.type,
            "state": order.state,
            "bss_reference": order.bss_reference,
            "tenant_id": str(order.tenant_id) if order.tenant_id else None,
            "tenant_name": tenant_name,
            "subscription_id": str(order.subscription_id) if order.subscription_id else None,
            "lines": "; ".join(f"{line.product.name} x{line.quantity}" for line in order.lines),
            "effect": "; ".join(
                f"{e['external_reference']} {e['delta']:+d}" for e in order.effect or []
            ),
            "reason": order.reason,
            "completed_at": when(order.completed_at),
        }


# --- writers ----------------------------------------------------------------------------------


def as_json(rows: Iterator[dict]) -> Iterator[str]:
    """A JSON list, written 500 rows at a time."""
    chunk = ["["]
    for i, row in enumerate(rows):
        chunk.append(("," if i else "") + "\n" + json.dumps(row))
        if len(chunk) >= 500:
            yield "".join(chunk)
            chunk = []
    chunk.append("\n]\n")
    yield "".join(chunk)


def as_csv(rows: Iterator[dict], columns=COLUMNS) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for i, row in enumerate(rows, 1):
        writer.writerow(row)
        if i % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def as_xlsx(rows: Iterator[dict], columns=COLUMNS):
    """A temporary file holding the workbook, rewound (openpyxl writes rows out as they come)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Licences" if columns is COLUMNS else "Report")
    sheet.append(list(columns))
    for row in rows:
        sheet.append([row[c] for c in columns])
    out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to send_file, which closes it
    workbook.save(out)
    out.seek(0)
    return out
