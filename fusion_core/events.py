"""Provisioning events: written to an outbox in the emitting transaction, announced after commit.

`emit()` adds an outbox row (so delivery to webhooks and mail can be retried from the database
later) and, once the transaction commits, the `event_committed` hook sees the event. A rollback
discards both.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import JSON, String, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from fusion_core.db import Base, IdMixin, PathString, utcnow

log = logging.getLogger("fusion.events")
PENDING_KEY = "fusion.events"


@dataclass(frozen=True)
class EventType:
    name: str
    description: str = ""


@dataclass(frozen=True)
class Event:
    id: uuid.UUID
    type: str
    org_path: str
    payload: dict[str, Any]
    occurred_at: datetime


class OutboxEvent(IdMixin, Base):
    __tablename__ = "events"
    __audit__ = False  # the outbox is itself a log of what happened

    type: Mapped[str] = mapped_column(String(100), index=True)
    org_path: Mapped[str] = mapped_column(PathString, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


def emit(session: Session, type_: str, org_path: str, **payload: Any) -> Event:
    types = current_app.extensions["fusion"].registry.event_types
    if type_ not in types:
        raise KeyError(f"unknown event type {type_!r}; register it with register_event_types")
    payload = {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in payload.items()}
    row = OutboxEvent(type=type_, org_path=org_path, payload=payload, occurred_at=utcnow())
    session.add(row)
    ev = Event(row.id, type_, org_path, payload, row.occurred_at)
    session.info.setdefault(PENDING_KEY, []).append(ev)
    return ev


def _after_commit(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if not pending:
        return
    pm = current_app.extensions["fusion.plugins"]
    for ev in pending:
        try:
            pm.hook.event_committed(event=ev)
        except Exception:
            log.exception("event_committed listener failed for %s", ev.type)


def install() -> None:
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", lambda s, _t: s.info.pop(PENDING_KEY, None))
