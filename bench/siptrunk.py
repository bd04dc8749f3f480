"""SIP-trunk provisioning: how long a change takes to reach the SBC, and syncing a big trunk.

    python -m bench siptrunk [--samples 50] [--dids 10000] [--sync-runs 3]

One run, on a PostgreSQL database of its own (dropped at the end), with a real Kamailio 5.6
running the shipped `kamailio.cfg` on loopback (`fusion_siptrunk.siptest.Kamailio`, its own
SQLite database) whose SBC row points at it:

1. **API change -> SBC routing.** gunicorn serves Fusion in production mode with
   FUSION_JOBS_MODE=rq, one `fusion worker` takes the jobs from Redis. A tenant's trunk has one
   DID. `--samples` times the DID's `rewrite_to` is changed (PATCH
   /api/v1/siptrunk/trunks/{id}/dids/{did} with the tenant administrator's token, or, while
   the plugin has no REST API, `services.update_did` + commit in this process: the JSON's
   `change_via` says which) and the SBC is polled every `--poll-ms` (JSON-RPC `htable.get did
   <e164>:as`) until it holds the new value. The figure is the time from sending the change to
   the SBC answering with it: request, commit, rq enqueue, the worker's fork, the sync job
   (state from the database, driver write, `htable.reload`), and half a poll on average. One
   real call (sipp, carrier -> SBC -> PBX) then checks that the PBX receives the last rewrite.
2. **Sync of a trunk with `--dids` DIDs.** A second trunk of the subscription gets `--dids`
   numbers (bulk-inserted: set-up, not measured). The `siptrunk.sync` job is then run through
   `fusion_core.jobs.runner.execute` (what the rq work horse runs) in a child process per case,
   `--sync-runs` times each: `first_apply` (the trunk removed from the SBC before each run),
   `unchanged` (nothing to write), `one_did_changed` (one rewrite changed in the database before
   each run: the driver rewrites the trunk's DID rows and reloads the htable); and the
   `siptrunk.reconcile` job of the SBC with no drift. Seconds per run, and the child's resident
   memory after start-up and at its peak.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import load
from bench.database import BenchDatabase

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SBC_ADDR, CARRIER, PBX, BIG_PBX = "127.0.0.61", "127.0.0.62", "127.0.0.63", "127.0.0.64"
DID = "+441632960001"
FIRST_BIG = 442070000000  # +44 20 7000 0000 onwards: the big trunk's DIDs
ADDRESS = {
    "label": "Bench office",
    "country": "GB",
    "street_lines": ["10 Downing Street"],
    "city": "London",
    "postal_code": "SW1A 2AA",
}


def say(message: str) -> None:
    print(message, flush=True)


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def rss_mib() -> float:
    """Resident memory now (VmRSS), MiB."""
    return _status_mib("VmRSS")


def reset_peak_rss() -> bool:
    """Restart the peak-RSS mark (VmHWM) at the current RSS (Linux >= 4.0: clear_refs 5).
    Not ru_maxrss: it carries the parent's peak across fork and exec."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """Peak resident memory since start or the last reset (VmHWM), MiB."""
    return _status_mib("VmHWM")


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def stats_ms(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples, 50), 1),
        "p95_ms": round(percentile(samples, 95), 1),
        "max_ms": round(max(samples), 1),
        "min_ms": round(min(samples), 1),
        "mean_ms": round(statistics.fmean(samples), 1),
    }


