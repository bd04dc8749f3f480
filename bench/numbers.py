"""Number inventory on PostgreSQL: a 1,000,000-number range imported end to end through the API
beside a raw COPY of the same rows, peak memory of the import, prefix search and a tenant's
number page (p50/p95 over repeated requests).

    python -m bench.numbers [--server URL] [--numbers 1000000] [--searches 300]

The import is one POST /api/v1/number-imports (publish=true, group administrator's token);
with eager jobs the import job runs right after the request's commit, so the call's duration
is "API call to numbers available". The raw COPY writes the same rows into a copy of the
numbers table with the same indexes. The peak RSS figure is the process's maximum resident
set before and after the import: a streaming import leaves it flat.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.database import BenchDatabase

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_RATIO = 3.0
TARGET_P95_MS = 30.0
FIRST = 442070000000  # +44 20 7000 0000: London has room for 1,000,000 valid numbers


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def timed(fn, repeat: int) -> dict[str, float]:
    samples = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - start) * 1000)
    return {
        "p50_ms": round(percentile(samples, 50), 2),
        "p95_ms": round(percentile(samples, 95), 2),
    }


def run(server: str, count: int, searches: int) -> dict:
    from sqlalchemy import text

    from fusion_core.app import create_app
    from fusion_core.migrations import upgrade
    from fusion_core.testing import ApiClient, Factory, settings_for_tests

    db = BenchDatabase(server, f"fusion_bench_numbers_{uuid.uuid4().hex[:8]}")
    db.create()
    try:
        app = create_app(settings_for_tests(db.url, tempfile.mkdtemp(prefix="fusion-bench-")))
        with app.app_context():
            upgrade(app)
        make = Factory(app)
        tree = make.tree()
        client = ApiClient(app, make).as_(make.admin(tree["group"]))
        last = FIRST + count - 1

        before = rss_mib()
        start = time.perf_counter()
        response = client.post(
            "number-imports",
            {"rows": [{"first": f"+{FIRST}", "last": f"+{last}"}], "publish": True},
        )
        imported_s = time.perf_counter() - start
        after = rss_mib()
        assert response.status_code in (201, 202), response.json
        final = client.get(f"number-imports/{response.json['id']}").json
        assert final["status"] == "completed" and final["created_numbers"] == count, final

        engine = app.extensions["fusion.db"].engine
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE numbers_copy (LIKE numbers INCLUDING ALL)"))
            org_path = conn.execute(text("SELECT org_path FROM numbers LIMIT 1")).scalar()
        raw = engine.raw_connection()
        now = datetime.now(UTC)
        start = time.perf_counter()
        with (
            raw.cursor() as cursor,
            cursor.copy(
                "COPY numbers_copy (id, e164, country, number_type, area, state, org_path, version,"
                " created_at, updated_at) FROM STDIN"
            ) as copy,
        ):
            for n in range(FIRST, last + 1):
                copy.write_row(
                    (
                        uuid.uuid4(),
                        f"+{n}",
                        "GB",
                        "geographic",
                        "20",
                        "available",
                        org_path,
                        1,
                        now,
                        now,
                    )
                )
        raw.commit()
        raw.close()
        copy_s = time.perf_counter() - start

        # A reseller's pool page: 200 numbers handed down to it.
        moved = client.post(
            "numbers/transfer",
            {
                "organization_id": str(tree["reseller"].id),
                "first": f"+{FIRST}",
                "last": f"+{FIRST + 199}",
            },
        )
        assert moved.status_code == 200, moved.json
        pool_client = ApiClient(app, make).as_(make.admin(tree["reseller"]))
        prefix = timed(
            lambda i: client.get(f"numbers?prefix=%2B442070{(i * 7919) % 10000:04d}&limit=50"),
            searches,
        )
        pool_page = timed(lambda i: pool_client.get("numbers?limit=50"), searches)
        app.extensions["fusion.db"].engine.dispose()
        return {
            "numbers": count,
            "import_s": round(imported_s, 1),
            "raw_copy_s": round(copy_s, 1),
            "ratio_to_copy": round(imported_s / copy_s, 2),
            "target_ratio": TARGET_RATIO,
            "import_pass": imported_s <= TARGET_RATIO * copy_s,
            "peak_rss_mib": {"before_import": round(before), "after_import": round(after)},
            "prefix_search": prefix,
            "reseller_pool_page": pool_page,
            "target_p95_ms": TARGET_P95_MS,
        }
    finally:
        db.drop()


# --- search on a large inventory ------------------------------------------------------------
#
# The inventory is written by INSERT … SELECT generate_series straight into the bench's own
# database (set-up, not measured): building 10,000,000 numbers through the import would take
# most of an hour and measures nothing the import measurement above does not.

# (country, type, area, first number without "+", share of the inventory)
BLOCKS = (
    ("GB", "geographic", "20", 442070000000, 0.30),
    ("GB", "geographic", "161", 441612000000, 0.10),
    ("GB", "geographic", "113", 441132000000, 0.05),
    ("GB", "mobile", "7700", 447700000000, 0.10),
    ("GB", "toll_free", "800", 448001000000, 0.05),
    ("BE", "geographic", "2", 3222000000, 0.10),
    ("BE", "mobile", "470", 32470000000, 0.05),
    ("NL", "geographic", "20", 31201000000, 0.10),
    ("DE", "geographic", "30", 49301000000, 0.10),
    ("US", "geographic", "212", 12122000000, 0.05),
)
BLOCK = 50  # numbers go to owners in blocks of 50 consecutive numbers
TENANT_SHARE = 5  # % of the blocks allocated to tenants
POOL_SHARE = 10  # % of the blocks in resellers' pools; the rest is the group's pool


def _indexes_off(conn) -> list[str]:
    """Drop the numbers table's indexes and key constraints (and the foreign keys that point
    at it); return the statements that put them back."""
    from sqlalchemy import text

    constraints = conn.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'numbers'::regclass AND contype IN ('p', 'u')"
        )
    ).all()
    names = {name for name, _ in constraints}
    indexes = [
        (name, sql)
        for name, sql in conn.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'numbers'")
        ).all()
        if name not in names
    ]
    referencing = conn.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE confrelid = 'numbers'::regclass AND contype = 'f'"
        )
    ).all()
    for table, name, _ in referencing:
        conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        conn.execute(text(f'DROP INDEX "{name}"'))
    for name, _ in constraints:
        conn.execute(text(f'ALTER TABLE numbers DROP CONSTRAINT "{name}"'))
    return (
        [f'ALTER TABLE numbers ADD CONSTRAINT "{n}" {d}' for n, d in constraints]
        + [sql for _, sql in indexes]
        + [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, d in referencing]
    )


def seed_inventory(app, make, total: int, tenants: int, resellers: int) -> dict:
    """The hierarchy through the services (group, distributors, resellers, tenants), then
    `total` numbers spread over BLOCKS: 5 % of the 50-number blocks allocated to tenants (a
    tenant gets a few hundred numbers among all), 10 % in resellers' pools, the rest the
    group's (mostly imported, some published); one number in 1,000 has the vanity class gold."""
    from sqlalchemy import text

    from fusion_core.context import SYSTEM, acting_as
    from fusion_core.db import get_db
    from fusion_core.hierarchy.services import create_organization

    start = time.perf_counter()
    group = make.group()
    with app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        distributors = [
            create_organization(session, "distributor", group.id, f"D{i}", commit=False)
            for i in range(max(1, resellers // 10))
        ]
        session.flush()
        pools = [
            create_organization(
                session, "reseller", distributors[i % len(distributors)].id, f"R{i}", commit=False
            )
            for i in range(resellers)
        ]
        session.flush()
        orgs = []
        for i in range(tenants):
            orgs.append(
                create_organization(
                    session, "tenant", pools[i % resellers].id, f"T{i}", commit=False
                )
            )
            if i % 1000 == 999:
                session.flush()
        session.commit()
        owners = [(i, o.org_path, "tenant", str(o.id)) for i, o in enumerate(orgs)] + [
            (tenants + i, r.org_path, "reseller", str(r.id)) for i, r in enumerate(pools)
        ]
    hierarchy_s = time.perf_counter() - start

    engine = app.extensions["fusion.db"].engine
    start = time.perf_counter()
    with engine.begin() as conn:
        restore = _indexes_off(conn)
        conn.execute(text("CREATE TABLE bench_owners (slot int PRIMARY KEY, org_path text)"))
        conn.execute(
            text("INSERT INTO bench_owners VALUES (:slot, :path)"),
            [{"slot": s, "path": p} for s, p, _, _ in owners],
        )
    written = 0
    for country, type_, area, first, share in BLOCKS:
        last_block = (country, type_, area) == BLOCKS[-1][:3]
        count = total - written if last_block else round(total * share)
        with engine.begin() as conn:
            conn.execute(
                text(
                    """
                    INSERT INTO numbers (id, e164, country, number_type, area, state, org_path,
                        pool_path, target_type, target_ref, vanity_class, version, created_at, updated_at)
                    SELECT gen_random_uuid(), '+' || n::text, :country, :type, :area,
                        CASE WHEN h % 100 < :tenant_share THEN
                                CASE WHEN n % 4 = 0 THEN 'assigned' ELSE 'allocated' END
                             WHEN h % 100 < :pool_share OR h % 100 >= 90 THEN 'available'
                             ELSE 'imported' END,
                        coalesce(o.org_path, :group_path),
                        CASE WHEN o.org_path IS NOT NULL AND h % 100 < :tenant_share
                             THEN :group_path END,
                        CASE WHEN h % 100 < :tenant_share AND n % 4 = 0 THEN 'bench' END,
                        CASE WHEN h % 100 < :tenant_share AND n % 4 = 0 THEN n::text END,
                        CASE WHEN n % 1000 = 777 THEN 'gold' END,
                        1, now(), now()
                    FROM generate_series(CAST(:first AS bigint), :first + :count - 1) AS n
                    CROSS JOIN LATERAL (SELECT abs(hashint8(n / :block)::bigint) AS h) AS hh
                    LEFT JOIN bench_owners o ON o.slot = CASE
                        WHEN h % 100 < :tenant_share THEN (h / 100) % :tenants
                        WHEN h % 100 < :pool_share THEN :tenants + (h / 100) % :resellers END
                    """
                ),
                {
                    "country": country,
                    "type": type_,
                    "area": area,
                    "first": first,
                    "count": count,
                    "block": BLOCK,
                    "tenant_share": TENANT_SHARE,
                    "pool_share": TENANT_SHARE + POOL_SHARE,
                    "tenants": tenants,
                    "resellers": resellers,
                    "group_path": group.org_path,
                },
            )
        written += count
    insert_s = time.perf_counter() - start
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("SET maintenance_work_mem = '1GB'"))
        for sql in restore:
            conn.execute(text(sql))
        conn.execute(text("DROP TABLE bench_owners"))
    index_s = time.perf_counter() - start
    start = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE numbers"))
    vacuum_s = time.perf_counter() - start
    return {
        "numbers": written,
        "tenants": tenants,
        "resellers": resellers,
        "hierarchy_s": round(hierarchy_s, 1),
        "insert_s": round(insert_s, 1),
        "index_s": round(index_s, 1),
        "vacuum_analyze_s": round(vacuum_s, 1),
    }


class Explainer:
    """Records the statements on `numbers` a request sends, to EXPLAIN (ANALYZE, BUFFERS) them."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.engine = engine
        self.seen: list[tuple[str, object]] = []
        self.on = False
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        if self.on and "FROM numbers" in statement and not statement.startswith("EXPLAIN"):
            self.seen.append((statement, parameters))

    def explain(self, fn) -> list[str]:
        self.seen, self.on = [], True
        try:
            fn(1)  # the second tenant, prefix …: one with a few hundred numbers
        finally:
            self.on = False
        plans = []
        raw = self.engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                for statement, parameters in self.seen:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                    plans.append("\n".join(row[0] for row in cursor.fetchall()))
            raw.rollback()
        finally:
            raw.close()
        return plans


def run_search(
    server: str,
    total: int,
    searches: int,
    *,
    tenants: int,
    resellers: int,
    database: str | None,
    keep: bool,
    explain: bool,
) -> dict:
    from sqlalchemy import select, text

    from fusion_core.app import create_app
    from fusion_core.hierarchy.models import Organization
    from fusion_core.migrations import upgrade
    from fusion_core.testing import ApiClient, Factory, settings_for_tests

    db = BenchDatabase(server, database or f"fusion_bench_numbers_{uuid.uuid4().hex[:8]}")
    reuse = database is not None
    if not reuse:
        db.create()
    try:
        app = create_app(settings_for_tests(db.url, tempfile.mkdtemp(prefix="fusion-bench-")))
        start = time.perf_counter()
        with app.app_context():
            upgrade(app)  # on a kept database: the revisions added since it was seeded
        upgrade_s = time.perf_counter() - start
        make = Factory(app)
        engine = app.extensions["fusion.db"].engine
        seeding = (
            {"reused": db.name} if reuse else seed_inventory(app, make, total, tenants, resellers)
        )
        seeding["upgrade_s"] = round(upgrade_s, 1)
        with engine.connect() as conn:
            seeding["numbers"] = conn.scalar(text("SELECT count(*) FROM numbers"))
            group_path = conn.scalar(
                text("SELECT org_path FROM organizations WHERE kind = 'group' LIMIT 1")
            )
            # Tenants with numbers, as many as there are samples' worth of variety.
            picked = conn.execute(
                text(
                    "SELECT o.id, o.org_path, count(*) AS n, array_agg(nb.e164 ORDER BY nb.e164)"
                    " FROM organizations o JOIN numbers nb ON nb.org_path = o.org_path"
                    " WHERE o.kind = 'tenant' GROUP BY o.id, o.org_path ORDER BY o.org_path"
                    " LIMIT 20"
                )
            ).all()
            reseller_id = conn.scalar(
                text(
                    "SELECT id FROM organizations WHERE kind = 'reseller' ORDER BY org_path LIMIT 1"
                )
            )
            reseller_numbers = conn.scalar(
                text(
                    "SELECT count(*) FROM numbers n JOIN organizations o"
                    " ON n.org_path >= o.org_path AND n.org_path < o.org_path || '~'"
                    " WHERE o.id = :id"
                ),
                {"id": reseller_id},
            )
            size = conn.scalar(text("SELECT pg_total_relation_size('numbers')"))
        with app.app_context():
            from fusion_core.db import get_db

            s = get_db().session
            group = s.scalar(select(Organization).where(Organization.org_path == group_path))
            reseller = s.get(Organization, reseller_id)
            tenant_orgs = [s.get(Organization, row[0]) for row in picked]
        api = ApiClient(app, make)
        admin = api.as_(make.admin(group))
        pool = api.as_(make.admin(reseller))
        tenant_clients = [api.as_(make.admin(t)) for t in tenant_orgs]
        own = [row[3] for row in picked]
        areas = ["+44161", "+442070", "+3222", "+3120", "+4930", "+1212", "+447700"]
        countries = ["+44", "+32", "+31", "+49", "+1"]

        def ok(response):
            assert response.status_code == 200, response.json
            return response

        def narrow(i: int) -> str:
            # Ten digits after +: about 100 consecutive numbers, spread over the blocks.
            *_, first, share = BLOCKS[i % len(BLOCKS)]
            span = max(1, round(seeding["numbers"] * share))
            return f"%2B{first + (i * 7919 * 100) % span}"[:-2]

        def tenant_page_cursor(i: int) -> str:
            numbers = own[i % len(own)]
            return numbers[min(len(numbers) - 1, 99)]

        queries = {
            "group_prefix_country": lambda i: ok(
                admin.get(f"numbers?prefix={countries[i % 5].replace('+', '%2B')}&limit=50")
            ),
            "group_prefix_area": lambda i: ok(
                admin.get(f"numbers?prefix={areas[i % 7].replace('+', '%2B')}&limit=50")
            ),
            "group_prefix_narrow": lambda i: ok(admin.get(f"numbers?prefix={narrow(i)}&limit=50")),
            "group_prefix_country_state": lambda i: ok(
                admin.get(
                    f"numbers?prefix={countries[i % 5].replace('+', '%2B')}&state=available&limit=50"
                )
            ),
            "tenant_prefix_country": lambda i: ok(
                tenant_clients[i % len(tenant_clients)].get(
                    f"numbers?prefix={own[i % len(own)][0][:3].replace('+', '%2B')}&limit=50"
                )
            ),
            "tenant_prefix_narrow": lambda i: ok(
                tenant_clients[i % len(tenant_clients)].get(
                    f"numbers?prefix={own[i % len(own)][0][:-2].replace('+', '%2B')}&limit=50"
                )
            ),
            "tenant_page_first": lambda i: ok(
                tenant_clients[i % len(tenant_clients)].get("numbers?limit=50")
            ),
            "tenant_page_later": lambda i: ok(
                tenant_clients[i % len(tenant_clients)].get(
                    f"numbers?limit=50&cursor={tenant_page_cursor(i).replace('+', '%2B')}"
                )
            ),
            "tenant_page_by_group_first": lambda i: ok(
                admin.get(f"numbers?tenant_id={tenant_orgs[i % len(tenant_orgs)].id}&limit=50")
            ),
            "tenant_page_by_group_later": lambda i: ok(
                admin.get(
                    f"numbers?tenant_id={tenant_orgs[i % len(tenant_orgs)].id}&limit=50"
                    f"&cursor={tenant_page_cursor(i).replace('+', '%2B')}"
                )
            ),
            "reseller_pool_first": lambda i: ok(pool.get("numbers?limit=50")),
            "reseller_prefix_country": lambda i: ok(
                pool.get(f"numbers?prefix={countries[i % 5].replace('+', '%2B')}&limit=50")
            ),
            # The list's filters without a prefix, and with one.
            "group_filter_type": lambda i: ok(
                admin.get(f"numbers?type={('toll_free', 'mobile')[i % 2]}&limit=50")
            ),
            "group_filter_country": lambda i: ok(
                admin.get(f"numbers?country={('DE', 'US', 'GB', 'NL')[i % 4]}&limit=50")
            ),
            "group_prefix_type": lambda i: ok(
                admin.get("numbers?prefix=%2B44&type=toll_free&limit=50")
            ),
            "group_filter_vanity": lambda i: ok(admin.get("numbers?vanity_class=gold&limit=50")),
            "group_filter_state": lambda i: ok(
                admin.get(f"numbers?state={('assigned', 'allocated')[i % 2]}&limit=50")
            ),
            "tenant_filter_state": lambda i: ok(
                tenant_clients[i % len(tenant_clients)].get("numbers?state=assigned&limit=50")
            ),
        }
        # Wildcards: the literal part before the first wildcard is the index range, the rest a
        # filter over it (measured for information; the target is for prefix searches).
        extra = {
            "group_pattern": lambda i: ok(admin.get("numbers?pattern=%2B4420*00&limit=50")),
        }
        for fn in [*queries.values(), *extra.values()]:  # each answers; warms the caches
            for i in range(5):
                fn(i)
        results = {name: timed(fn, searches) for name, fn in queries.items()}
        informative = {name: timed(fn, searches) for name, fn in extra.items()}
        plans = {}
        if explain:
            explainer = Explainer(engine)
            plans = {name: explainer.explain(fn) for name, fn in {**queries, **extra}.items()}
        engine.dispose()
        return {
            "inventory": seeding,
            "table_mib": round(size / 2**20),
            "tenant_numbers": [row[2] for row in picked],
            "reseller_subtree_numbers": reseller_numbers,
            "searches": searches,
            "queries": results,
            "informative": informative,
            "target_p95_ms": TARGET_P95_MS,
            "pass": all(r["p95_ms"] < TARGET_P95_MS for r in results.values()),
            "plans": plans,
        }
    finally:
        if keep:
            print(f"kept database {db.name}")
        else:
            db.drop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.numbers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--server", default=os.environ.get("FUSION_BENCH_DATABASE_URL", DEFAULT_SERVER))
    p.add_argument("--numbers", type=int, default=1_000_000, help="numbers imported end to end")
    p.add_argument("--searches", type=int, default=300, help="samples per query")
    p.add_argument("--skip-import", action="store_true", help="no import measurement")
    p.add_argument(
        "--search-inventory",
        type=int,
        default=0,
        metavar="N",
        help="also measure searches on a seeded inventory of N numbers (e.g. 10000000)",
    )
    p.add_argument("--tenants", type=int, default=2000, help="tenants of the seeded inventory")
    p.add_argument("--resellers", type=int, default=40, help="resellers of the seeded inventory")
    p.add_argument("--database", help="reuse a search inventory kept with --keep (no seeding)")
    p.add_argument("--keep", action="store_true", help="keep the search inventory's database")
    p.add_argument("--explain", action="store_true", help="EXPLAIN (ANALYZE, BUFFERS) each query")
    args = p.parse_args(argv)
    result: dict = {"bench": "numbers", "at": datetime.now(UTC).isoformat()}
    if not args.skip_import:
        result.update(run(args.server, args.numbers, args.searches))
    if args.search_inventory or args.database:
        result["search"] = run_search(
            args.server,
            args.search_inventory,
            args.searches,
            tenants=args.tenants,
            resellers=args.resellers,
            database=args.database,
            keep=args.keep,
            explain=args.explain,
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"numbers-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    printed = {**result}
    if "search" in printed:
        printed["search"] = {k: v for k, v in result["search"].items() if k != "plans"}
    print(json.dumps(printed, indent=2))
    for name, plans in result.get("search", {}).get("plans", {}).items():
        for plan in plans:
            print(f"--- {name}\n{plan}")
    print(f"written to {out.relative_to(RESULTS.parent.parent)}")
    search = result.get("search")
    ok = result.get("import_pass", True) and (search is None or search["pass"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
