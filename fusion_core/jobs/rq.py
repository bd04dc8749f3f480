"""rq integration: the runner that enqueues on Redis, the job entry point, and the worker.

Like CKAN's jobs: queue names carry a site prefix; the worker builds the app once and forks a
work horse per job, disposing the database pool before the fork so no connection is shared.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import rq
from flask import Flask
from redis import Redis

from fusion_core.db import get_db
from fusion_core.jobs import backoff
from fusion_core.jobs.runner import execute, give_up, max_attempts

log = logging.getLogger("fusion.jobs")

_worker_app: Flask | None = None  # set by `fusion worker` in the worker process only


def queue_name(app: Flask) -> str:
    return f"{app.config['FUSION']['RQ_QUEUE_PREFIX']}-default"


def connect(app: Flask) -> Redis:
    return Redis.from_url(app.config["FUSION"]["REDIS_URL"])


class RQRunner:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.redis = connect(app)
        self.queue = rq.Queue(queue_name(app), connection=self.redis)

    def dispatch(self, name: str, kwargs: dict[str, Any], request_id: str | None) -> None:
        attempts = max_attempts(self.app, name)
        retry = None
        if attempts > 1:
            base = self.app.config["FUSION"]["JOB_BACKOFF_SECONDS"]
            retry = rq.Retry(
                max=attempts - 1, interval=[int(backoff(n, base)) for n in range(1, attempts)]
            )
        self.queue.enqueue(
            perform, args=(name, kwargs, request_id), retry=retry, description=f"fusion:{name}"
        )

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the queue is empty and no job is running (tests and CLI)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        started = rq.registry.StartedJobRegistry(queue=self.queue)
        while self.queue.count or started.count:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


def perform(name: str, kwargs: dict[str, Any], request_id: str | None) -> None:
    """What rq runs: one attempt of a Fusion job; the last failing attempt calls on_failure."""
    global _worker_app
    if _worker_app is None:  # a plain `rq worker`: build the app once per process, not per job
        from fusion_core.app import create_app

        _worker_app = create_app()
    app = _worker_app
    try:
        execute(app, name, kwargs, request_id)
    except Exception as exc:
        job = rq.get_current_job()
        if job is None or not job.retries_left:
            give_up(app, name, kwargs, request_id, f"{type(exc).__name__}: {exc}")
        raise


class FusionWorker(rq.Worker):
    def execute_job(self, job, queue):  # type: ignore[override]
        if _worker_app is not None:
            with _worker_app.app_context():
                get_db().session.remove()
                get_db().engine.dispose()
        return super().execute_job(job, queue)


def enqueue_due_schedules(app: Flask, redis: Redis, runner: RQRunner) -> None:
    """Enqueue each schedule at most once per interval across every worker (a Redis SET NX)."""
    prefix = app.config["FUSION"]["RQ_QUEUE_PREFIX"]
    for schedule in app.extensions["fusion"].registry.schedules.values():
        if redis.set(
            f"{prefix}:schedule:{schedule.name}", int(time.time()), nx=True, ex=schedule.every
        ):
            runner.dispatch(schedule.job, dict(schedule.kwargs), None)


def run_worker(app: Flask, *, burst: bool = False, with_scheduler: bool = True) -> None:
    global _worker_app
    _worker_app = app
    runner = RQRunner(app)
    stop = threading.Event()
    if with_scheduler and not burst:

        def tick() -> None:
            while not stop.wait(1.0):
                try:
                    enqueue_due_schedules(app, runner.redis, runner)
                except Exception:
                    log.exception("schedule tick failed")

        threading.Thread(target=tick, name="fusion-scheduler", daemon=True).start()
    worker = FusionWorker([runner.queue], connection=runner.redis)
    try:
        worker.work(burst=burst, with_scheduler=True)
    finally:
        stop.set()
