"""Seed the benchmark hierarchy through the service layer, as the API would.

Every organisation is made by `fusion_core.hierarchy.services.create_organization`, so the
parent rules, the scope check, the outbox event and the audit entry (the session's flush
listener) all run for each row. The only difference from one API call per row is that the
transaction is committed every `batch` rows (`commit=False`) instead of after each one.
"""

from __future__ import annotations

import multiprocessing
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from fusion_core.audit import recorder
from fusion_core.audit.models import AuditEntry
from fusion_core.context import Actor, acting_as
from fusion_core.db import get_db
from fusion_core.events import OutboxEvent
from fusion_core.hierarchy import services as hierarchy
from fusion_core.hierarchy.models import Organization
from fusion_core.iam import services as iam
from fusion_core.iam.models import Admin

GROUP_NAME = "Bench Group"
GROUP_ADMIN = "group-admin@bench.example"
RESELLER_ADMIN = "reseller-admin@bench.example"
PASSWORD = "bench-password-not-secret"
SEEDER = Actor(label="cli:bench", via="cli", unrestricted=True)


@dataclass
class Shape:
    distributors: int = 50
    resellers: int = 1_000
    tenants: int = 100_000
    batch: int = 2_000
    workers: int = 2  # processes creating tenants side by side, as several API workers would


@dataclass
class Fixture:
    """What the load phase needs from the seeded database."""

    group_admin_token: str
    reseller_id: str
    reseller_admin_token: str
    reseller_tenants: int
    tenant_ids: list[str] = field(repr=False)


