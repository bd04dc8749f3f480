"""Number usage: how many numbers each organisation holds, by state, country and type.

The database counts (GROUP BY owner path, state, country, type: a few rows per organisation
whatever the inventory's size); owners are rolled up to the requested level in Python as the
licence report does, and the rows are streamed by `fusion_core.catalog.reports`' writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fusion_core.catalog.reports import RANK
from fusion_core.context import Actor
from fusion_core.hierarchy.models import Organization
from fusion_core.numbering.models import PhoneNumber
from fusion_core.scope import scoped

COLUMNS = (
    "organization_id",
    "organization_kind",
    "organization_name",
    "country",
    "number_type",
    "state",
    "count",
)
MIME = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def number_rows(session: Session, actor: Actor, group_by: str = "tenant") -> Iterator[dict]:
    """One row per (organisation, country, type, state) with its count, for what `actor` sees.

    `tenant`: per owning organisation (pools of distributors and resellers show as
    themselves); otherwise each owner rolls up into its visible ancestor at or above that level
    (never above the viewer's own organisation)."""
    counts = session.execute(
        scoped(
            select(
                PhoneNumber.org_path,
                PhoneNumber.country,
                PhoneNumber.number_type,
                PhoneNumber.state,
                func.count(),
            ).group_by(
                PhoneNumber.org_path,
                PhoneNumber.country,
                PhoneNumber.number_type,
                PhoneNumber.state,
            ),
            PhoneNumber,
            actor,
        )
    ).all()
    orgs = {
        row.org_path: row
        for row in session.execute(
            scoped(
                select(
                    Organization.id, Organization.kind, Organization.name, Organization.org_path
                ),
                Organization,
                actor,
            )
        )
    }
    target = RANK[group_by]
    totals: dict[tuple[str, str, str, str], int] = {}
    for path, country, number_type, state, count in counts:
        owner = _owner(path, orgs, target)
        key = (owner, country, number_type, state)
        totals[key] = totals.get(key, 0) + int(count)
    for (owner, country, number_type, state), count in sorted(
        totals.items(), key=lambda kv: (orgs[kv[0][0]].name, kv[0])
    ):
        org = orgs[owner]
        yield _row(org, country, number_type, state, count)


def _owner(path: str, orgs: dict[str, Any], target: int) -> str:
    """The deepest visible organisation on `path` (itself included) at or above `target`;
    the shallowest visible one (the viewer's own) when none is that high."""
    parts = path.strip("/").split("/")
    visible = []
    for depth in range(1, len(parts) + 1):
        prefix = "/" + "/".join(parts[:depth]) + "/"
        if prefix in orgs:
            visible.append(orgs[prefix])
    fitting = [org for org in visible if RANK[org.kind] <= target]
    return (fitting[-1] if fitting else visible[0]).org_path


def _row(org, country, number_type, state, count) -> dict[str, Any]:
    return {
        "organization_id": str(org.id),
        "organization_kind": org.kind,
        "organization_name": org.name,
        "country": country,
        "number_type": number_type,
        "state": state,
        "count": count,
    }
