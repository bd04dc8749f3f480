"""Catalogue benchmarks on PostgreSQL: orders/s, ledger consumption under concurrency, and the
licence report over 100,000 tenants (time and peak RSS of a child process: it must stream).

    python -m bench catalog [--server URL] [--tenants 100000] [--orders 300] [--clients 32]

Orders go through the HTTP API (test client, a group administrator's token): schema, scope,
fulfilment, audit and outbox included. Consumers call `fusion_core.catalog.ledger.consume`
in threads, each with its own session. The report's 100,000 tenants, their subscriptions and
entitlements are bulk-inserted (not through the services: the seeding is not what is measured),
then the report is fetched in a child process, whose peak RSS is its memory figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
GROUP_ADMIN = "catalog-bench@bench.example"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench catalog", description=__doc__)
    p.add_argument("--server", default=os.environ.get("FUSION_BENCH_DATABASE_URL", DEFAULT_SERVER))
    p.add_argument("--tenants", type=int, default=100_000, help="tenants in the licence report")
    p.add_argument("--orders", type=int, default=300, help="3-line orders placed")
    p.add_argument("--clients", type=int, default=32, help="concurrent consumers")
    p.add_argument("--per-client", type=int, default=50, help="consumptions per consumer")
    p.add_argument("--database", help=argparse.SUPPRESS)
    p.add_argument("--report-child", help=argparse.SUPPRESS)  # format:group_by, in the child
    p.add_argument("--keep", action="store_true", help="keep the database after the run")
    p.add_argument("--output", type=Path)
    return p.parse_args(argv)


def _app(url: str):
    from fusion_core.app import create_app

    return create_app(
        {"DATABASE_URL": url, "LOG_LEVEL": "WARNING", "JOBS_MODE": "eager", "PLUGINS": []}
    )


def _setup(session) -> dict[str, Any]:
    """A group, its admin and token, three SKUs and three one-SKU products."""
    from fusion_core.catalog import services as catalog
    from fusion_core.hierarchy import services as hierarchy
    from fusion_core.iam import services as iam

    group = hierarchy.create_group(session, "Catalogue Bench")
    session.commit()
    admin = iam.create_admin(session, group, GROUP_ADMIN, "Bench", "admin", "bench-password-123")
    _token, secret = iam.issue_token(session, admin, "bench")
    session.commit()
    skus = [
        catalog.create_sku(session, dict(kind="license", license_type="fusion_user", name="User", external_reference="U"), group),
        catalog.create_sku(session, dict(kind="license", license_type="sip_channel", name="Channel", external_reference="C"), group),
        catalog.create_sku(session, dict(kind="number", country="BE", number_type="geographic", name="BE number", external_reference="N"), group),
    ]  # fmt: skip
    products = [
        catalog.create_product(
            session, {"name": f"P{i}", "lines": [{"sku_id": sku.id, "quantity": 1 + i}]}, group
        )
        for i, sku in enumerate(skus)
    ]
    return {"group": group, "token": secret, "skus": skus, "products": products}


def bench_orders(app, setup, n: int) -> dict[str, Any]:
    """`n` three-line change orders, one after another, over the API."""
    from fusion_core.context import SYSTEM, acting_as
    from fusion_core.db import get_db
    from fusion_core.hierarchy import services as hierarchy

    with app.app_context(), acting_as(SYSTEM):
        s = get_db().session
        parent = s.merge(setup["group"])
        subs = []
        for i in range(20):
            tenant = hierarchy.create_organization(s, "tenant", parent.id, f"Order tenant {i}")
            subs.append(str(hierarchy.create_subscription(s, tenant, "none", "Sub").id))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {setup['token']}"}
    lines = [{"product_id": str(p.id), "quantity": 2} for p in setup["products"]]
    clock = time.perf_counter()
    for i in range(n):
        body = {"type": "change", "subscription_id": subs[i % len(subs)], "lines": lines}
        response = client.post("/api/v1/orders", json=body, headers=headers)
        assert response.status_code == 201, response.json
    seconds = time.perf_counter() - clock
    return {
        "orders": n,
        "lines_per_order": 3,
        "seconds": round(seconds, 2),
        "orders_per_second": round(n / seconds, 1),
        "mean_ms": round(seconds / n * 1000, 2),
    }


def bench_consumption(app, setup, clients: int, per_client: int, spread: bool) -> dict[str, Any]:
    """`clients` threads consume one unit at a time; on one hot entitlement, or one each."""
    from fusion_core.catalog import ledger
    from fusion_core.catalog.models import Entitlement
    from fusion_core.context import SYSTEM, acting_as
    from fusion_core.db import get_db
    from fusion_core.hierarchy import services as hierarchy

    total = clients * per_client
    sku = setup["skus"][1]
    with app.app_context(), acting_as(SYSTEM):
        s = get_db().session
        parent = s.merge(setup["group"])
        subs = []
        for i in range(clients if spread else 1):
            tenant = hierarchy.create_organization(s, "tenant", parent.id, f"Consumer {i}")
            sub = hierarchy.create_subscription(s, tenant, "none", "Sub")
            s.add(
                Entitlement(
                    subscription_id=sub.id,
                    sku_id=sku.id,
                    ordered=total,
                    consumed=0,
                    org_path=sub.org_path,
                )
            )
            s.commit()
            subs.append(sub.id)
    app.extensions["fusion.db"].engine.dispose()
    barrier = threading.Barrier(clients + 1)
    failures: list[str] = []

    def consumer(i: int) -> None:
        with app.app_context(), acting_as(SYSTEM):
            session = get_db().session
            sub = subs[i % len(subs)]
            barrier.wait()
            for k in range(per_client):
                try:
                    ledger.consume(session, sub, "sip_channel", 1, ("bench", f"{i}-{k}"))
                    session.commit()
                except Exception as error:
                    session.rollback()
                    failures.append(repr(error))

    threads = [threading.Thread(target=consumer, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    clock = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - clock
    with app.app_context():
        s = get_db().session
        from sqlalchemy import func, select

        consumed = s.scalar(
            select(func.sum(Entitlement.consumed)).where(Entitlement.subscription_id.in_(subs))
        )
    return {
        "clients": clients,
        "entitlements": len(subs),
        "consumptions": total,
        "seconds": round(seconds, 2),
        "per_second": round(total / seconds, 1),
        "failures": len(failures),
        "ledger_balanced": consumed == total - len(failures),
    }


def seed_report(app, setup, tenants: int, resellers: int = 500) -> dict[str, Any]:
    """Bulk-insert `tenants` tenants under `resellers` resellers, each with a subscription and
    one entitlement per SKU."""
    from sqlalchemy import insert, text

    from fusion_core.catalog.models import Entitlement
    from fusion_core.db import get_db, utcnow
    from fusion_core.hierarchy.models import Organization, Subscription

    clock = time.perf_counter()
    now = utcnow()
    group = setup["group"]
    skus = setup["skus"]
    with app.app_context():
        engine = get_db().engine
        with engine.begin() as conn:

            def org(kind, parent_id, parent_path, name):
                ident = uuid.uuid4()
                return {
                    "id": ident,
                    "kind": kind,
                    "name": name,
                    "parent_id": parent_id,
                    "org_path": f"{parent_path}{ident.hex}/",
                    "status": "active",
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }

            sellers = [
                org("reseller", group.id, group.org_path, f"R{i:04}") for i in range(resellers)
            ]
            conn.execute(insert(Organization), sellers)
            batch = 5000
            for start in range(0, tenants, batch):
                orgs, subs, ents = [], [], []
                for i in range(start, min(start + batch, tenants)):
                    seller = sellers[i % resellers]
                    t = org("tenant", seller["id"], seller["org_path"], f"T{i:06}")
                    orgs.append(t)
                    sid = uuid.uuid4()
                    subs.append({"id": sid, "tenant_id": t["id"], "platform": "none", "name": "S", "status": "active", "org_path": t["org_path"], "version": 1, "created_at": now, "updated_at": now})  # fmt: skip
                    for k, sku in enumerate(skus):
                        ents.append({"id": uuid.uuid4(), "subscription_id": sid, "sku_id": sku.id, "ordered": 10 + k, "consumed": (i + k) % 10, "org_path": t["org_path"], "created_at": now})  # fmt: skip
                conn.execute(insert(Organization), orgs)
                conn.execute(insert(Subscription), subs)
                conn.execute(insert(Entitlement), ents)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return {
        "tenants": tenants,
        "resellers": resellers,
        "entitlements": tenants * len(skus),
        "seed_seconds": round(time.perf_counter() - clock, 1),
    }


def report_child(url: str, token: str, fmt: str, group_by: str) -> dict[str, Any]:
    """In a fresh process: fetch the report, consuming the stream chunk by chunk."""
    app = _app(url)
    client = app.test_client()
    # Warm up (imports, first queries) on an empty page of the API, then measure.
    client.get("/api/v1/skus", headers={"Authorization": f"Bearer {token}"})
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    clock = time.perf_counter()
    response = client.get(
        f"/api/v1/reports/licenses?format={fmt}&group_by={group_by}",
        headers={"Authorization": f"Bearer {token}"},
        buffered=False,
    )
    size, chunks, first = 0, 0, None
    for chunk in response.response:
        if first is None:
            first = time.perf_counter() - clock
        size += len(chunk)
        chunks += 1
    response.close()
    seconds = time.perf_counter() - clock
    return {
        "format": fmt,
        "group_by": group_by,
        "status": response.status_code,
        "bytes": size,
        "chunks": chunks,
        "seconds": round(seconds, 2),
        "first_chunk_seconds": round(first or 0, 3),
        "max_rss_mib_before": round(rss_before, 1),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def bench_report(url: str, token: str) -> list[dict[str, Any]]:
    out = []
    for fmt, group_by in (("csv", "tenant"), ("json", "tenant"), ("xlsx", "tenant"), ("csv", "reseller")):  # fmt: skip
        proc = subprocess.run(
            [sys.executable, "-m", "bench.catalog", "--database", url, "--report-child",
             f"{fmt}:{group_by}:{token}"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
        )  # fmt: skip
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.database import BenchDatabase
    from fusion_core.context import SYSTEM, acting_as
    from fusion_core.db import get_db
    from fusion_core.migrations import upgrade

    db = BenchDatabase(args.server)
    db.create()
    result: dict[str, Any] = {"database": db.name}
    try:
        app = _app_with_platform(db.url, args.clients + 8)
        with app.app_context(), acting_as(SYSTEM):
            upgrade(app)
            setup = _setup(get_db().session)
        print(f"orders: {args.orders} three-line orders …", flush=True)
        result["orders"] = bench_orders(app, setup, args.orders)
        print(f"consumption: {args.clients} clients …", flush=True)
        result["consumption_hot"] = bench_consumption(
            app, setup, args.clients, args.per_client, False
        )
        result["consumption_spread"] = bench_consumption(
            app, setup, args.clients, args.per_client, True
        )
        print(f"report: seeding {args.tenants} tenants …", flush=True)
        result["report_seed"] = seed_report(app, setup, args.tenants)
        app.extensions["fusion.db"].engine.dispose()
        result["report"] = bench_report(db.url, setup["token"])
    finally:
        if not args.keep:
            db.drop()
    return result


def _app_with_platform(url: str, pool_size: int = 40):
    """The bench's app: built-ins plus a plain platform "none" for its subscriptions."""
    import types

    from fusion_core.app import create_app
    from fusion_core.db import make_engine
    from fusion_core.hookspecs import hookimpl
    from fusion_core.registry import Platform

    plugin = types.ModuleType("bench_platform")
    plugin.register_platforms = hookimpl(lambda: [Platform("none", "No platform")])
    app = create_app(
        {
            "DATABASE_URL": url,
            "LOG_LEVEL": "WARNING",
            "JOBS_MODE": "eager",
            "PLUGINS": [],
            "PLUGIN_OBJECTS": [("bench_platform", plugin)],
        }
    )
    # One connection per concurrent consumer, so the pool is not what is measured.
    db = app.extensions["fusion.db"]
    db.engine.dispose()
    db.engine = make_engine(url, pool_size=pool_size, max_overflow=0)
    db.factory.configure(bind=db.engine)
    return app


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_child:
        fmt, group_by, token = args.report_child.split(":", 2)
        print(json.dumps(report_child(args.database, token, fmt, group_by)))
        return 0
    started = datetime.now(UTC)
    result = {
        "started_at": started.isoformat(timespec="seconds"),
        "command": "python -m bench.catalog "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "nproc": os.cpu_count(),
        "loadavg_at_start": list(os.getloadavg()),
        **run(args),
        "loadavg_at_end": list(os.getloadavg()),
    }
    output = args.output or RESULTS / f"catalog-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written: {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
