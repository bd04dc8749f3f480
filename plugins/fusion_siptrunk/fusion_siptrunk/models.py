"""SIP trunks, their access trunks (PoPs) and DIDs, SBCs, call-control lists and calling plans.

Ownership (`org_path`): SBCs and calling plans belong to the group that runs them; trunks,
access trunks, DIDs and list entries to the tenant of the trunk's subscription; the group's
block list (list entries without a trunk) to the group. Every model is on the core's `Base`,
so every change is audited.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fusion_core.db import Base, IdMixin, TimestampMixin, VersionMixin
from fusion_core.scope import ScopedMixin
from fusion_siptrunk.addresses import models as _addresses  # noqa: F401  (FK target)
from fusion_siptrunk.sbc import FORMATS, TRANSPORTS

TRUNK_KINDS = ("ip_pbx", "iad", "teams", "other")
LICENCES = ("national", "international")
DIRECTIONS = ("both", "inbound", "outbound")
LIST_KINDS = ("block", "allow")
# What call barring offers; every calling-plan class belongs to one of these categories.
BARRING_CATEGORIES = ("international", "premium", "mobile", "national", "toll_free", "special")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


# Hands out the small integers an SBC needs (permissions group, dispatcher set, dialplan id).
# A bare table rather than a model: a counter is bookkeeping, not an audited change.
keys = Table(
    "siptrunk_keys", Base.metadata, Column("key", Integer, primary_key=True, autoincrement=True)
)


class Sbc(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    """One SBC: a point of presence of the group's SIP-trunking service."""

    __tablename__ = "siptrunk_sbcs"
    __label__ = "SBC"
    __table_args__ = (UniqueConstraint("org_path", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    driver: Mapped[str] = mapped_column(String(50), default="kamailio")
    locale: Mapped[str] = mapped_column(String(20), default="")
    signalling_host: Mapped[str] = mapped_column(String(255))
    signalling_port: Mapped[int] = mapped_column(default=5060)
    # Driver connection details (database URL, RPC URL): may hold credentials.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, info={"audit": "secret"})
    carrier_sources: Mapped[list[Any]] = mapped_column(JSON, default=list)
    carrier_gateways: Mapped[list[Any]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    # The last reconcile: when, what drift it found and repaired (bookkeeping, not audited).
    reconciled_at: Mapped[datetime | None] = mapped_column(info={"audit": "skip"})
    reconcile_report: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, info={"audit": "skip"}
    )


class CallingPlan(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    """A group's classification of destinations for one country: ordered class rules."""

    __tablename__ = "siptrunk_calling_plans"
    __label__ = "calling plan"
    __table_args__ = (UniqueConstraint("org_path", "country"),)

    country: Mapped[str] = mapped_column(String(2))
    key: Mapped[int] = mapped_column(Integer, unique=True)
    # [{"key", "label", "category", "pattern", "default"}], tried in order
    classes: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Trunk(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    __tablename__ = "siptrunk_trunks"
    __label__ = "SIP trunk"
    __table_args__ = (
        UniqueConstraint("subscription_id", "name"),
        CheckConstraint(f"kind IN {_in(TRUNK_KINDS)}", name="kind"),
        CheckConstraint(f"licence IN {_in(LICENCES)}", name="licence"),
        CheckConstraint(f"format_in IN {_in(FORMATS)}", name="format_in"),
        CheckConstraint(f"format_out IN {_in(FORMATS)}", name="format_out"),
        CheckConstraint("max_calls >= 1", name="max_calls"),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="RESTRICT"), index=True
    )
    key: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20), default="ip_pbx")
    billing_id: Mapped[str | None] = mapped_column(String(100))
    licence: Mapped[str] = mapped_column(String(20), default="national")
    country: Mapped[str] = mapped_column(String(2))
    format_in: Mapped[str] = mapped_column(String(20), default="e164")
    format_out: Mapped[str] = mapped_column(String(20), default="e164")
    inbound_enabled: Mapped[bool] = mapped_column(default=True)
    outbound_enabled: Mapped[bool] = mapped_column(default=True)
    max_calls: Mapped[int] = mapped_column(default=1)
    dr_active: Mapped[bool] = mapped_column(default=False)
    dr_destination: Mapped[str | None] = mapped_column(String(16))
    barred: Mapped[list[Any]] = mapped_column(JSON, default=list)  # BARRING_CATEGORIES
    # class key -> {"enabled": bool, "locked": bool}; classes absent follow the plan default
    plan_settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    address_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("siptrunk_addresses.id", ondelete="RESTRICT")
    )

    access_trunks: Mapped[list[AccessTrunk]] = relationship(
        back_populates="trunk", order_by="AccessTrunk.priority", viewonly=True
    )


