"""What plugins register, frozen on the app after start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


class PluginConflict(RuntimeError):
    """Two plugins claim the same key; start-up stops."""


@dataclass(frozen=True)
class Platform:
    key: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class SkuKind:
    """A licence type SKUs can be of (`fusion_user`, `sip_channel`, `teams_seat`...)."""

    key: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class MenuItem:
    label: str
    url: str
    section: str = "main"
    order: int = 100


@dataclass(frozen=True)
class Card:
    """A card on a tenant's portal page. `body` is HTML: escape what you put in it
    (`markupsafe.escape`); `url` links the card's title to the plugin's own page."""

    key: str
    title: str
    body: str = ""
    url: str | None = None
    order: int = 100


@dataclass(frozen=True)
class Tab:
    """A tab on a subscription's portal page; `body` is escaped HTML, `url` an optional page."""

    key: str
    label: str
    body: str = ""
    url: str | None = None
    order: int = 100


@dataclass(frozen=True)
class SearchResult:
    """One hit of the portal's global search; `kind` groups the results (organisation, ...)."""

    kind: str
    label: str
    url: str
    detail: str = ""


KINDS = (
    "platforms",
    "event_types",
    "jobs",
    "schedules",
    "sku_kinds",
    "permissions",
    "blueprints",
    "commands",
)


@dataclass
class Registry:
    """Keyed collections contributed by plugins, with the plugin name that contributed each."""

    platforms: dict[str, Platform] = field(default_factory=dict)
    event_types: dict[str, Any] = field(default_factory=dict)
    jobs: dict[str, Any] = field(default_factory=dict)
    schedules: dict[str, Any] = field(default_factory=dict)
    sku_kinds: dict[str, SkuKind] = field(default_factory=dict)
    permissions: dict[str, Any] = field(default_factory=dict)  # fusion_core.permissions
    blueprints: dict[str, Any] = field(default_factory=dict)  # API and portal share one namespace
    commands: dict[str, Any] = field(default_factory=dict)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, kind: str, key: str, value: Any, plugin: str) -> None:
        table = getattr(self, kind)
        if key in table:
            first = self.owners[(kind, key)]
            raise PluginConflict(
                f"{kind[:-1].replace('_', ' ')} {key!r} is registered by both plugin "
                f"{first!r} and plugin {plugin!r}"
            )
        table[key] = value
        self.owners[(kind, key)] = plugin

    def contributed_by(self, plugin: str) -> dict[str, list[str]]:
        """What one plugin registered, by kind (for `fusion plugins list`)."""
        found: dict[str, list[str]] = {}
        for (kind, key), owner in sorted(self.owners.items()):
            if owner == plugin:
                found.setdefault(kind, []).append(key)
        return found

    def freeze(self) -> None:
        for kind in KINDS:
            setattr(self, kind, MappingProxyType(getattr(self, kind)))
