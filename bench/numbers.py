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
            "peak_rss_mib": {"before_import": round(before), "after_import": round(after)},
            "prefix_search": prefix,
            "reseller_pool_page": pool_page,
            "target_p95_ms": TARGET_P95_MS,
        }
    finally:
        db.drop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.numbers", description=__doc__)
    p.add_argument("--server", default=os.environ.get("FUSION_BENCH_DATABASE_URL", DEFAULT_SERVER))
    p.add_argument("--numbers", type=int, default=1_000_000)
    p.add_argument("--searches", type=int, default=300)
    args = p.parse_args(argv)
    result = {
        "bench": "numbers",
        "at": datetime.now(UTC).isoformat(),
        **run(args.server, args.numbers, args.searches),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"numbers-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {out.relative_to(RESULTS.parent.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