class ListenerClock:
    """Time spent in the audit flush listener (it keeps doing its job; we only time it)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def wrap(self, listener: Callable[..., Any]) -> Callable[..., Any]:
        def timed(session: Session, context: Any) -> None:
            start = time.perf_counter()
            listener(session, context)
            self.seconds += time.perf_counter() - start
            self.calls += 1

        return timed

    def __enter__(self) -> ListenerClock:
        self._timed = self.wrap(recorder._after_flush)
        event.remove(Session, "after_flush", recorder._after_flush)
        event.listen(Session, "after_flush", self._timed)
        return self

    def __exit__(self, *_exc: Any) -> None:
        event.remove(Session, "after_flush", self._timed)
        event.listen(Session, "after_flush", recorder._after_flush)


def seed(shape: Shape, app_config: dict[str, Any], log: Callable[[str], None] = print):
    """Create group, distributors, resellers and tenants; return timings and row counts.

    Runs inside an app context of the benchmark database (already migrated). The tenants are
    made by `shape.workers` processes, each with an app of its own built from `app_config`."""
    session = get_db().session
    with acting_as(SEEDER):
        group = hierarchy.create_group(session, GROUP_NAME)
        admin = iam.create_admin(
            session, group, GROUP_ADMIN, "Bench group admin", "admin", PASSWORD
        )
    group_actor = iam.actor_for(admin, "cli")

    timings: dict[str, float] = {}
    with ListenerClock() as clock, acting_as(group_actor):
        start = time.perf_counter()
        distributors = _create_many(
            session, "distributor", [group.id], range(shape.distributors), shape.batch
        )
        resellers = _create_many(
            session, "reseller", [d.id for d in distributors], range(shape.resellers), shape.batch
        )
        timings["intermediate_seconds"] = time.perf_counter() - start
    log(
        f"  {len(distributors) + len(resellers)} distributors and resellers in "
        f"{timings['intermediate_seconds']:.1f} s"
    )
    reseller_ids = [str(r.id) for r in resellers]
    # Each process builds its app and loads the resellers first; the clock starts when all are
    # ready, so it measures creating tenants, not starting Python.
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Barrier(shape.workers + 1), ctx.Queue()
    processes = [
        ctx.Process(
            target=_tenant_worker,
            args=(app_config, str(admin.id), reseller_ids, i, shape, ready, results),
        )
        for i in range(shape.workers)
    ]
    for process in processes:
        process.start()
    ready.wait(timeout=300)
    start = time.perf_counter()
    done = [results.get(timeout=1800) for _ in processes]
    for process in processes:
        process.join()
    if any(process.exitcode for process in processes) or any("error" in d for d in done):
        raise RuntimeError(f"a seeding process failed: {done}")
    timings["tenant_seconds"] = time.perf_counter() - start
    timings["total_seconds"] = timings["intermediate_seconds"] + timings["tenant_seconds"]
    orgs = shape.distributors + shape.resellers + shape.tenants
    counts = {
        "organizations": session.scalar(select(func.count()).select_from(Organization)),
        "audit_entries": session.scalar(select(func.count()).select_from(AuditEntry)),
        "events": session.scalar(select(func.count()).select_from(OutboxEvent)),
    }
    session.rollback()
    listener = clock.seconds + sum(d["audit_listener_seconds"] for d in done)
    busy = timings["intermediate_seconds"] + sum(d["seconds"] for d in done)
    return {
        "through": "fusion_core.hierarchy.services.create_organization(commit=False)",
        "commit_every": shape.batch,
        "shape": vars(shape),
        **{k: round(v, 2) for k, v in timings.items()},
        "tenants_per_second": round(shape.tenants / timings["tenant_seconds"], 1),
        "organizations_per_second": round(orgs / timings["total_seconds"], 1),
        "worker_seconds": [round(d["seconds"], 2) for d in done],
        # Time inside the audit flush listener, summed over the processes, and its share of
        # the time those processes spent seeding.
        "audit_listener_seconds": round(listener, 2),
        "audit_listener_share": round(listener / busy, 3),
        "rows": counts,
        "complete": counts["audit_entries"] >= orgs and counts["events"] >= orgs,
        "target_seconds": 60,
        "pass": shape.tenants < 100_000 or timings["tenant_seconds"] < 60,
    }


def _tenant_worker(
    app_config: dict[str, Any],
    admin_id: str,
    reseller_ids: list[str],
    index: int,
    shape: Shape,
    ready: Any,
    results: Any,
) -> None:
    """One seeding process: tenants index, index + workers, … (tenant n goes to reseller n % R)."""
    from fusion_core.app import create_app

    app = create_app(app_config)
    with app.app_context():
        session = get_db().session
        admin = session.get(Admin, uuid.UUID(admin_id))
        actor = iam.actor_for(admin, "cli")
        # The parents stay referenced, so the service's scoped load of each tenant's parent is
        # answered by the session's identity map (as it is for one API call's one parent).
        resellers = session.scalars(
            select(Organization).where(Organization.id.in_([uuid.UUID(r) for r in reseller_ids]))
        ).all()
        by_id = {str(r.id): r for r in resellers}
        parents = [by_id[r].id for r in reseller_ids]
        session.commit()
        ready.wait(timeout=300)
        start = time.perf_counter()
        try:
            with ListenerClock() as clock, acting_as(actor):
                numbers = range(index, shape.tenants, shape.workers)
                _create_many(session, "tenant", parents, numbers, shape.batch)
        except Exception as exc:
            results.put({"error": f"{type(exc).__name__}: {exc}"})
            raise
        seconds = time.perf_counter() - start
        get_db().engine.dispose()
    results.put({"seconds": seconds, "audit_listener_seconds": clock.seconds})


def _create_many(
    session: Session, kind: str, parent_ids: list, numbers: range, batch: int
) -> list[Organization]:
    """Organisations number n of `numbers`, under parent n % len(parent_ids), committed in batches."""
    made: list[Organization] = []
    for done, n in enumerate(numbers, 1):
        org = hierarchy.create_organization(
            session,
            kind,
            parent_ids[n % len(parent_ids)],
            f"{kind.title()} {n:06d}",
            external_billing_id=f"BENCH-{kind[0].upper()}-{n:06d}",
            commit=False,
        )
        if kind != "tenant":
            made.append(org)  # tenants are not kept: the identity map may let them go
        if done % batch == 0:
            session.commit()
    session.commit()
    return made


def fixture(sample: int = 2_000, seed_value: int | None = None) -> Fixture:
    """Tokens for the group admin and one reseller's admin, and a random sample of tenant ids."""
    session = get_db().session
    group_admin = session.scalar(select(Admin).where(Admin.email == GROUP_ADMIN))
    if group_admin is None:
        raise SystemExit("the database holds no bench hierarchy (seed it first)")
    rng = random.Random(seed_value)
    reseller = session.scalar(
        select(Organization).where(Organization.kind == "reseller").order_by(Organization.name)
    )
    with acting_as(SEEDER):
        reseller_admin = session.scalar(select(Admin).where(Admin.email == RESELLER_ADMIN))
        if reseller_admin is None:
            reseller_admin = iam.create_admin(
                session, reseller, RESELLER_ADMIN, "Bench reseller admin", "admin", PASSWORD
            )
        _t, group_secret = iam.issue_token(session, group_admin, "bench")
        _t, reseller_secret = iam.issue_token(session, reseller_admin, "bench")
    tenant_ids = session.scalars(select(Organization.id).where(Organization.kind == "tenant")).all()
    reseller_tenants = session.scalar(
        select(func.count())
        .select_from(Organization)
        .where(Organization.parent_id == reseller.id, Organization.kind == "tenant")
    )
    return Fixture(
        group_admin_token=group_secret,
        reseller_id=str(reseller.id),
        reseller_admin_token=reseller_secret,
        reseller_tenants=reseller_tenants,
        tenant_ids=[str(i) for i in rng.sample(tenant_ids, min(sample, len(tenant_ids)))],
    )
