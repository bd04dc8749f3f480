"""White-label: the group whose branding lists the request's host name brands the portal."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from flask import g, request
from sqlalchemy import select

from fusion_core.db import session
from fusion_core.hierarchy.branding import readable_on
from fusion_core.hierarchy.models import Organization

HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Brand:
    product_name: str = "Fusion"
    logo_url: str | None = None
    favicon_url: str | None = None
    primary_color: str = "#1d4ed8"
    accent_color: str = "#0f766e"
    support_email: str | None = None
    support_phone: str | None = None
    support_url: str | None = None
    mail_sender: str | None = None
    group_id: uuid.UUID | None = None
    group_path: str | None = None
    hostnames: list[str] = field(default_factory=list)

    @property
    def on_primary(self) -> str:
        """Black or white, whichever reads better on the primary colour (WCAG luminance)."""
        return readable_on(self.primary_color)


FALLBACK = Brand()


def brand_of(group: Organization | None, branding: dict | None = None) -> Brand:
    """The Brand a group's branding dict describes; unknown or malformed values fall back."""
    if group is None:
        return FALLBACK
    data = branding if branding is not None else (group.branding or {})

    def text(key: str) -> str | None:
        value = data.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def color(key: str, default: str) -> str:
        value = data.get(key)
        return value if isinstance(value, str) and HEX_COLOR.match(value) else default

    return Brand(
        product_name=text("product_name") or group.name,
        logo_url=text("logo_url"),
        favicon_url=text("favicon_url"),
        primary_color=color("primary_color", FALLBACK.primary_color),
        accent_color=color("accent_color", FALLBACK.accent_color),
        support_email=text("support_email"),
        support_phone=text("support_phone"),
        support_url=text("support_url"),
        mail_sender=text("mail_sender"),
        group_id=group.id,
        group_path=group.org_path,
        hostnames=[h for h in data.get("hostnames") or [] if isinstance(h, str)],
    )


def request_host() -> str:
    host = request.host.lower()
    if host.startswith("["):  # IPv6 literal
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0]


def current_brand() -> Brand:
    """The brand for this request, looked up once per request.

    Groups are few (one per service provider), so scanning their branding is cheap; the
    `(kind, name)` index serves `kind = 'group'`."""
    if "portal_brand" not in g:
        host = request_host()
        g.portal_brand = FALLBACK
        for group in session.scalars(select(Organization).where(Organization.kind == "group")):
            names = {str(h).lower() for h in (group.branding or {}).get("hostnames") or []}
            if host in names:
                g.portal_brand = brand_of(group)
                break
    return g.portal_brand
