"""A generic sync-status record that plugins attach to their entities (one per remote target)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from fusion_core.audit.recorder import entity_type
from fusion_core.db import Base, IdMixin, utcnow
from fusion_core.scope import ScopedMixin

SYNC_STATES = ("pending", "in_sync", "failed", "out_of_sync")


class SyncStatus(IdMixin, ScopedMixin, Base):
    __tablename__ = "sync_statuses"
    __label__ = "sync status"
    __table_args__ = (
        UniqueConstraint("entity_type", "entity_id", "target"),
        CheckConstraint(f"state IN {SYNC_STATES}", name="state"),
    )

    entity_type: Mapped[str] = mapped_column(String(100))
    entity_id: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(20), default="pending")
    last_error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    pending_since: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_synced_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def sync_status(session: Session, entity: Any, target: str = "") -> SyncStatus:
    """The entity's status for `target`, created (pending) on first use."""
    key = (entity_type(entity), str(entity.id), target)
    status = session.scalar(
        select(SyncStatus).filter_by(entity_type=key[0], entity_id=key[1], target=target)
    )
    if status is None:
        status = SyncStatus(
            entity_type=key[0],
            entity_id=key[1],
            target=target,
            org_path=entity.org_path,
            state="pending",
            attempts=0,  # the column default applies at INSERT: mark() counts before that
            pending_since=utcnow(),
        )
        session.add(status)
    return status


def mark(session: Session, entity: Any, state: str, *, target: str = "", error: str | None = None):
    """Record an attempt's outcome: pending, in_sync, failed (with error) or out_of_sync."""
    if state not in SYNC_STATES:
        raise ValueError(f"sync state must be one of {SYNC_STATES}")
    status = sync_status(session, entity, target)
    now = utcnow()
    if state == "pending":
        status.pending_since = status.pending_since if status.state == "pending" else now
    else:
        status.last_attempt_at = now
        status.attempts = status.attempts + 1 if state == "failed" else 0
    if state == "in_sync":
        status.last_synced_at = now
    status.state = state
    status.last_error = error if state in ("failed", "out_of_sync") else None
    return status
