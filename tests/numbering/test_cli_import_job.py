"""`fusion numbers import FILE` when jobs run on rq workers: a large import is queued as the job
`numbering.import`; the command follows the import record with its progress bar (or, with
`--no-wait`, prints the import's id and returns). PostgreSQL and Redis, as in production."""

from __future__ import annotations

import multiprocessing
import re
import signal
import uuid

import pytest
from redis import Redis
from sqlalchemy import func, select

from fusion_core.app import create_app
from fusion_core.cli import main
from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import get_db
from fusion_core.numbering import importer
from fusion_core.numbering.models import NumberImport, PhoneNumber
from fusion_core.testing import need_service, settings_for_tests

FIRST, LAST = "+3225500000", "+3225519999"  # 20,000 numbers: over SYNC_IMPORT_LIMIT
LARGE = f"first,last,type\n{FIRST},{LAST},geographic\n"
QUEUED_RE = re.compile(r"^import ([0-9a-f-]{36}): queued as a job for 20000 number\(s\)$")


@pytest.fixture
def rq_app(app, tmp_path, monkeypatch):
    """An app on the session's PostgreSQL database whose jobs go to a Redis queue of its own."""
    from fusion_core.jobs import rq as rq_jobs

    need_service("PostgreSQL", "FUSION_TEST_DATABASE_URL")
    redis_url = need_service("Redis", "FUSION_TEST_REDIS_URL")
    assert app.config["FUSION"]["DATABASE_URL"].startswith("postgresql")
    prefix = f"fusion-test-{uuid.uuid4().hex[:10]}"
    application = create_app(
        settings_for_tests(
            app.config["FUSION"]["DATABASE_URL"],
            tmp_path,
            JOBS_MODE="rq",
            REDIS_URL=redis_url,
            RQ_QUEUE_PREFIX=prefix,
            JOB_BACKOFF_SECONDS=0,
            JOB_MAX_ATTEMPTS=1,
        )
    )
    monkeypatch.setattr(rq_jobs, "_worker_app", None)  # run_worker sets it; restore after
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield application
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    redis = Redis.from_url(redis_url)
    keys = list(redis.scan_iter(f"{prefix}*")) + list(redis.scan_iter(f"rq:*{prefix}*"))
    if keys:
        redis.delete(*keys)


def _read(application, fn):
    with application.app_context(), acting_as(SYSTEM):
        return fn(get_db().session)


def _imports(application) -> list[NumberImport]:
    return _read(application, lambda s: list(s.scalars(select(NumberImport))))


def _numbers(application, state: str | None = None) -> int:
    def count(session):
        stmt = select(func.count()).select_from(PhoneNumber)
        stmt = stmt.where(PhoneNumber.e164.between(FIRST, LAST))
        if state is not None:
            stmt = stmt.where(PhoneNumber.state == state)
        return session.scalar(stmt)

    return _read(application, count)


def _worker_process(application):
    """A `fusion worker` in a forked process of its own (rq needs the main thread for its
    signal handlers); the caller stops it. No pooled connection crosses the fork."""
    from fusion_core.jobs.rq import run_worker

    with application.app_context():
        get_db().engine.dispose()

    def work() -> None:
        run_worker(application, with_scheduler=False)

    process = multiprocessing.get_context("fork").Process(target=work)
    process.start()
    return process


def _stop(process) -> None:
    process.terminate()  # SIGTERM: rq's warm shutdown
    process.join(30)
    if process.is_alive():
        process.kill()
        process.join(5)


def test_no_wait_queues_the_import_and_a_worker_writes_it(nm, rq_app, tmp_path):
    from fusion_core.jobs.rq import run_worker

    path = tmp_path / "large.csv"
    path.write_text(LARGE)
    runner = rq_app.extensions["fusion.jobs"]
    result = rq_app.test_cli_runner().invoke(
        main, ["numbers", "import", str(path), "--publish", "--no-wait"]
    )
    assert result.exit_code == 0, result.output
    assert "1 row(s): 20000 number(s) in 1 range(s)" in result.output
    found = QUEUED_RE.match(result.output.strip().splitlines()[-1])
    assert found, result.output
    (imp,) = _imports(rq_app)
    assert str(imp.id) == found.group(1)
    assert (imp.status, imp.source, imp.processed, imp.total) == ("pending", "cli", 0, 20000)
    assert _numbers(rq_app) == 0
    (job,) = runner.queue.get_jobs()
    assert job.args[:2] == ("numbering.import", {"import_id": str(imp.id)})

    run_worker(rq_app, burst=True)

    (imp,) = _imports(rq_app)
    assert (imp.status, imp.created_numbers, imp.processed) == ("completed", 20000, 20000)
    assert _numbers(rq_app, "available") == 20000
    assert runner.queue.count == 0  # the import, then the ANALYZE it queued


def _import_beside_a_worker(rq_app, tmp_path):
    """`fusion numbers import` of LARGE while an rq worker process runs the job."""
    path = tmp_path / "large.csv"
    path.write_text(LARGE)
    worker = _worker_process(rq_app)
    try:
        return rq_app.test_cli_runner().invoke(
            main, ["numbers", "import", str(path), "--timeout", "60"]
        )
    finally:
        _stop(worker)


def test_the_command_follows_the_job_with_its_progress_bar(nm, rq_app, tmp_path):
    result = _import_beside_a_worker(rq_app, tmp_path)
    assert result.exit_code == 0, result.output
    assert "importing" in result.output
    (imp,) = _imports(rq_app)
    assert result.output.strip().splitlines()[-1] == f"import {imp.id}: 20000 number(s) created"
    assert (imp.status, imp.processed, imp.source) == ("completed", 20000, "cli")
    assert _numbers(rq_app, "imported") == 20000


def test_a_failed_job_fails_the_command_with_its_error(nm, rq_app, tmp_path, monkeypatch):
    def broken(session, imp, progress=None):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(importer, "execute", broken)  # in the worker, forked after this
    result = _import_beside_a_worker(rq_app, tmp_path)
    (imp,) = _imports(rq_app)
    assert result.exit_code == 1, result.output
    assert f"import {imp.id} failed: RuntimeError: the disk is full" in result.output
    assert (imp.status, imp.error) == ("failed", "RuntimeError: the disk is full")
    assert _numbers(rq_app) == 0


def test_without_a_worker_the_command_stops_waiting_at_its_timeout(nm, rq_app, tmp_path):
    path = tmp_path / "large.csv"
    path.write_text(LARGE)
    result = rq_app.test_cli_runner().invoke(
        main, ["numbers", "import", str(path), "--timeout", "1"]
    )
    assert result.exit_code == 2, result.output
    (imp,) = _imports(rq_app)
    assert f"import {imp.id}: still pending after 1 s; it goes on" in result.output
    assert imp.status == "pending" and _numbers(rq_app) == 0