def settings(db_url: str, redis: str, prefix: str, scratch: Path) -> dict[str, str]:
    """Production-like settings, as FUSION_* environment variables."""
    return {
        "FUSION_DATABASE_URL": db_url,
        "FUSION_ENV": "production",
        "FUSION_SECRET_KEY": secrets.token_urlsafe(48),
        "FUSION_INSTANCE_PATH": str(scratch),
        "FUSION_REDIS_URL": redis,
        "FUSION_JOBS_MODE": "rq",
        "FUSION_RQ_QUEUE_PREFIX": prefix,  # a queue of the run's own on a shared Redis
        "FUSION_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


def make_app(env: dict[str, str]):
    from fusion_core.app import create_app

    return create_app({k.removeprefix("FUSION_"): v for k, v in env.items() if k != "PYTHONPATH"})


# --- processes ------------------------------------------------------------------------------


@contextmanager
def worker(env: dict[str, str], log_dir: Path):
    """One `fusion worker` (rq) until the block ends. No scheduler: the reconcile every 300 s
    would otherwise land in the measurement now and then (it is measured on its own)."""
    fusion = Path(sys.executable).with_name("fusion")
    cmd = [str(fusion)] if fusion.exists() else [sys.executable, "-m", "fusion_core.cli"]
    log = (log_dir / "worker.log").open("wb")
    proc = subprocess.Popen(
        [*cmd, "worker", "--no-scheduler"],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def kamailio(args, folder: Path):
    """The shipped SBC on loopback with `--kamailio-pkg-mb` of private memory per process:
    db_sqlite holds a whole table's rows in private memory while `htable.reload` rereads it
    (measured: 2,000 DIDs fit in 8 MB, 5,000 do not; 10,000 fit in 16 MB, 15,000 do not)."""
    from fusion_siptrunk import siptest

    return siptest.Kamailio(
        folder, SBC_ADDR, memory_mb=args.kamailio_mb, pkg_mb=args.kamailio_pkg_mb
    )


def wait_jobs(app, what: str, timeout: float = 60) -> None:
    """Until the run's rq queue is empty and no job is running."""
    if not app.extensions["fusion.jobs"].join(timeout):
        raise RuntimeError(f"the worker did not finish {what} within {timeout:.0f} s")


# --- set-up (through the services; not measured) --------------------------------------------


def set_up(app, kam, pbx, dids: int) -> dict[str, Any]:
    """Group, tenant, siptrunk subscription with channel and trunk licences, numbers, the SBC,
    a trunk with one DID (phase 1) and a trunk for the big sync (DIDs inserted later)."""
    from fusion_siptrunk import services
    from fusion_siptrunk.addresses import services as addresses

    from fusion_core.catalog.models import Entitlement, Sku
    from fusion_core.context import SYSTEM, acting_as
    from fusion_core.db import get_db
    from fusion_core.numbering.models import PhoneNumber
    from fusion_core.testing import Factory

    make = Factory(app)
    tree = make.tree()
    tenant_admin = make.admin(tree["tenant"])
    token = make.token(tenant_admin)
    sub = make.subscription(tree["tenant"], "siptrunk", name="Bench trunks")
    with app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        for key, ordered in (("sip_channel", 20), ("siptrunk_national", 2)):
            sku = Sku(
                kind="license",
                license_type=key,
                key=key,
                name=key,
                external_reference=f"BENCH-{key}",
                org_path=tree["group"].org_path,
            )
            session.add(sku)
            session.flush()
            session.add(
                Entitlement(
                    subscription_id=sub.id,
                    sku_id=sku.id,
                    ordered=ordered,
                    consumed=0,
                    org_path=sub.org_path,
                )
            )
        session.add(
            PhoneNumber(
                e164=DID,
                country="GB",
                number_type="geographic",
                state="allocated",
                subscription_id=sub.id,
                org_path=sub.org_path,
            )
        )
        session.commit()
        tenant = session.get(type(tree["tenant"]), tree["tenant"].id)
        address = addresses.create_address(session, tenant, dict(ADDRESS))
        if address.status != "valid":
            raise RuntimeError(f"bench address not valid: {address.validation_errors}")
        sbc = services.create_sbc(
            session,
            {
                "group_id": tree["group"].id,
                "name": "bench-pop",
                "locale": "en-GB",
                "driver": "kamailio",
                "signalling_host": kam.addr,
                "signalling_port": kam.sip_port,
                "settings": {"db_url": kam.db_url, "rpc_url": kam.rpc_url},
                "carrier_sources": [CARRIER],
                "carrier_gateways": [{"host": CARRIER, "port": 5060}],
            },
        )
        trunk = services.create_trunk(
            session,
            sub.id,
            {
                "name": "Bench PBX",
                "country": "GB",
                "format_in": "national",
                "pbx_host": pbx.addr,
                "pbx_port": pbx.port,
                "max_calls": 5,
                "address_id": address.id,
            },
        )
        session.commit()
        did = services.add_did(session, trunk, {"e164": DID, "rewrite_to": "2000"})  # commits
        big = services.create_trunk(
            session,
            sub.id,
            {
                "name": f"Bench {dids} DIDs",
                "country": "GB",
                "format_in": "national",
                "pbx_host": BIG_PBX,
                "max_calls": 5,
                "address_id": address.id,
            },
        )
        session.commit()
        ids = {
            "group_id": str(tree["group"].id),
            "tenant_id": str(tree["tenant"].id),
            "subscription_id": str(sub.id),
            "sbc_id": str(sbc.id),
            "trunk_id": str(trunk.id),
            "trunk_key": trunk.key,
            "did_id": str(did.id),
            "big_trunk_id": str(big.id),
            "big_trunk_key": big.key,
            "org_path": sub.org_path,
            "token": token,
        }
    return ids


def insert_big_trunk(app, ids: dict[str, Any], count: int) -> float:
    """`count` numbers allocated to the subscription and assigned to the big trunk, and their
    DIDs, inserted in bulk (ORM bulk INSERT: no per-row flush, audit or job)."""
    from fusion_siptrunk.models import Did
    from fusion_siptrunk.services import TARGET
    from sqlalchemy import insert, text

    from fusion_core.context import SYSTEM, acting_as
    from fusion_core.db import get_db
    from fusion_core.numbering.models import PhoneNumber

    started = time.perf_counter()
    sub_id, trunk_id = uuid.UUID(ids["subscription_id"]), uuid.UUID(ids["big_trunk_id"])
    with app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        batch = 5000
        for first in range(0, count, batch):
            numbers = []
            dids = []
            for n in range(first, min(first + batch, count)):
                number_id = uuid.uuid4()
                e164 = f"+{FIRST_BIG + n}"
                numbers.append(
                    {
                        "id": number_id,
                        "e164": e164,
                        "country": "GB",
                        "number_type": "geographic",
                        "area": "20",
                        "state": "assigned",
                        "subscription_id": sub_id,
                        "target_type": TARGET,
                        "target_ref": str(trunk_id),
                        "org_path": ids["org_path"],
                    }
                )
                dids.append(
                    {
                        "trunk_id": trunk_id,
                        "number_id": number_id,
                        "e164": e164,
                        "pilot": n == 0,
                        "org_path": ids["org_path"],
                    }
                )
            # set-up rows straight into the tables (not the session's audited path), like
            # the other benches' seeds
            session.connection().execute(insert(PhoneNumber), numbers)
            session.connection().execute(insert(Did), dids)
        session.commit()
        session.execute(text("ANALYZE"))
        session.commit()
    return time.perf_counter() - started


# --- phase 1: API change -> SBC routing -----------------------------------------------------


def htable_value(driver, sbc, key: str) -> str | None:
    """What htable `did` holds for `key` (None when absent or the SBC does not answer)."""
    from fusion_siptrunk.sbc import SbcUnavailable

    try:
        answer = driver.rpc(sbc, "htable.get", "did", key)
    except SbcUnavailable:
        return None
    item = answer.get("item", answer) if isinstance(answer, dict) else None
    value = item.get("value") if isinstance(item, dict) else answer
    return None if value is None else str(value)


def http(method: str, url: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw[:300].decode(errors="replace")


def finished_sync_jobs(app) -> dict[str, Any]:
    """The run's finished rq jobs by id (rq keeps them for its result TTL, 500 s)."""
    import rq

    runner = app.extensions["fusion.jobs"]
    registry = rq.registry.FinishedJobRegistry(queue=runner.queue)
    jobs = rq.job.Job.fetch_many(registry.get_job_ids(), connection=runner.redis)
    return {j.id: j for j in jobs if j is not None and j.description == "fusion:siptrunk.sync"}


def worker_breakdown(app, before: set[str]) -> dict[str, Any] | None:
    """Where the worker's share went, from rq's own timestamps of the measured sync jobs:
    `queued` = enqueued -> a work horse started it, `job` = started -> ended (the sync job:
    state from the database, driver write, reload, plus rq's bookkeeping)."""
    jobs = [j for i, j in finished_sync_jobs(app).items() if i not in before]
    queued = [
        (j.started_at - j.enqueued_at).total_seconds() * 1000
        for j in jobs
        if j.started_at and j.enqueued_at
    ]
    ran = [
        (j.ended_at - j.started_at).total_seconds() * 1000
        for j in jobs
        if j.ended_at and j.started_at
    ]
    if not queued or not ran:
        return None
    return {"jobs": len(jobs), "queued": stats_ms(queued), "job": stats_ms(ran)}


def latency_phase(args, app, ids, base: str, kam, pbx, scratch: Path) -> dict[str, Any]:
    from fusion_siptrunk import services, siptest
    from fusion_siptrunk.models import Did
    from fusion_siptrunk.sbc.kamailio import KamailioDriver

    from fusion_core.context import Actor, acting_as
    from fusion_core.db import get_db

    driver, sbc = KamailioDriver(), kam.sbc("bench-pop")
    did_path = f"/api/v1/siptrunk/trunks/{ids['trunk_id']}/dids/{ids['did_id']}"
    probe_status, _ = http("GET", base + did_path, ids["token"])
    via = args.via if args.via != "auto" else ("http" if probe_status == 200 else "services")
    say(
        f"change via {via} (GET {did_path} answered {probe_status}); "
        f"{args.samples} samples, polling every {args.poll_ms} ms …"
    )
    tenant_actor = Actor(label="bench:tenant-admin", via="bench", unrestricted=True)

    def change(value: str) -> float:
        """Send the change; return when it was answered (committed)."""
        if via == "http":
            status, body = http("PATCH", base + did_path, ids["token"], {"rewrite_to": value})
            if status != 200 or not isinstance(body, dict) or body.get("rewrite_to") != value:
                raise RuntimeError(f"PATCH {did_path}: {status} {body}")
        else:
            with app.app_context(), acting_as(tenant_actor):
                session = get_db().session
                did = session.get(Did, uuid.UUID(ids["did_id"]))
                services.update_did(session, did, {"rewrite_to": value})
                session.commit()  # the sync job goes to Redis after this commit
        return time.perf_counter()

    poll = args.poll_ms / 1000
    jobs_before = set(finished_sync_jobs(app))
    samples, answered, polls, misses = [], [], [], 0
    value = None
    for i in range(args.samples):
        value = str(3000 + i)
        started = time.perf_counter()
        committed = change(value)
        deadline = committed + args.timeout
        count = 0
        while True:
            count += 1
            if htable_value(driver, sbc, f"{DID}:as") == value:
                done = time.perf_counter()
                break
            if time.perf_counter() > deadline:
                done = None
                break
            time.sleep(poll)
        if done is None:
            misses += 1
            say(f"  sample {i}: the SBC did not hold {value} within {args.timeout} s")
            continue
        samples.append((done - started) * 1000)
        answered.append((committed - started) * 1000)
        polls.append(count)
        time.sleep(args.gap_ms / 1000)  # let the worker settle: samples are independent
    wait_jobs(app, "the last change")
    breakdown = worker_breakdown(app, jobs_before)

    before = len(pbx.received())
    call = siptest.uac(kam.addr, kam.sip_port, DID, local_addr=CARRIER, folder=scratch / "uac")
    received = pbx.received()[before:]
    verified = call.successful == 1 and received == [value]
    say(f"  call to {DID}: {call.successful} answered, PBX received {received} (want [{value}])")
    if not samples:
        raise RuntimeError("no sample reached the SBC")
    return {
        "change_via": via,
        "change": f"PATCH {did_path.replace(ids['trunk_id'], '{trunk}').replace(ids['did_id'], '{did}')}"
        if via == "http"
        else "fusion_siptrunk.services.update_did + commit (no REST API for DIDs yet)",
        "api_probe_status": probe_status,
        "samples": len(samples),
        "missed": misses,
        "poll_ms": args.poll_ms,
        "change_to_sbc": stats_ms(samples),
        "change_answered": stats_ms(answered),
        "worker": breakdown,
        "polls_per_sample_mean": round(statistics.fmean(polls), 1),
        "verify_call": {
            "successful": call.successful,
            "codes": dict(call.codes),
            "pbx_received": received,
            "expected": value,
            "pass": verified,
        },
    }


# --- phase 2: a big trunk's sync, in child processes ----------------------------------------


def child(args) -> dict[str, Any]:
    """Run in a child process: one case of the big trunk's sync (or the reconcile)."""
    from fusion_siptrunk import sync
    from fusion_siptrunk.models import Did, Sbc
    from fusion_siptrunk.sbc.kamailio import KamailioDriver
    from sqlalchemy import select

    from fusion_core.context import SYSTEM, acting_as
    from fusion_core.db import get_db
    from fusion_core.jobs.runner import execute

    ids = json.loads(args.child_ids)
    app = make_app({k: v for k, v in os.environ.items() if k.startswith("FUSION_")})
    with app.app_context():  # warm: imports, mappers, the SBC database's engine
        sbc_row = get_db().session.get(Sbc, uuid.UUID(ids["sbc_id"]))
        cfg = sync.config(sbc_row)
        get_db().session.remove()
    driver = KamailioDriver()
    driver.trunk_keys(cfg)
    kwargs = {"trunk_id": ids["big_trunk_id"], "sbc_id": ids["sbc_id"]}
    last = f"+{FIRST_BIG + args.dids - 1}"
    rss_start = rss_mib()
    peak_at_start = peak_rss_mib()  # start-up's own peak (app creation, imports)
    seconds, peaks, checks, reports = [], [], [], []
    for run in range(args.sync_runs):
        expect = None
        if args.child == "first_apply":
            driver.remove_trunk(cfg, ids["big_trunk_key"])
            expect = ("0" + str(FIRST_BIG + args.dids - 1)[2:], last)
        elif args.child == "one_did_changed":
            value = str(5000 + run)
            with app.app_context(), acting_as(SYSTEM):
                session = get_db().session
                did = session.scalar(
                    select(Did).where(
                        Did.e164 == last, Did.trunk_id == uuid.UUID(kwargs["trunk_id"])
                    )
                )
                did.rewrite_to = value  # audited, like any change; no job is enqueued
                session.commit()
            expect = (value, last)
        reset = reset_peak_rss()
        started = time.perf_counter()
        if args.child == "reconcile":
            execute(app, sync.RECONCILE_JOB, {"sbc_id": ids["sbc_id"]}, None)
        else:
            execute(app, sync.SYNC_JOB, kwargs, None)
        seconds.append(round(time.perf_counter() - started, 3))
        peaks.append(peak_rss_mib() if reset else None)
        if expect:
            got = htable_value(driver, cfg, f"{expect[1]}:as")
            checks.append(got == expect[0])
        if args.child == "reconcile":
            with app.app_context():
                report = get_db().session.get(Sbc, uuid.UUID(ids["sbc_id"])).reconcile_report
                get_db().session.remove()
            reports.append(report)
            checks.append(
                not report["drifted"]
                and not report["orphans"]
                and not report["shared_drift"]
                and report["error"] is None
                and report["checked"] == 2
            )
    with app.app_context():
        state = sync.statuses(
            get_db().session,
            get_db().session.get(sync.Trunk, uuid.UUID(kwargs["trunk_id"])),
        )
        states = sorted(s.state for s in state.values())
    out = {
        "runs_s": seconds,
        "mean_s": round(statistics.fmean(seconds), 3),
        "rss_after_start_mib": rss_start,
        "peak_rss_at_start_mib": peak_at_start,
        "peak_rss_per_run_mib": peaks,
        "peak_rss_mib": max((p for p in peaks if p is not None), default=peak_rss_mib()),
        "rss_end_mib": rss_mib(),
        "checks_ok": all(checks) and states == ["in_sync"],
        "sync_status": states,
    }
    if reports:
        last_report = reports[-1]
        out["report"] = {k: last_report[k] for k in ("checked", "drifted", "orphans", "error")}
    return out


def run_child(case: str, args, env: dict[str, str], ids: dict[str, Any]) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "bench.siptrunk",
        "--child",
        case,
        "--child-ids",
        json.dumps({k: v for k, v in ids.items() if k != "token"}),
        "--dids",
        str(args.dids),
        "--sync-runs",
        str(args.sync_runs),
    ]
    out = subprocess.run(
        cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    if out.returncode != 0:
        raise RuntimeError(f"{case} child failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def sync_phase(args, app, env, ids, kam) -> dict[str, Any]:
    from fusion_siptrunk.sbc.kamailio import engine_for
    from sqlalchemy import func, select, text

    from fusion_core.db import get_db

    say(f"inserting {args.dids} numbers and DIDs on trunk {ids['big_trunk_key']} (set-up) …")
    inserted_s = insert_big_trunk(app, ids, args.dids)
    with app.app_context():
        from fusion_siptrunk.models import Did

        count = get_db().session.scalar(
            select(func.count())
            .select_from(Did)
            .where(Did.trunk_id == uuid.UUID(ids["big_trunk_id"]))
        )
        get_db().session.remove()
    if count != args.dids:
        raise RuntimeError(f"the big trunk has {count} DIDs, not {args.dids}")
    result: dict[str, Any] = {"dids": args.dids, "setup_insert_s": round(inserted_s, 1)}
    for case in ("first_apply", "unchanged", "one_did_changed", "reconcile"):
        say(f"  {case}: {args.sync_runs} run(s) in a child process …")
        result[case] = run_child(case, args, env, ids)
        say(
            f"    {result[case]['runs_s']} s, peak RSS {result[case]['peak_rss_mib']} MiB "
            f"(after start {result[case]['rss_after_start_mib']} MiB), "
            f"checks {'ok' if result[case]['checks_ok'] else 'FAILED'}"
        )
    with engine_for(kam.db_url).connect() as conn:
        rows = conn.execute(
            text("SELECT count(*) FROM sbc_did WHERE trunk = :k"), {"k": ids["big_trunk_key"]}
        ).scalar()
    result["sbc_did_rows"] = rows
    # The reload alone, for scale: what Kamailio takes to reread the DID table.
    from fusion_siptrunk.sbc.kamailio import KamailioDriver

    reloads = []
    for _ in range(3):
        started = time.perf_counter()
        KamailioDriver().rpc(kam.sbc("bench-pop"), "htable.reload", "did")
        reloads.append(round(time.perf_counter() - started, 3))
    result["htable_reload_did_s"] = reloads
    return result


# --- the run --------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    from importlib import metadata

    def first_line(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).strip().splitlines()[0].strip()
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "not installed"

    found = {"python": platform.python_version()}
    for dist in ("fusion", "sqlalchemy", "psycopg", "gunicorn", "rq", "redis"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    found["kamailio"] = first_line(["kamailio", "-v"])
    found["sipp"] = first_line(["sipp", "-v"])
    return found


def run(args, db: BenchDatabase, scratch: Path) -> dict[str, Any]:
    from fusion_siptrunk import siptest
    from sqlalchemy import text

    from fusion_core.db import get_db
    from fusion_core.migrations import upgrade

    env = settings(db.url, args.redis, db.name, scratch)
    app = make_app(env)
    with app.app_context():
        upgrade(app)
        pg_version = get_db().session.execute(text("SHOW server_version")).scalar()
        get_db().session.remove()
    result: dict[str, Any] = {"postgresql": pg_version}
    with (
        kamailio(args, scratch / "sbc") as kam,
        siptest.Uas(scratch / "pbx", PBX) as pbx,
        worker(env, scratch),
    ):
        say("set-up: group, tenant, subscription, licences, SBC, trunks (services) …")
        ids = set_up(app, kam, pbx, args.dids)
        wait_jobs(app, "the set-up's sync jobs")
        with load.gunicorn(
            "fusion_core.app:create_app()", args.workers, env, "/healthz", scratch
        ) as server:
            result["latency"] = latency_phase(args, app, ids, server.base, kam, pbx, scratch)
        lat = result["latency"]["change_to_sbc"]
        say(
            f"  change -> SBC: p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, max {lat['max_ms']} ms"
        )
        if not args.skip_sync:
            result["sync"] = sync_phase(args, app, env, ids, kam)
    app.extensions["fusion.db"].engine.dispose()
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench siptrunk", description=__doc__)
    p.add_argument("--server", default=os.environ.get("FUSION_BENCH_DATABASE_URL", DEFAULT_SERVER))
    p.add_argument(
        "--redis", default=os.environ.get("FUSION_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    p.add_argument("--samples", type=int, default=50, help="changes timed API -> SBC")
    p.add_argument("--poll-ms", type=float, default=5, help="SBC poll interval")
    p.add_argument("--gap-ms", type=float, default=100, help="pause between samples")
    p.add_argument("--timeout", type=float, default=30, help="give up on a sample after N s")
    p.add_argument("--dids", type=int, default=10_000, help="DIDs of the big trunk")
    p.add_argument("--sync-runs", type=int, default=3, help="runs of each sync case")
    p.add_argument(
        "--via",
        choices=("auto", "http", "services"),
        default="auto",
        help="how the change is made (auto: the DID API when the app has it)",
    )
    p.add_argument("--skip-sync", action="store_true", help="the latency phase only")
    p.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    p.add_argument("--kamailio-mb", type=int, default=128, help="Kamailio shared memory (-m)")
    p.add_argument(
        "--kamailio-pkg-mb", type=int, default=32, help="Kamailio private memory per process (-M)"
    )
    p.add_argument("--keep", action="store_true", help="keep the database after the run")
    p.add_argument("--output", type=Path)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--child-ids", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return 0
    from fusion_siptrunk import siptest

    missing = siptest.missing_binaries()
    if missing:
        say(
            f"needs {' and '.join(missing)} (Debian: kamailio, kamailio-sqlite-modules, sip-tester)"
        )
        return 2
    started = datetime.now(UTC)
    clock = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="fusion-bench-siptrunk-"))
    db = BenchDatabase(args.server, f"fusion_bench_siptrunk_{uuid.uuid4().hex[:8]}")
    db.create()
    try:
        measured = run(args, db, scratch)
    finally:
        if args.keep:
            say(f"database kept: {db.name}")
        else:
            db.drop()
        shutil.rmtree(scratch, ignore_errors=True)
    result = {
        "bench": "siptrunk",
        "started_at": started.isoformat(timespec="seconds"),
        "command": "python -m bench siptrunk "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {
            "nproc": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_at_end": list(os.getloadavg()),
        },
        "versions": {**versions(), "postgresql": measured.pop("postgresql")},
        "settings": {
            "fusion": {"FUSION_ENV": "production", "FUSION_JOBS_MODE": "rq"},
            "gunicorn": {"workers": args.workers, "worker_class": "sync"},
            "worker": "one `fusion worker --no-scheduler` (rq, a forked work horse per job)",
            "sbc": "kamailio.cfg (shipped) via fusion_siptrunk.siptest.Kamailio, SQLite SBC database",
            "kamailio_memory_mb": {"shared": args.kamailio_mb, "private": args.kamailio_pkg_mb},
            "samples": args.samples,
            "poll_ms": args.poll_ms,
            "dids": args.dids,
            "sync_runs": args.sync_runs,
        },
        **measured,
        "elapsed_seconds": round(time.perf_counter() - clock, 1),
    }
    checks = [result["latency"]["verify_call"]["pass"], result["latency"]["missed"] == 0]
    if "sync" in result:
        checks += [
            result["sync"][c]["checks_ok"]
            for c in ("first_apply", "unchanged", "one_did_changed", "reconcile")
        ]
    result["pass"] = all(checks)
    output = args.output or RESULTS / f"siptrunk-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    say(summary(result))
    say(f"result: {output}")
    return 0 if result["pass"] else 1


def summary(result: dict[str, Any]) -> str:
    lat = result["latency"]
    c = lat["change_to_sbc"]
    lines = [
        f"change -> SBC routing ({lat['change_via']}, {lat['samples']} samples): "
        f"p50 {c['p50_ms']} ms  p95 {c['p95_ms']} ms  max {c['max_ms']} ms  "
        f"(answered p50 {lat['change_answered']['p50_ms']} ms"
        + (
            f", rq queued p50 {lat['worker']['queued']['p50_ms']} ms, job p50 "
            f"{lat['worker']['job']['p50_ms']} ms"
            if lat.get("worker")
            else ""
        )
        + "); verify call "
        f"{'ok' if lat['verify_call']['pass'] else 'FAILED'}"
    ]
    if "sync" in result:
        s = result["sync"]
        lines.append(f"sync of a trunk with {s['dids']} DIDs ({s['sbc_did_rows']} SBC rows):")
        for case in ("first_apply", "unchanged", "one_did_changed", "reconcile"):
            r = s[case]
            lines.append(
                f"  {case:<16} {r['runs_s']} s  peak RSS {r['peak_rss_mib']} MiB "
                f"(after start {r['rss_after_start_mib']})  {'ok' if r['checks_ok'] else 'FAILED'}"
            )
        lines.append(f"  htable.reload did alone: {s['htable_reload_did_s']} s")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
