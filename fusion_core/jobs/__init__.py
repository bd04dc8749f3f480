"""Background jobs: `enqueue()` inside a transaction, run after it commits.

Modes (FUSION_JOBS_MODE): `rq` on Redis workers (`fusion worker`), `thread` (one in-process
worker thread: the embedded default), `eager` (run right after the commit in the caller's thread:
tests). The same `execute()` runs a job in every mode: a fresh app context and session, the
actor "job:<name>", commit on success, retries with exponential back-off on failure, and the
job's `on_failure` once the attempts are spent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session

from fusion_core.context import current_actor


@dataclass(frozen=True)
class JobDefinition:
    """A job by name. `func(**kwargs)` takes ids, is idempotent and runs inside an app context.

    `on_failure(error, **kwargs)` runs in its own transaction once every attempt has failed
    (typically: mark the entity's sync status failed).
    """

    name: str
    func: Callable[..., Any]
    max_attempts: int | None = None
    on_failure: Callable[..., Any] | None = None


@dataclass(frozen=True)
class Schedule:
    """Run job `job` every `every` seconds (at most once per interval across all workers)."""

    name: str
    job: str
    every: int
    kwargs: dict[str, Any] = field(default_factory=dict)


PENDING_KEY = "fusion.jobs"


def backoff(attempt: int, base: float = 5.0, cap: float = 600.0) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): 5, 10, 20, … capped.

    `base` is FUSION_JOB_BACKOFF_SECONDS; 0 retries at once (tests).
    """
    return min(base * 2 ** (attempt - 1), cap)


def enqueue(session: Session, name: str, /, **kwargs: Any) -> None:
    """Queue job `name` to run after `session` commits; a rollback discards it."""
    jobs = current_app.extensions["fusion"].registry.jobs
    if name not in jobs:
        raise KeyError(f"unknown job {name!r}; registered: {', '.join(sorted(jobs))}")
    request_id = current_actor().request_id
    real = session() if isinstance(session, scoped_session) else session
    if not real.in_transaction():
        # Without a transaction a rollback() is a no-op that fires no event, and the job would
        # wait in session.info for the next commit: begin one so the rollback discards it.
        real.begin()
    session.info.setdefault(PENDING_KEY, []).append((name, kwargs, request_id))


def _after_commit(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if pending:
        runner = current_app.extensions["fusion.jobs"]
        for name, kwargs, request_id in pending:
            runner.dispatch(name, kwargs, request_id)


def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)


def install() -> None:
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", lambda s, _t: _after_rollback(s))
