"""Jobs: after-commit enqueueing, retries with back-off, sync status, and rq on a real Redis."""

from __future__ import annotations

import json
import os
import signal
import threading
import types
import uuid

import pytest
from redis import Redis
from sqlalchemy import select

from fusion_core.app import create_app
from fusion_core.audit.models import AuditEntry
from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import get_db
from fusion_core.hierarchy.models import Organization
from fusion_core.hookspecs import hookimpl
from fusion_core.jobs import JobDefinition, Schedule, backoff, enqueue
from fusion_core.jobs.models import SyncStatus, mark
from fusion_core.jobs.runner import EagerRunner, ThreadRunner
from fusion_core.testing import need_service, settings_for_tests


class Recorder:
    """A plugin whose jobs record their calls: `fail_first` attempts fail before success."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[dict] = []
        self.failures: list[dict] = []
        self.fail_first = fail_first

    def record(self, **kwargs) -> None:
        self.calls.append({**kwargs, "thread": threading.current_thread().name})
        if len(self.calls) <= self.fail_first:
            raise RuntimeError(f"attempt {len(self.calls)} failed")

    def on_failure(self, error: str, **kwargs) -> None:
        self.failures.append({"error": error, **kwargs})

    def plugin(self) -> types.ModuleType:
        module = types.ModuleType("recorder")
        module.register_jobs = hookimpl(
            lambda: [
                JobDefinition("t.record", self.record, max_attempts=3, on_failure=self.on_failure),
                JobDefinition("t.mark", mark_job),
            ]
        )
        return module


def mark_job(organization_id: str, state: str, error: str | None = None) -> None:
    session = get_db().session
    mark(session, session.get(Organization, uuid.UUID(organization_id)), state, error=error)


def jobs_app(app, tmp_path, recorder: Recorder, **settings):
    """An app on the session's (migrated) database with the recorder's jobs."""
    url = app.config["FUSION"]["DATABASE_URL"]
    return create_app(
        {
            **settings_for_tests(url, tmp_path, PLUGINS=[], **settings),
            "PLUGIN_OBJECTS": [("recorder", recorder.plugin())],
        }
    )


def in_transaction(application, fn):
    with application.app_context(), acting_as(SYSTEM):
        session = get_db().session
        return fn(session)


def test_backoff_doubles_from_the_base_up_to_a_cap():
    assert [backoff(n) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 320, 600]
    assert [backoff(n, base=0.5, cap=3) for n in (1, 2, 3, 4)] == [0.5, 1, 2, 3]
    assert backoff(7, base=0) == 0


def test_enqueue_runs_after_commit_and_never_after_rollback(app, tmp_path):
    recorder = Recorder()
    application = jobs_app(app, tmp_path, recorder)
    assert isinstance(application.extensions["fusion.jobs"], EagerRunner)

    def rolled_back(session):
        enqueue(session, "t.record", n=1)
        session.rollback()
        session.commit()  # a later commit in the same session does not revive it

    in_transaction(application, rolled_back)
    assert recorder.calls == []

    def committed(session):
        enqueue(session, "t.record", n=2)
        assert recorder.calls == []  # not before the commit
        session.commit()

    in_transaction(application, committed)
    assert [c["n"] for c in recorder.calls] == [2]

    with pytest.raises(KeyError, match=r"unknown job 't\.nope'; registered: .*t\.mark, t\.record"):
        in_transaction(application, lambda s: enqueue(s, "t.nope"))


def test_a_job_argument_may_be_called_name_or_session(app, tmp_path):
    recorder = Recorder()
    application = jobs_app(app, tmp_path, recorder)

    def committed(session):
        enqueue(session, "t.record", name="Acme", session="s-1")
        session.commit()

    in_transaction(application, committed)
    assert [(c["name"], c["session"]) for c in recorder.calls] == [("Acme", "s-1")]


def test_eager_retries_up_to_max_attempts_then_calls_on_failure(app, tmp_path):
    recorder = Recorder(fail_first=99)
    application = jobs_app(app, tmp_path, recorder)
    in_transaction(application, lambda s: (enqueue(s, "t.record", n=7), s.commit()))
    assert len(recorder.calls) == 3
    assert recorder.failures == [{"error": "RuntimeError: attempt 3 failed", "n": 7}]


def test_eager_success_on_a_retry_does_not_call_on_failure(app, tmp_path):
    recorder = Recorder(fail_first=2)
    application = jobs_app(app, tmp_path, recorder)
    in_transaction(application, lambda s: (enqueue(s, "t.record", n=1), s.commit()))
    assert len(recorder.calls) == 3
    assert recorder.failures == []


def test_thread_runner_runs_in_the_background_and_retries(app, tmp_path):
    recorder = Recorder(fail_first=2)
    application = jobs_app(app, tmp_path, recorder, JOBS_MODE="thread", JOB_BACKOFF_SECONDS=0)
    runner = application.extensions["fusion.jobs"]
    assert isinstance(runner, ThreadRunner) and runner.backoff_base == 0
    in_transaction(application, lambda s: (enqueue(s, "t.record", n=1), s.commit()))
    assert runner.join(timeout=30)
    assert [c["thread"] for c in recorder.calls] == ["fusion-jobs"] * 3
    assert recorder.failures == []

    failing = Recorder(fail_first=99)
    application = jobs_app(app, tmp_path, failing, JOBS_MODE="thread", JOB_BACKOFF_SECONDS=0)
    in_transaction(application, lambda s: (enqueue(s, "t.record", n=2), s.commit()))
    assert application.extensions["fusion.jobs"].join(timeout=30)
    assert len(failing.calls) == 3
    assert failing.failures == [{"error": "RuntimeError: attempt 3 failed", "n": 2}]


def test_thread_runner_waits_its_back_off_before_a_retry(app, tmp_path):
    recorder = Recorder(fail_first=1)
    application = jobs_app(app, tmp_path, recorder, JOBS_MODE="thread")
    runner = ThreadRunner(application, backoff_base=3600)
    runner.dispatch("t.record", {"n": 1}, None)
    assert runner.join(timeout=30)  # the retry is an hour away: not due, so join returns
    assert len(recorder.calls) == 1
    (_due, *_rest, attempt, _request_id) = runner._heap[0]
    assert attempt == 2


def test_sync_status_records_every_state_and_each_change_is_audited(app, tmp_path, make):
    application = jobs_app(app, tmp_path, Recorder())
    tenant = make.org("tenant", make.group())

    def run(state, error=None):
        in_transaction(
            application,
            lambda s: (
                enqueue(s, "t.mark", organization_id=str(tenant.id), state=state, error=error),
                s.commit(),
            ),
        )
        return in_transaction(
            application,
            lambda s: s.scalar(select(SyncStatus).filter_by(entity_id=str(tenant.id))),
        )

    pending = run("pending")
    assert (pending.state, pending.attempts, pending.entity_type) == ("pending", 0, "organizations")
    assert pending.pending_since is not None and pending.org_path == tenant.org_path
    failed = run("failed", "HTTP 503 from the platform")
    assert (failed.state, failed.attempts, failed.last_error) == (
        "failed",
        1,
        "HTTP 503 from the platform",
    )
    failed = run("failed", "timeout")
    assert (failed.attempts, failed.last_error) == (2, "timeout")
    synced = run("in_sync")
    assert (synced.state, synced.attempts, synced.last_error) == ("in_sync", 0, None)
    assert synced.last_synced_at is not None
    drift = run("out_of_sync", "remote has 3 extra users")
    assert (drift.state, drift.last_error) == ("out_of_sync", "remote has 3 extra users")

    entries = in_transaction(
        application,
        lambda s: s.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity_type == "sync_statuses")
            .order_by(AuditEntry.id)
        ).all(),
    )
    assert [(e.actor, e.via, e.action) for e in entries] == [("job:t.mark", "job", "create")] + [
        ("job:t.mark", "job", "update")
    ] * 4
    assert [e.changes.get("state") for e in entries[1:]] == [
        ["pending", "failed"],
        None,  # failed again: the attempts and the error change, not the state
        ["failed", "in_sync"],
        ["in_sync", "out_of_sync"],
    ]
    assert entries[2].changes["attempts"] == [1, 2]
    with pytest.raises(ValueError, match="sync state must be one of"):
        in_transaction(application, lambda s: mark(s, tenant, "done"))


# --- rq on a real Redis ---------------------------------------------------------------------


class RedisRecorder:
    """Jobs that record into a Redis list: the work horse is another process."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key

    def _push(self, **item) -> None:
        Redis.from_url(self.url).rpush(self.key, json.dumps(item))

    def items(self) -> list[dict]:
        return [json.loads(x) for x in Redis.from_url(self.url).lrange(self.key, 0, -1)]

    def plugin(self) -> types.ModuleType:
        from flask import current_app

        def sync(organization_id: str) -> None:
            session = get_db().session
            self._push(
                kind="attempt",
                pid=os.getpid(),
                app=id(current_app._get_current_object()),
                pooled=get_db().engine.pool.checkedin(),
            )
            org = session.get(Organization, uuid.UUID(organization_id))
            if org.name.startswith("Failing"):
                raise RuntimeError("remote refused")
            mark(session, org, "in_sync")

        def failed(error: str, organization_id: str) -> None:
            self._push(kind="on_failure", error=error)
            session = get_db().session
            mark(
                session,
                session.get(Organization, uuid.UUID(organization_id)),
                "failed",
                error=error,
            )

        module = types.ModuleType("rqjobs")
        module.register_jobs = hookimpl(
            lambda: [
                JobDefinition("rq.sync", sync, max_attempts=3, on_failure=failed),
                JobDefinition("rq.tick", lambda: None),
            ]
        )
        module.register_schedules = hookimpl(lambda: [Schedule("rq.every-minute", "rq.tick", 60)])
        return module


