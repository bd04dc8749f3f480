"""CPU per API request, in-process: where a GET's milliseconds go, without network or load noise.

    python -m bench.cpu --database fusion_bench_XXXX [--requests 1000] [--profile 30]

Uses a database seeded by `python -m bench --keep` (any size; `--tenants 4000 --resellers 40
--distributors 4 --skip-load --keep` makes one in seconds). Builds the production app on it,
issues bearer tokens like the load test does, and calls the WSGI app through Flask's test client
(so the figures include ~0.3 ms of the client itself) for the bare health check, one tenant GET
and one reseller's list page. Prints the process CPU per request (time.process_time, which is
what `worker_cpu_ms_per_request` of the load test measures, minus gunicorn's parsing); with
`--profile N`, the N costliest functions of each target by cumulative CPU (cProfile with a
process-time clock: waiting for PostgreSQL is not counted).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import sys
import tempfile
import time

from sqlalchemy.engine import make_url

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__)
    p.add_argument("--server", default=os.environ.get("FUSION_BENCH_DATABASE_URL", DEFAULT_SERVER))
    p.add_argument("--database", required=True, help="a database kept by `python -m bench --keep`")
    p.add_argument("--requests", type=int, default=1000, help="timed requests per target")
    p.add_argument("--profile", type=int, default=0, help="print the N costliest functions")
    args = p.parse_args(argv)

    from bench.seed import fixture
    from fusion_core.app import create_app
    from fusion_core.db import get_db

    url = make_url(args.server).set(database=args.database).render_as_string(hide_password=False)
    app = create_app(
        {
            "DATABASE_URL": url,
            "ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "INSTANCE_PATH": tempfile.mkdtemp(prefix="fusion-bench-cpu-"),
            "JOBS_MODE": "eager",  # the GETs enqueue nothing
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        fix = fixture()
        get_db().session.commit()
    client = app.test_client()
    group = {"Authorization": f"Bearer {fix.group_admin_token}"}
    reseller = {"Authorization": f"Bearer {fix.reseller_admin_token}"}

    def health(_i: int) -> None:
        assert client.get("/healthz").status_code == 200

    def tenant_get(i: int) -> None:
        tenant = fix.tenant_ids[i % len(fix.tenant_ids)]
        response = client.get(f"/api/v1/tenants/{tenant}", headers=group)
        assert response.status_code == 200 and response.json["id"] == tenant

    def tenant_list(_i: int) -> None:
        response = client.get(f"/api/v1/tenants?parent_id={fix.reseller_id}", headers=reseller)
        assert response.status_code == 200 and response.json["total"] == fix.reseller_tenants

    for name, call in (("health", health), ("tenant_get", tenant_get), ("list", tenant_list)):
        for i in range(50):  # warm caches, prepared statements, the pool
            call(i)
        start = time.process_time()
        for i in range(args.requests):
            call(i)
        cpu_ms = (time.process_time() - start) * 1000 / args.requests
        print(f"{name:<11} {cpu_ms:6.3f} ms CPU per request ({args.requests} requests)")
        if args.profile:
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for i in range(args.requests):
                call(i)
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(
                args.profile
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
