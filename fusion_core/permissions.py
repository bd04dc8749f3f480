"""Permissions: named actions, who may perform them, and the one check that enforces them.

A `Permission` names an action that is not open to every administrator of a scope — placing
orders, importing numbers, configuring SBCs — and says which levels of the hierarchy hold it and
whether it needs the admin role. The core and the plugins declare theirs through the
`register_permissions` hook (the registry refuses a key claimed twice) and check them with
`require(actor, key)`, so the rule lives in one place and `GET /api/v1/permissions` can tell an
integrator or the portal what the caller may do. Scope is separate: a permission never lets an
administrator reach outside their subtree (`fusion_core.scope`).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from fusion_core.context import Actor
from fusion_core.errors import Forbidden

LEVELS = ("group", "distributor", "reseller", "tenant")
UPSTREAM = ("group", "distributor", "reseller")
GROUP = ("group",)
READ_ONLY = "Your role is read-only: this action needs the admin role."


@dataclass(frozen=True)
class Permission:
    """`key` (`<plugin or area>.<action>`), `action` (the phrase of a refusal: "Only group
    administrators can <action>."), `levels` (organisation kinds whose administrators hold it),
    `write` (needs the admin role: read-only administrators never hold it)."""

    key: str
    action: str
    levels: tuple[str, ...] = LEVELS
    write: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.levels) - set(LEVELS))
        if unknown or not self.levels:
            raise ValueError(f"permission {self.key!r}: levels must be among {LEVELS}: {unknown}")

    def granted(self, actor: Actor) -> bool:
        if actor.unrestricted:
            return True
        if not actor.is_admin or (self.write and not actor.can_write):
            return False
        return actor.org_kind in self.levels

    def refusal(self, actor: Actor, action: str | None = None) -> str:
        """Why `actor` does not hold it, in words an administrator understands."""
        action = action or self.action
        if self.write and not actor.can_write and actor.org_kind in self.levels:
            return READ_ONLY
        if self.levels == GROUP:
            return f"Only group administrators can {action}."
        if self.levels == UPSTREAM:
            return f"Tenants cannot {action}; their provider does."
        return f"Only administrators of a {' or '.join(self.levels)} can {action}."


def require_write(actor: Actor) -> None:
    """Raise 403 for a read-only administrator: any change needs the admin role."""
    if not actor.can_write:
        raise Forbidden(READ_ONLY)


def registered(key: str) -> Permission:
    try:
        return current_app.extensions["fusion"].registry.permissions[key]
    except KeyError:
        raise LookupError(f"no permission {key!r} is registered (register_permissions)") from None


def require(actor: Actor, key: str, action: str | None = None) -> None:
    """Raise 403 naming the reason unless `actor` holds the permission `key`; `action` words
    the refusal for this call ("publish numbers") instead of the permission's own phrase."""
    permission = registered(key)
    if not permission.granted(actor):
        raise Forbidden(permission.refusal(actor, action))


def core_permissions() -> list[Permission]:
    """The core's own, registered by `fusion_core.builtin` like any plugin's."""
    return [
        Permission("catalog.manage", "change the catalogue", GROUP, description="SKUs, products"),
        Permission("orders.place", "place orders", GROUP, description="orders from the BSS"),
        Permission(
            "numbers.settings", "change numbering settings", GROUP, description="quarantine days"
        ),
        Permission("numbers.import", "import numbers", GROUP, description="ranges, CSV files"),
        Permission(
            "numbers.inventory",
            "manage the number inventory",
            GROUP,
            description="publish, withdraw, retire, vanity classes, end quarantines",
        ),
        Permission(
            "numbers.allocate",
            "allocate numbers",
            UPSTREAM,
            description="reserve, hand to pools, allocate to tenant subscriptions",
        ),
        Permission(
            "numbers.requests.work",
            "work number requests",
            UPSTREAM,
            description="approve or reject tenants' requests",
        ),
        Permission(
            "numbers.ports.work",
            "work port-ins",
            UPSTREAM,
            description="accept, schedule, complete, reject port-ins; their steps",
        ),
    ]
