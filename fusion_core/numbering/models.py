"""Telephone numbers, the ranges they were imported as, imports, per-number history, settings.

A number's `org_path` is its owner: the group at import, a distributor or reseller while it
sits in their pool, the tenant once allocated to one of its subscriptions. Scoping therefore
works as for every other row: an administrator sees the numbers owned in their subtree.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from fusion_core.db import Base, IdMixin, PathString, TimestampMixin, VersionMixin, utcnow
from fusion_core.scope import ScopedMixin

# Our names for number types; phonenumbers' types are mapped onto them in validation.py.
NUMBER_TYPES = (
    "geographic",
    "mobile",
    "toll_free",
    "premium",
    "shared_cost",
    "voip",
    "personal",
    "pager",
    "non_geographic",
    "voicemail",
)

STATES = (
    "imported",
    "available",
    "reserved",
    "allocated",
    "assigned",
    "aging",
    "porting",
    "retired",
)

IMPORT_STATUSES = ("pending", "running", "completed", "failed")

# E.164 numbers are compared byte-wise (prefix search is a range scan): "C" collation on
# PostgreSQL, like organisation paths.
E164 = String(16).with_variant(String(16, collation="C"), "postgresql")


class PhoneNumber(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    __tablename__ = "numbers"
    __label__ = "number"
    __table_args__ = (
        CheckConstraint(f"state IN {STATES}", name="state"),
        CheckConstraint(f"number_type IN {NUMBER_TYPES}", name="number_type"),
        # Search is ordered by e164 (keyset pages): every index a filter uses ends with e164,
        # so a filter plus a prefix is one range of an index read in order, and a page stops
        # after `limit` rows instead of skipping millions (numbering_0003; bench.numbers).
        # Prefix within an owner (a tenant's numbers, `tenant_id`, `owner_id`).
        Index("ix_numbers_org_path_e164", "org_path", "e164"),
        # A number request's search (country, type, state available) and those filters.
        Index("ix_numbers_country_type_state_e164", "country", "number_type", "state", "e164"),
        Index("ix_numbers_type_e164", "number_type", "e164"),
        Index("ix_numbers_state_e164", "state", "e164"),
        # Few numbers have a vanity class: the index holds only those.
        Index(
            "ix_numbers_vanity_class_e164",
            "vanity_class",
            "e164",
            postgresql_where=text("vanity_class IS NOT NULL"),
            sqlite_where=text("vanity_class IS NOT NULL"),
        ),
        Index("ix_numbers_target", "target_type", "target_ref"),
    )

    e164: Mapped[str] = mapped_column(E164, unique=True)
    country: Mapped[str] = mapped_column(String(2))
    number_type: Mapped[str] = mapped_column(String(20))
    vanity_class: Mapped[str | None] = mapped_column(String(50))
    area: Mapped[str | None] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20), default="imported")
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="RESTRICT"), index=True
    )
    target_type: Mapped[str | None] = mapped_column(String(100))
    target_ref: Mapped[str | None] = mapped_column(String(200))
    # A reservation holds the number for one tenant until it expires.
    reserved_for_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL")
    )
    reserved_until: Mapped[datetime | None]
    # While allocated, the pool it came from (and goes back to on release).
    pool_path: Mapped[str | None] = mapped_column(PathString)
    aging_until: Mapped[datetime | None]
    notes: Mapped[str | None] = mapped_column(Text)
    range_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("number_ranges.id", ondelete="RESTRICT"), index=True
    )
    import_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("number_imports.id", ondelete="RESTRICT"), index=True
    )

    def __repr__(self) -> str:
        return f"<PhoneNumber {self.e164} {self.state}>"


class NumberRange(IdMixin, TimestampMixin, ScopedMixin, Base):
    """A block imported as one range; its numbers are rows of `numbers` (range_id)."""

    __tablename__ = "number_ranges"
    __label__ = "number range"
    __table_args__ = (
        CheckConstraint("first <= last", name="ordered"),
        CheckConstraint("count > 0", name="count"),
        Index("ix_number_ranges_first_last", "first", "last"),
    )

    first: Mapped[str] = mapped_column(E164)
    last: Mapped[str] = mapped_column(E164)
    country: Mapped[str] = mapped_column(String(2))
    number_type: Mapped[str] = mapped_column(String(20))
    count: Mapped[int] = mapped_column(Integer)
    vanity_class: Mapped[str | None] = mapped_column(String(50))
    area: Mapped[str | None] = mapped_column(String(10))
    notes: Mapped[str | None] = mapped_column(Text)
    import_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("number_imports.id", ondelete="RESTRICT"), index=True
    )


class NumberImport(IdMixin, TimestampMixin, ScopedMixin, Base):
    """One import: its source rows (for the job), progress, and outcome."""

    __tablename__ = "number_imports"
    __label__ = "number import"
    __table_args__ = (CheckConstraint(f"status IN {IMPORT_STATUSES}", name="status"),)

    status: Mapped[str] = mapped_column(String(20), default="pending")
    source: Mapped[str] = mapped_column(String(20))  # api, csv, cli
    # The validated rows, kept so the job can run them after the request has ended.
    rows: Mapped[list[Any]] = mapped_column(JSON, info={"audit": "skip"})
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    processed: Mapped[int] = mapped_column(BigInteger, default=0, info={"audit": "skip"})
    created_numbers: Mapped[int] = mapped_column(BigInteger, default=0)
    created_ranges: Mapped[int] = mapped_column(Integer, default=0)
    publish: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(254))
    finished_at: Mapped[datetime | None]


class NumberHistory(Base):
    """Who moved a number from which state to which, when and why. Append-only, like the
    audit log: the migration installs triggers refusing UPDATE (and DELETE on PostgreSQL)."""

    __tablename__ = "number_history"
    __audit__ = False  # itself a log
    __table_args__ = (Index("ix_number_history_number_id_id", "number_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    number_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("numbers.id", ondelete="RESTRICT"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[uuid.UUID | None]
    actor: Mapped[str] = mapped_column(String(254))
    via: Mapped[str] = mapped_column(String(20))
    request_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(30))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    org_path: Mapped[str] = mapped_column(PathString)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class NumberSettings(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    """A group's numbering policy (one row per group; defaults apply while there is none)."""

    __tablename__ = "number_settings"
    __label__ = "number settings"

    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), unique=True
    )
    aging_days: Mapped[int] = mapped_column(Integer, default=90)
    reservation_days: Mapped[int] = mapped_column(Integer, default=7)
    # Port-in steps per country: {"BE": ["letter of authorisation", "donor confirmation"]}.
    port_steps: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)


