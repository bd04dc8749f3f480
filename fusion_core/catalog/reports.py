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
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fusion_core.catalog.models import Entitlement, Sku
from fusion_core.context import Actor
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
    uppers = {
        org.org_path: org
        for org in session.execute(
            scoped(
                select(
                    Organization.id, Organization.kind, Organization.name, Organization.org_path
                ).where(Organization.kind != "tenant"),
                Organization,
                actor,
            )
        )
    }
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
    above the viewer's own organisation, the viewer's organisation."""
    parts = tenant_path.strip("/").split("/")[:-1]
    visible = []
    for depth in range(1, len(parts) + 1):
        path = "/" + "/".join(parts[:depth]) + "/"
        if path in uppers:
            visible.append(uppers[path])
    fitting = [org for org in visible if RANK[org.kind] <= target]
    return (fitting[-1] if fitting else visible[0]).org_path


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


def as_csv(rows: Iterator[dict]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for i, row in enumerate(rows, 1):
        writer.writerow(row)
        if i % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def as_xlsx(rows: Iterator[dict]):
    """A temporary file holding the workbook, rewound (openpyxl writes rows out as they come)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Licences")
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([row[c] for c in COLUMNS])
    out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to send_file, which closes it
    workbook.save(out)
    out.seek(0)
    return out