class AccessTrunk(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    """A trunk's presence on one SBC: where its PBX is, as seen from that PoP."""

    __tablename__ = "siptrunk_access_trunks"
    __label__ = "access trunk"
    __table_args__ = (
        UniqueConstraint("trunk_id", "sbc_id"),
        CheckConstraint(f"direction IN {_in(DIRECTIONS)}", name="direction"),
        CheckConstraint(f"transport IN {_in(TRANSPORTS)}", name="transport"),
    )

    trunk_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("siptrunk_trunks.id", ondelete="CASCADE")
    )
    sbc_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("siptrunk_sbcs.id", ondelete="RESTRICT"), index=True
    )
    locale: Mapped[str] = mapped_column(String(20), default="")
    realm: Mapped[str | None] = mapped_column(String(255))
    direction: Mapped[str] = mapped_column(String(10), default="both")
    options_ping: Mapped[bool] = mapped_column(default=False)
    transport: Mapped[str] = mapped_column(String(5), default="udp")
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(default=5060)
    priority: Mapped[int] = mapped_column(default=0)
    weight: Mapped[int] = mapped_column(default=50)
    # Addresses (IP or CIDR) the PBX sends calls from through this PoP; default: `host`.
    sources: Mapped[list[Any]] = mapped_column(JSON, default=list)

    trunk: Mapped[Trunk] = relationship(back_populates="access_trunks", viewonly=True)
    sbc: Mapped[Sbc] = relationship(viewonly=True)


class Did(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    """A number of the subscription assigned to a trunk (core target `siptrunk.trunk`)."""

    __tablename__ = "siptrunk_dids"
    __label__ = "DID"
    __table_args__ = (Index("ix_siptrunk_dids_trunk_e164", "trunk_id", "e164"),)

    trunk_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("siptrunk_trunks.id", ondelete="CASCADE")
    )
    number_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("numbers.id", ondelete="RESTRICT"), unique=True
    )
    e164: Mapped[str] = mapped_column(String(16))
    pilot: Mapped[bool] = mapped_column(default=False)
    rewrite_to: Mapped[str | None] = mapped_column(String(32))  # number or extension
    divert_to: Mapped[str | None] = mapped_column(String(16))  # E.164
    dr_destination: Mapped[str | None] = mapped_column(String(16))  # E.164
    dr_active: Mapped[bool] = mapped_column(default=False)
    address_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("siptrunk_addresses.id", ondelete="RESTRICT")
    )


class ListEntry(IdMixin, TimestampMixin, ScopedMixin, Base):
    """A block- or allow-list prefix of a trunk, or (no trunk) of the group's block list."""

    __tablename__ = "siptrunk_list_entries"
    __label__ = "call list entry"
    __table_args__ = (
        UniqueConstraint("org_path", "trunk_id", "kind", "prefix"),
        CheckConstraint(f"kind IN {_in(LIST_KINDS)}", name="kind"),
    )

    trunk_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("siptrunk_trunks.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    prefix: Mapped[str] = mapped_column(String(16))  # E.164 prefix, "+449"
    note: Mapped[str | None] = mapped_column(String(200))


class Capacity(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    """A SIP-trunking subscription's own limit on simultaneous calls across its trunks."""

    __tablename__ = "siptrunk_capacities"
    __label__ = "subscription capacity"

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), unique=True
    )
    max_calls: Mapped[int | None]  # None: as many as the subscription's sip_channel ordered


class TenantSettings(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    """A tenant's SIP-trunking defaults: what a new trunk starts from."""

    __tablename__ = "siptrunk_tenant_settings"
    __label__ = "SIP-trunking settings"
    __table_args__ = (
        CheckConstraint(f"format_in IN {_in(FORMATS)}", name="format_in"),
        CheckConstraint(f"format_out IN {_in(FORMATS)}", name="format_out"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), unique=True
    )
    country: Mapped[str | None] = mapped_column(String(2))
    format_in: Mapped[str] = mapped_column(String(20), default="e164")
    format_out: Mapped[str] = mapped_column(String(20), default="e164")
    address_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("siptrunk_addresses.id", ondelete="SET NULL")
    )
