"""The catalogue (SKUs, products), orders, and the entitlement ledger.

SKUs and products belong to a group (their `org_path` is the group's path) and every
administrator of that group's tree reads them. Orders, entitlements and holds carry the
tenant's path, so they are scoped like the tenant.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fusion_core.db import Base, IdMixin, PathString, TimestampMixin, VersionMixin, utcnow
from fusion_core.hierarchy.models import Subscription
from fusion_core.scope import ScopedMixin

SKU_KINDS = ("license", "number", "customer_license")
NUMBER_TYPES = (
    "geographic",
    "non_geographic",
    "mobile",
    "toll_free",
    "premium",
    "shared_cost",
    "voip",
    "personal",
    "pager",
    "uan",
)
ORDER_TYPES = ("new_tenant", "new_subscription", "change")
ORDER_STATES = ("submitted", "completed", "rejected")
MARKUP_TIERS = ("distributor", "reseller")


def sku_key(
    kind: str,
    license_type: str | None = None,
    country: str | None = None,
    number_type: str | None = None,
    vanity_class: str | None = None,
    code: str | None = None,
) -> str:
    """What a consumer asks for: `fusion_user`, `number:BE:geographic[:gold]`, `customer:M365-E3`.

    Several SKUs of a group may share a key (e.g. monthly and yearly Teams seats); a consumer
    takes from whichever the subscription has left."""
    if kind == "license":
        return str(license_type)
    if kind == "number":
        return ":".join(p for p in ("number", country, number_type, vanity_class) if p)
    return f"customer:{code}"


class Sku(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    __tablename__ = "skus"
    __label__ = "SKU"
    __table_args__ = (
        CheckConstraint(f"kind IN {SKU_KINDS}", name="kind"),
        CheckConstraint(
            "(kind = 'license' AND license_type IS NOT NULL)"
            " OR (kind = 'number' AND country IS NOT NULL AND number_type IS NOT NULL)"
            " OR (kind = 'customer_license' AND code IS NOT NULL)",
            name="kind_fields",
        ),
        UniqueConstraint("org_path", "external_reference"),
        Index("ix_skus_org_path_key", "org_path", "key"),
    )

    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    external_reference: Mapped[str] = mapped_column(String(100))
    # What the SKU is: fixed at creation, because entitlements and holds depend on it.
    license_type: Mapped[str | None] = mapped_column(String(50))
    country: Mapped[str | None] = mapped_column(String(2))
    number_type: Mapped[str | None] = mapped_column(String(30))
    vanity_class: Mapped[str | None] = mapped_column(String(30))
    code: Mapped[str | None] = mapped_column(String(50))
    key: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(default=True)


class Product(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    __tablename__ = "products"
    __label__ = "product"
    __table_args__ = (
        UniqueConstraint("org_path", "name"),
        CheckConstraint("setup_price >= 0 AND monthly_price >= 0", name="prices"),
    )

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    # List prices and tier markups are handed to the billing system in reports; Fusion never
    # invoices. markups: [{"tier": "reseller", "percent": "12.50", "starts_on": "2026-01-01"}]
    setup_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 4))
    monthly_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 4))
    currency: Mapped[str | None] = mapped_column(String(3))
    markups: Mapped[list[Any] | None] = mapped_column(JSON)

    lines: Mapped[list[ProductLine]] = relationship(
        back_populates="product",
        cascade="all, delete-orphan",
        order_by="ProductLine.position",
        lazy="selectin",
    )


class ProductLine(IdMixin, ScopedMixin, Base):
    __tablename__ = "product_lines"
    __table_args__ = (
        UniqueConstraint("product_id", "sku_id"),
        CheckConstraint("quantity > 0", name="quantity"),
    )

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    sku_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("skus.id", ondelete="RESTRICT"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)

    product: Mapped[Product] = relationship(back_populates="lines")
    sku: Mapped[Sku] = relationship(lazy="joined")


class Order(IdMixin, TimestampMixin, ScopedMixin, Base):
    """A billable change to one subscription. `org_path` is the tenant's (or, for a rejected
    new-tenant order, the would-be parent's) path."""

    __tablename__ = "orders"
    __label__ = "order"
    __table_args__ = (
        CheckConstraint(f"type IN {ORDER_TYPES}", name="type"),
        CheckConstraint(f"state IN {ORDER_STATES}", name="state"),
        # Idempotency keys are unique per group: a BSS retry finds the first order.
        UniqueConstraint("group_path", "idempotency_key"),
        Index("ix_orders_org_path_created_at", "org_path", "created_at"),
    )

    group_path: Mapped[str] = mapped_column(PathString)
    type: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), default="submitted")
    reason: Mapped[str | None] = mapped_column(Text)
    bss_reference: Mapped[str | None] = mapped_column(String(100), index=True)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="SET NULL"), index=True
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    request_hash: Mapped[str | None] = mapped_column(String(64), info={"audit": "skip"})
    # What the order asked for beyond its lines (tenant, subscription), and what it changed:
    # [{"sku_id", "sku_name", "external_reference", "delta"}]. Rejections keep their details.
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    effect: Mapped[list[Any] | None] = mapped_column(JSON)
    rejection: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    completed_at: Mapped[datetime | None]

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order",
        cascade="all, delete-orphan",
        order_by="OrderLine.position",
        lazy="selectin",
    )


class OrderLine(IdMixin, ScopedMixin, Base):
    __tablename__ = "order_lines"
    __table_args__ = (CheckConstraint("quantity <> 0", name="quantity"),)

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    # RESTRICT: a product that was ordered cannot be deleted (deactivate it instead).
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship(lazy="joined")


class Entitlement(IdMixin, ScopedMixin, Base):
    """Per subscription and SKU: how many units were ordered and how many are consumed.

    The CHECK constraint is the guarantee; services change both counters only by conditional
    UPDATEs (see fusion_core.catalog.ledger), never by read-modify-write."""

    __tablename__ = "entitlements"
    __label__ = "entitlement"
    __table_args__ = (
        UniqueConstraint("subscription_id", "sku_id"),
        CheckConstraint("consumed <= ordered AND consumed >= 0", name="balance"),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    sku_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("skus.id", ondelete="RESTRICT"), index=True
    )
    ordered: Mapped[int] = mapped_column(Integer, default=0)
    consumed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    sku: Mapped[Sku] = relationship(lazy="joined")
    subscription: Mapped[Subscription] = relationship()

    @property
    def available(self) -> int:
        return self.ordered - self.consumed


class EntitlementHold(IdMixin, ScopedMixin, Base):
    """Who holds consumed units: a number, a trunk's channels, a Teams user..."""

    __tablename__ = "entitlement_holds"
    __label__ = "entitlement hold"
    __table_args__ = (
        UniqueConstraint("entitlement_id", "holder_type", "holder_id"),
        Index("ix_entitlement_holds_holder", "holder_type", "holder_id"),
        CheckConstraint("quantity > 0", name="quantity"),
    )

    entitlement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("entitlements.id", ondelete="CASCADE"), index=True
    )
    holder_type: Mapped[str] = mapped_column(String(50))
    holder_id: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    entitlement: Mapped[Entitlement] = relationship()