@pytest.fixture
def rq_app(app, tmp_path, monkeypatch):
    from fusion_core.jobs import rq as rq_jobs

    redis_url = need_service("Redis", "FUSION_TEST_REDIS_URL")
    prefix = f"fusion-test-{uuid.uuid4().hex[:10]}"
    recorder = RedisRecorder(redis_url, f"{prefix}:record")
    application = create_app(
        {
            **settings_for_tests(
                app.config["FUSION"]["DATABASE_URL"],  # PostgreSQL when the run uses it
                tmp_path,
                PLUGINS=[],
                JOBS_MODE="rq",
                REDIS_URL=redis_url,
                RQ_QUEUE_PREFIX=prefix,
                JOB_BACKOFF_SECONDS=0,
            ),
            "PLUGIN_OBJECTS": [("rqjobs", recorder.plugin())],
        }
    )
    application.recorder = recorder
    monkeypatch.setattr(rq_jobs, "_worker_app", None)  # run_worker sets it; restore after
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield application
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    redis = Redis.from_url(redis_url)
    keys = list(redis.scan_iter(f"{prefix}*")) + list(redis.scan_iter(f"rq:*{prefix}*"))
    if keys:
        redis.delete(*keys)


def _enqueue_sync(application, org) -> None:
    in_transaction(
        application,
        lambda s: (enqueue(s, "rq.sync", organization_id=str(org.id)), s.commit()),
    )


