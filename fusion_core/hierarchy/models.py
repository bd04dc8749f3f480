"""Organisations (group → distributor → reseller → tenant) and subscriptions."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fusion_core.db import Base, IdMixin, TimestampMixin, VersionMixin
from fusion_core.scope import ScopedMixin

KINDS = ("group", "distributor", "reseller", "tenant")

# Which kinds may be the parent of each kind (DESIGN.md §4 Hierarchy).
ALLOWED_PARENTS: dict[str, tuple[str, ...]] = {
    "group": (),
    "distributor": ("group",),
    "reseller": ("group", "distributor"),
    "tenant": ("group", "distributor", "reseller"),
}

STATUSES = ("active", "suspended")
SUBSCRIPTION_STATUSES = ("active", "suspended", "cancelled")


class Organization(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    __tablename__ = "organizations"
    __label__ = "organization"
    __table_args__ = (
        CheckConstraint(f"kind IN {KINDS}", name="kind"),
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        Index("ix_organizations_kind_name", "kind", "name"),
    )

    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    external_billing_id: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    # Groups only: product name, colours, logo, portal host names, mail sender.
    branding: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    parent: Mapped[Organization | None] = relationship(remote_side="Organization.id")

    @property
    def depth(self) -> int:
        return self.org_path.count("/") - 1

    @property
    def ancestor_ids(self) -> list[uuid.UUID]:
        return [uuid.UUID(part) for part in self.org_path.strip("/").split("/")]

    def __repr__(self) -> str:
        return f"<Organization {self.kind} {self.name!r}>"


def path_for(org_id: uuid.UUID, parent: Organization | None) -> str:
    return (parent.org_path if parent else "/") + org_id.hex + "/"


class Subscription(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    """A tenant's use of one UC platform (registered by a plugin); entitlements hang off it."""

    __tablename__ = "subscriptions"
    __label__ = "subscription"
    __table_args__ = (CheckConstraint(f"status IN {SUBSCRIPTION_STATUSES}", name="status"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    platform: Mapped[str] = mapped_column(String(50), index=True)
    name: Mapped[str] = mapped_column(String(200))
    billing_id: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(20), default="active")

    tenant: Mapped[Organization] = relationship()
