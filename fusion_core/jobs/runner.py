"""Where jobs run: eagerly, on an in-process thread, or on rq."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Any

from flask import Flask

from fusion_core.context import Actor, acting_as
from fusion_core.db import get_db
from fusion_core.jobs import backoff

log = logging.getLogger("fusion.jobs")


def execute(app: Flask, name: str, kwargs: dict[str, Any], request_id: str | None) -> None:
    """Run one attempt of job `name` in its own app context and transaction; raise on failure."""
    job = app.extensions["fusion"].registry.jobs[name]
    with (
        app.app_context(),
        acting_as(Actor(label=f"job:{name}", via="job", request_id=request_id, unrestricted=True)),
    ):
        session = get_db().session
        try:
            job.func(**kwargs)
            session.commit()
        except Exception:
            session.rollback()
            raise


def give_up(app: Flask, name: str, kwargs: dict[str, Any], request_id: str | None, error: str):
    job = app.extensions["fusion"].registry.jobs[name]
    log.error("job %s%s failed for good: %s", name, kwargs, error)
    if job.on_failure is None:
        return
    with (
        app.app_context(),
        acting_as(Actor(label=f"job:{name}", via="job", request_id=request_id, unrestricted=True)),
    ):
        session = get_db().session
        try:
            job.on_failure(error=error, **kwargs)
            session.commit()
        except Exception:
            session.rollback()
            log.exception("on_failure of job %s failed", name)


def max_attempts(app: Flask, name: str) -> int:
    job = app.extensions["fusion"].registry.jobs[name]
    return job.max_attempts or app.config["FUSION"]["JOB_MAX_ATTEMPTS"]


class EagerRunner:
    """Runs each job right after the commit, retrying at once (tests: deterministic, no sleeps)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def dispatch(self, name: str, kwargs: dict[str, Any], request_id: str | None) -> None:
        attempts = max_attempts(self.app, name)
        for attempt in range(1, attempts + 1):
            try:
                execute(self.app, name, kwargs, request_id)
                return
            except Exception as exc:
                log.warning("job %s attempt %d/%d failed: %s", name, attempt, attempts, exc)
                error = f"{type(exc).__name__}: {exc}"
        give_up(self.app, name, kwargs, request_id, error)

    def join(self, timeout: float | None = None) -> None:
        return None


class ThreadRunner:
    """One daemon thread per process with a timer heap: retries wait their back-off.

    It also runs the registered schedules (the embedded default has no `fusion worker`): once
    started, each schedule's job is dispatched at start and then every `every` seconds. One
    process runs them; with several web processes use rq, whose workers share the schedule.
    """

    def __init__(self, app: Flask, backoff_base: float | None = None) -> None:
        self.app = app
        self.backoff_base = (
            app.config["FUSION"]["JOB_BACKOFF_SECONDS"] if backoff_base is None else backoff_base
        )
        # (due, seq, kind, name, kwargs, attempt, request_id); kind is "job" or "schedule"
        self._heap: list[tuple[float, int, str, str, dict[str, Any], int, str | None]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._busy = 0
        self._thread: threading.Thread | None = None
        self._schedules_started = False

    def dispatch(
        self, name: str, kwargs: dict[str, Any], request_id: str | None, *, attempt=1, delay=0.0
    ):
        self._push("job", name, kwargs, attempt, request_id, delay)

    def start_schedules(self) -> None:
        """Begin running the registered schedules (idempotent); the first runs are due now."""
        with self._cv:
            if self._schedules_started:
                return
            self._schedules_started = True
        for schedule in self.app.extensions["fusion"].registry.schedules.values():
            self._push("schedule", schedule.name, {}, 1, None, 0.0)

    def _push(self, kind, name, kwargs, attempt, request_id, delay) -> None:
        with self._cv:
            heapq.heappush(
                self._heap,
                (
                    time.monotonic() + delay,
                    next(self._seq),
                    kind,
                    name,
                    kwargs,
                    attempt,
                    request_id,
                ),
            )
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="fusion-jobs", daemon=True)
                self._thread.start()
            self._cv.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cv.wait(wait)
                _due, _seq, kind, name, kwargs, attempt, request_id = heapq.heappop(self._heap)
                self._busy += 1
            try:
                if kind == "schedule":
                    schedule = self.app.extensions["fusion"].registry.schedules[name]
                    self.dispatch(schedule.job, dict(schedule.kwargs), None)
                    self._push("schedule", name, {}, 1, None, float(schedule.every))
                else:
                    self._run(name, kwargs, attempt, request_id)
            finally:
                with self._cv:
                    self._busy -= 1
                    self._cv.notify_all()

    def _run(self, name: str, kwargs: dict[str, Any], attempt: int, request_id: str | None):
        try:
            execute(self.app, name, kwargs, request_id)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if attempt < max_attempts(self.app, name):
                log.warning("job %s attempt %d failed, retrying: %s", name, attempt, error)
                delay = backoff(attempt, self.backoff_base)
                self.dispatch(name, kwargs, request_id, attempt=attempt + 1, delay=delay)
            else:
                give_up(self.app, name, kwargs, request_id, error)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until no job is due or running (retries waiting their back-off don't count)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while self._busy or (self._heap and self._heap[0][0] <= time.monotonic()):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cv.wait(remaining)
        return True


def make_runner(app: Flask):
    mode = app.config["FUSION"]["JOBS_MODE"]
    if mode == "rq":
        from fusion_core.jobs.rq import RQRunner

        return RQRunner(app)
    if mode == "eager":
        return EagerRunner(app)
    if mode == "thread":
        runner = ThreadRunner(app)
        if app.extensions["fusion"].registry.schedules:
            # Schedules start with the first request: building an app (tests, CLI) runs nothing.
            app.before_request(runner.start_schedules)
        return runner
    raise RuntimeError(f"FUSION_JOBS_MODE must be rq, thread or eager, not {mode!r}")
