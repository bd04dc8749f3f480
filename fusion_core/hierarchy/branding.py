"""What a group's branding may hold; the portal renders it on every page of the group's hosts."""

from __future__ import annotations

import re
from typing import Any

from fusion_core.errors import ValidationFailed

HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TEXT_FIELDS = {"product_name": 100, "support_phone": 40}
URL_FIELDS = ("logo_url", "favicon_url", "support_url")
COLOR_FIELDS = ("primary_color", "accent_color")
EMAIL_FIELDS = ("support_email", "mail_sender")
KNOWN = {*TEXT_FIELDS, *URL_FIELDS, *COLOR_FIELDS, *EMAIL_FIELDS, "hostnames"}
WHITE, BLACK = "#ffffff", "#000000"
AA_TEXT = 4.5  # WCAG 2 AA for body text: links in the primary colour, hovered in the accent


def luminance(color: str) -> float:
    """WCAG 2 relative luminance of a #rrggbb colour."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(color[i : i + 2], 16) / 255) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours, from 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def readable_on(color: str) -> str:
    """Black or white, whichever has the larger contrast on `color`."""
    return BLACK if contrast(color, BLACK) > contrast(color, WHITE) else WHITE


def _contrast_errors(branding: dict[str, Any]) -> dict[str, list[str]]:
    """The portal writes links in the primary colour on its white page, hovers them in the
    accent colour, and fills buttons with the primary colour (the accent when hovered) under
    black or white text: each pair must reach WCAG AA (4.5:1)."""
    errors: dict[str, list[str]] = {}
    primary = branding.get("primary_color")
    accent = branding.get("accent_color")
    for key, color in (("primary_color", primary), ("accent_color", accent)):
        if color and contrast(color, WHITE) < AA_TEXT:
            errors[f"branding.{key}"] = [
                f"Too light for text on the white page: contrast {contrast(color, WHITE):.2f}:1, "
                f"WCAG AA needs {AA_TEXT}:1; choose a darker colour."
            ]
    if primary and accent and "branding.accent_color" not in errors:
        text = readable_on(primary)
        if contrast(text, accent) < AA_TEXT:
            errors["branding.accent_color"] = [
                f"Buttons' {'black' if text == BLACK else 'white'} text on the accent colour "
                f"(their hover) has contrast {contrast(text, accent):.2f}:1, WCAG AA needs "
                f"{AA_TEXT}:1."
            ]
    return errors


def check_branding(branding: Any) -> dict[str, Any]:
    """Refuse branding that could break a page (colours go into CSS, URLs into attributes).

    Errors name the field as `branding.<key>`; a valid dict is returned unchanged."""
    if not isinstance(branding, dict):
        raise ValidationFailed(
            "Branding must be an object.", errors={"branding": ["Not an object."]}
        )
    errors: dict[str, list[str]] = {}
    for key in sorted(set(branding) - KNOWN):
        errors[f"branding.{key}"] = [f"Unknown field; use: {', '.join(sorted(KNOWN))}."]
    for key, limit in TEXT_FIELDS.items():
        value = branding.get(key)
        if value is not None and (
            not isinstance(value, str) or not 0 < len(value.strip()) <= limit
        ):
            errors[f"branding.{key}"] = [f"Text of 1 to {limit} characters."]
    for key in URL_FIELDS:
        value = branding.get(key)
        if value is not None and (
            not isinstance(value, str) or not re.match(r"^https?://[^\s\"'<>]+$", value)
        ):
            errors[f"branding.{key}"] = ["An http:// or https:// address."]
    for key in COLOR_FIELDS:
        value = branding.get(key)
        if value is not None and (not isinstance(value, str) or not HEX_COLOR.match(value)):
            errors[f"branding.{key}"] = ["A colour as #rrggbb."]
    if not any(f"branding.{key}" in errors for key in COLOR_FIELDS):
        errors.update(_contrast_errors(branding))
    for key in EMAIL_FIELDS:
        value = branding.get(key)
        if value is not None and (not isinstance(value, str) or not EMAIL.match(value)):
            errors[f"branding.{key}"] = ["Not a valid e-mail address."]
    hostnames = branding.get("hostnames", [])
    if not isinstance(hostnames, list) or not all(
        isinstance(h, str) and HOSTNAME.match(h) for h in hostnames
    ):
        errors["branding.hostnames"] = ["A list of lower-case host names (no scheme or port)."]
    if errors:
        raise ValidationFailed("The branding has invalid fields.", errors=errors)
    return branding


def hostname_owner(session, hostnames: list[str], group_id) -> str | None:
    """A host name among `hostnames` that another group already serves, if any."""
    from sqlalchemy import select

    from fusion_core.hierarchy.models import Organization

    wanted = set(hostnames)
    for branding in session.scalars(
        select(Organization.branding).where(
            Organization.kind == "group", Organization.id != group_id
        )
    ):
        taken = wanted & set((branding or {}).get("hostnames") or [])
        if taken:
            return sorted(taken)[0]
    return None
