"""`python -m bench`: seed a large hierarchy on PostgreSQL, then load-test the API with wrk.

See bench/README.md for what is measured and how to read the JSON result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import load
from bench.database import BenchDatabase
from bench.seed import Shape, fixture, seed

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_RATIO = 1 / 3  # of the bare endpoint's rate
TARGET_P99_MS = 50.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--server",
        default=os.environ.get("FUSION_BENCH_DATABASE_URL", DEFAULT_SERVER),
        help="PostgreSQL server URL; the bench creates (and drops) a database of its own there",
    )
    p.add_argument(
        "--redis",
        default=os.environ.get("FUSION_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis URL for the served app's jobs (production mode: rq)",
    )
    p.add_argument("--tenants", type=int, default=100_000)
    p.add_argument("--resellers", type=int, default=1_000)
    p.add_argument("--distributors", type=int, default=50)
    p.add_argument("--batch", type=int, default=2_000, help="commit every N organisations")
    p.add_argument(
        "--seed-workers", type=int, default=2, help="processes creating the tenants side by side"
    )
    p.add_argument("--duration", type=int, default=15, help="seconds of load per target")
    p.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load first")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--workers", type=int, default=4, help="gunicorn sync workers per app")
    p.add_argument("--database", help="use this database name (with --skip-seed: an existing one)")
    p.add_argument("--skip-seed", action="store_true", help="reuse --database as it is")
    p.add_argument("--skip-load", action="store_true", help="seed only (no wrk)")
    p.add_argument("--keep", action="store_true", help="keep the database after the run")
    p.add_argument("--output", type=Path, help="result file (default: bench/results/<time>.json)")
    args = p.parse_args(argv)
    if args.skip_seed and not args.database:
        p.error("--skip-seed needs --database NAME (a database kept by an earlier --keep run)")
    return args


def machine() -> dict[str, Any]:
    memory_kib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024**2, 1) if memory_kib else None,
        "platform": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("fusion", "flask", "flask-smorest", "marshmallow", "sqlalchemy", "psycopg", "gunicorn"):  # fmt: skip
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    found["wrk"] = load.wrk_version()
    return found


def say(message: str) -> None:
    print(message, flush=True)


def seed_phase(args, db: BenchDatabase, scratch: Path) -> tuple[dict[str, Any] | None, Any, str]:
    from sqlalchemy import text

    from fusion_core.app import create_app
    from fusion_core.db import get_db
    from fusion_core.migrations import upgrade

    app_config = {
        "DATABASE_URL": db.url,
        "INSTANCE_PATH": str(scratch),
        "LOG_LEVEL": "WARNING",
        "JOBS_MODE": "eager",
    }
    app = create_app(app_config)
    with app.app_context():
        seeding = None
        if not args.skip_seed:
            upgrade(app)
            shape = Shape(
                args.distributors, args.resellers, args.tenants, args.batch, args.seed_workers
            )
            say(
                f"seeding {shape.distributors} distributors, {shape.resellers} resellers, "
                f"{shape.tenants} tenants through the service layer …"
            )
            seeding = seed(shape, app_config, log=say)
            say(
                f"  tenants: {seeding['tenant_seconds']} s ({seeding['tenants_per_second']}/s); "
                f"audit listener {seeding['audit_listener_seconds']} s"
            )
        session = get_db().session
        session.execute(text("ANALYZE"))
        session.commit()
        pg_version = session.execute(text("SHOW server_version")).scalar()
        fix = fixture()
        get_db().engine.dispose()
    return seeding, fix, pg_version


def load_phase(args, db: BenchDatabase, fix, scratch: Path) -> dict[str, Any]:
    fusion_env = {
        "FUSION_DATABASE_URL": db.url,
        "FUSION_ENV": "production",
        "FUSION_SECRET_KEY": secrets.token_urlsafe(48),
        "FUSION_INSTANCE_PATH": str(scratch),
        # Production runs jobs on rq (several web processes must not each run the schedules);
        # nothing is enqueued by the GETs measured here. A queue prefix of the run's own.
        "FUSION_REDIS_URL": args.redis,
        "FUSION_RQ_QUEUE_PREFIX": db.name,
        "PYTHONPATH": str(ROOT),
    }
    bare_env = {"PYTHONPATH": str(ROOT)}
    results: dict[str, Any] = {}
    with (
        load.gunicorn(
            "fusion_core.app:create_app()", args.workers, fusion_env, "/healthz", scratch
        ) as fusion,
        load.gunicorn("bench.bare_app:app", args.workers, bare_env, "/ping", scratch) as bare,
    ):
        targets = [
            load.Target("bare", bare.base, "/ping", expect=lambda body: body["service"] == "bare"),
            load.Target(
                "tenant_get",
                fusion.base,
                "/api/v1/tenants/{id}",
                token=fix.group_admin_token,
                ids=fix.tenant_ids,
                expect=lambda body: body["id"] == fix.tenant_ids[0] and body["kind"] == "tenant",
            ),
            load.Target(
                "tenant_list",
                fusion.base,
                f"/api/v1/tenants?parent_id={fix.reseller_id}",
                token=fix.reseller_admin_token,
                expect=lambda body: (
                    body["total"] == fix.reseller_tenants
                    and len(body["items"]) == min(50, fix.reseller_tenants)
                    and all(item["parent_id"] == fix.reseller_id for item in body["items"])
                ),
            ),
        ]
        for target in targets:
            sample = load.probe(target)
            if args.warmup:
                load.run_wrk(target, args.warmup, args.connections, args.threads, scratch)
            say(f"wrk {target.name}: {args.duration} s at {args.connections} connections …")
            server = bare if target.name == "bare" else fusion
            cpu_before = server.worker_cpu_seconds()
            measured = load.run_wrk(target, args.duration, args.connections, args.threads, scratch)
            cpu_after = server.worker_cpu_seconds()
            # CPU the gunicorn workers spent per request: unlike the rate, it hardly moves with
            # what else the machine runs (the database's own CPU is not included).
            if cpu_before is not None and cpu_after is not None and measured["requests"]:
                measured["worker_cpu_ms_per_request"] = round(
                    (cpu_after - cpu_before) * 1000 / measured["requests"], 3
                )
            measured["path"] = target.path
            measured["probe_bytes"] = sample["bytes"]
            results[target.name] = measured
    bare_rate = results["bare"]["requests_per_second"]
    for name in ("tenant_get", "tenant_list"):
        r = results[name]
        r["ratio_to_bare"] = round(r["requests_per_second"] / bare_rate, 3) if bare_rate else None
        bare_cpu = results["bare"].get("worker_cpu_ms_per_request")
        if bare_cpu and r.get("worker_cpu_ms_per_request"):
            r["worker_cpu_ratio_to_bare"] = round(r["worker_cpu_ms_per_request"] / bare_cpu, 2)
        r["pass_rate"] = r["requests_per_second"] >= TARGET_RATIO * bare_rate
        r["pass_p99"] = r.get("p99_ms", float("inf")) < TARGET_P99_MS
        r["clean"] = r["errors"] == 0 and r["non_2xx"] == 0
        r["pass"] = r["pass_rate"] and r["pass_p99"] and r["clean"]
    return results


def summary(result: dict[str, Any]) -> str:
    lines = []
    if result.get("seeding"):
        s = result["seeding"]
        lines.append(
            f"seeding: {s['shape']['tenants']} tenants in {s['tenant_seconds']} s "
            f"({s['tenants_per_second']}/s; all {s['total_seconds']} s) "
            f"-> {'PASS' if s['pass'] else 'FAIL'} (< 60 s)"
        )
    for name, r in (result.get("http") or {}).items():
        line = (
            f"{name:<12} {r['requests_per_second']:>9.1f} req/s  p50 {r.get('p50_ms')} ms  "
            f"p99 {r.get('p99_ms')} ms  errors {r['errors']}  non-2xx {r['non_2xx']}  "
            f"cpu/req {r.get('worker_cpu_ms_per_request')} ms"
        )
        if "ratio_to_bare" in r:
            line += f"  ratio {r['ratio_to_bare']}  -> {'PASS' if r['pass'] else 'FAIL'}"
        lines.append(line)
    return "\n".join(lines)


# `python -m bench all` (what a bare `make bench` runs): every suite in turn, each in a process
# of its own so one's memory and servers never overlap another's, on this machine's PostgreSQL
# and Redis. Each writes its own JSON under bench/results/; the run fails if any suite did.
SUITES = (
    ("core", []),
    ("portal", ["portal"]),
    ("catalog", ["catalog"]),
    ("numbers", ["numbers", "--search-inventory", "10000000"]),
    ("siptrunk", ["siptrunk"]),
    ("sip", ["sip"]),
)


def run_all(names: list[str]) -> int:
    import subprocess
    import time

    unknown = sorted(set(names) - {name for name, _ in SUITES})
    if unknown:
        print(f"unknown suite(s): {', '.join(unknown)}; known: {', '.join(n for n, _ in SUITES)}")
        return 2
    outcomes = []
    for name, args in SUITES:
        if names and name not in names:
            continue
        print(f"\n=== bench {name}: python -m bench {' '.join(args)}", flush=True)
        started = time.monotonic()
        rc = subprocess.call([sys.executable, "-m", "bench", *args])
        outcomes.append((name, rc, time.monotonic() - started))
    print("\n=== summary")
    for name, rc, seconds in outcomes:
        print(f"{name:<9} {'PASS' if rc == 0 else f'FAIL (exit {rc})':<14} {seconds:6.0f} s")
    return 0 if all(rc == 0 for _, rc, _ in outcomes) else 1


def main(argv: list[str] | None = None) -> int:
    if (sys.argv[1:] if argv is None else argv)[:1] == ["all"]:
        return run_all((sys.argv[1:] if argv is None else argv)[1:])
    if (sys.argv[1:] if argv is None else argv)[:1] == ["numbers"]:
        from bench import numbers  # `python -m bench numbers [...]`: import and search at scale

        return numbers.main((sys.argv[1:] if argv is None else argv)[1:])
    if (sys.argv[1:] if argv is None else argv)[:1] == ["portal"]:
        from bench import portal  # `python -m bench portal [...]`: the portal's page timings

        return portal.main((sys.argv[1:] if argv is None else argv)[1:])
    if (sys.argv[1:] if argv is None else argv)[:1] == ["catalog"]:
        from bench import catalog  # `python -m bench catalog [...]`: orders, ledger, licence report

        return catalog.main((sys.argv[1:] if argv is None else argv)[1:])
    if (sys.argv[1:] if argv is None else argv)[:1] == ["siptrunk"]:
        from bench import siptrunk  # `python -m bench siptrunk [...]`: API change -> SBC, big sync

        return siptrunk.main((sys.argv[1:] if argv is None else argv)[1:])
    if (sys.argv[1:] if argv is None else argv)[:1] == ["sip"]:
        from bench import sip  # `python -m bench sip [...]`: SBC call rate beside a bare relay

        return sip.main((sys.argv[1:] if argv is None else argv)[1:])
    args = parse_args(argv)
    started = datetime.now(UTC)
    scratch = load.scratch_dir()
    db = BenchDatabase(args.server, args.database)
    result: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "versions": versions(),
        "settings": {
            "database": db.name,
            "gunicorn": {"workers": args.workers, "worker_class": "sync"},
            "fusion": {"FUSION_ENV": "production", "FUSION_JOBS_MODE": "rq"},
            "wrk": {
                "connections": args.connections,
                "threads": args.threads,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
            },
            "targets": {"rate_ratio_to_bare": round(TARGET_RATIO, 4), "p99_ms": TARGET_P99_MS},
        },
    }
    if args.skip_seed:
        if not db.exists():
            raise SystemExit(f"no database {db.name} (run once with --keep to make one)")
    else:
        db.create()
    clock = time.perf_counter()
    try:
        seeding, fix, pg_version = seed_phase(args, db, scratch)
        result["versions"]["postgresql"] = pg_version
        result["seeding"] = seeding
        if not args.skip_load:
            result["http"] = load_phase(args, db, fix, scratch)
    finally:
        if args.keep or args.skip_seed:
            say(f"database kept: {db.name} (reuse: --skip-seed --database {db.name})")
        else:
            db.drop()
        shutil.rmtree(scratch, ignore_errors=True)  # wrk scripts (tokens), gunicorn logs
    result["machine"]["loadavg_at_end"] = list(os.getloadavg())
    result["elapsed_seconds"] = round(time.perf_counter() - clock, 1)
    checks = [result["seeding"]["pass"]] if result.get("seeding") else []
    checks += [r["pass"] for n, r in (result.get("http") or {}).items() if n != "bare"]
    result["pass"] = all(checks)
    output = args.output or RESULTS / f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    say(summary(result))
    say(f"result: {output}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