REQUEST_STATES = ("pending", "approved", "rejected", "cancelled", "expired")
PORT_STATES = ("draft", "submitted", "pending", "scheduled", "completed", "rejected", "cancelled")


class NumberRequest(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    """A tenant's request for numbers: the matching numbers are reserved for it at once, and an
    administrator above the tenant approves (allocation) or rejects (the hold ends) it.
    `org_path` is the tenant's."""

    __tablename__ = "number_requests"
    __label__ = "number request"
    __table_args__ = (
        CheckConstraint(f"state IN {REQUEST_STATES}", name="state"),
        CheckConstraint("quantity > 0", name="quantity"),
        Index("ix_number_requests_state_org_path", "state", "org_path"),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    country: Mapped[str] = mapped_column(String(2))
    number_type: Mapped[str] = mapped_column(String(20))
    area: Mapped[str | None] = mapped_column(String(10))
    vanity_number: Mapped[str | None] = mapped_column(E164)
    quantity: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    # The reserved numbers (ids, as strings) and their E.164 forms, in order.
    number_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    numbers: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(254))
    decided_by: Mapped[str | None] = mapped_column(String(254))
    decided_at: Mapped[datetime | None]


class PortIn(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    """A request to bring numbers over from another carrier into a tenant subscription.
    `org_path` is the tenant's; `numbers` holds every E.164 number (ranges expanded)."""

    __tablename__ = "port_ins"
    __label__ = "port-in"
    __table_args__ = (
        CheckConstraint(f"state IN {PORT_STATES}", name="state"),
        Index("ix_port_ins_state_org_path", "state", "org_path"),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    country: Mapped[str] = mapped_column(String(2))
    number_type: Mapped[str] = mapped_column(String(20))
    numbers: Mapped[list[str]] = mapped_column(JSON, default=list)
    ranges: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    count: Mapped[int] = mapped_column(Integer)
    current_carrier: Mapped[str] = mapped_column(String(200))
    account_reference: Mapped[str] = mapped_column(String(200))
    requested_date: Mapped[date]
    scheduled_for: Mapped[date | None]
    state: Mapped[str] = mapped_column(String(20), default="draft")
    # The country's steps (from the group's settings, fixed at creation) and those done.
    steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    steps_done: Mapped[list[str]] = mapped_column(JSON, default=list)
    comments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(254))


class PortDocument(IdMixin, TimestampMixin, ScopedMixin, Base):
    """A file attached to a port-in (letter of authorisation, bill), stored in the database:
    small (see services.MAX_DOCUMENT_BYTES) and few per port."""

    __tablename__ = "port_in_documents"
    __label__ = "port-in document"

    port_in_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("port_ins.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, info={"audit": "skip"})
    uploaded_by: Mapped[str] = mapped_column(String(254))