def _status(application, org) -> SyncStatus:
    return in_transaction(
        application, lambda s: s.scalar(select(SyncStatus).filter_by(entity_id=str(org.id)))
    )


def test_rq_worker_runs_a_committed_job_in_a_forked_horse(rq_app, make):
    from fusion_core.jobs.rq import RQRunner, run_worker

    runner = rq_app.extensions["fusion.jobs"]
    assert isinstance(runner, RQRunner)
    tenant = make.org("tenant", make.group(), name="Acme")

    def rolled_back(session):
        enqueue(session, "rq.sync", organization_id=str(tenant.id))
        session.rollback()

    in_transaction(rq_app, rolled_back)
    assert runner.queue.count == 0
    _enqueue_sync(rq_app, tenant)
    assert runner.queue.count == 1
    assert rq_app.recorder.items() == []  # nothing runs in the web process

    run_worker(rq_app, burst=True)

    (attempt,) = rq_app.recorder.items()
    assert attempt["pid"] != os.getpid()  # a work horse, forked per job
    assert attempt["app"] == id(rq_app)  # the app built once by the worker, not per job
    assert attempt["pooled"] == 0  # the pool was disposed before the fork
    status = _status(rq_app, tenant)
    assert (status.state, status.attempts) == ("in_sync", 0)
    assert runner.queue.count == 0


def test_rq_retries_then_on_failure_marks_failed(rq_app, make):
    from fusion_core.jobs.rq import run_worker

    tenant = make.org("tenant", make.group(), name="Failing Co")
    _enqueue_sync(rq_app, tenant)
    run_worker(rq_app, burst=True)

    items = rq_app.recorder.items()
    assert [i["kind"] for i in items] == ["attempt", "attempt", "attempt", "on_failure"]
    assert items[-1]["error"] == "RuntimeError: remote refused"
    status = _status(rq_app, tenant)
    assert (status.state, status.last_error, status.attempts) == (
        "failed",
        "RuntimeError: remote refused",
        1,
    )
    entries = in_transaction(
        rq_app,
        lambda s: s.scalars(
            select(AuditEntry).where(
                AuditEntry.entity_type == "sync_statuses", AuditEntry.entity_id == str(status.id)
            )
        ).all(),
    )
    assert [(e.actor, e.via) for e in entries] == [("job:rq.sync", "job")]


def test_rq_schedules_are_enqueued_once_per_interval_across_workers(rq_app):
    from fusion_core.jobs.rq import RQRunner, enqueue_due_schedules

    runner = rq_app.extensions["fusion.jobs"]
    other_worker = RQRunner(rq_app)  # a second worker process has its own connection
    enqueue_due_schedules(rq_app, runner.redis, runner)
    enqueue_due_schedules(rq_app, other_worker.redis, other_worker)
    # (the built-ins may schedule jobs of their own: count this plugin's)
    ticks = [job for job in runner.queue.get_jobs() if job.args[0] == "rq.tick"]
    assert len(ticks) == 1
    ttl = runner.redis.ttl(f"{rq_app.config['FUSION']['RQ_QUEUE_PREFIX']}:schedule:rq.every-minute")
    assert 0 < ttl <= 60
