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
class MenuItem:
    label: str
    url: str
    section: str = "main"
    order: int = 100


@dataclass
class Registry:
    """Keyed collections contributed by plugins, with the plugin name that contributed each."""

    platforms: dict[str, Platform] = field(default_factory=dict)
    event_types: dict[str, Any] = field(default_factory=dict)
    jobs: dict[str, Any] = field(default_factory=dict)
    schedules: dict[str, Any] = field(default_factory=dict)
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

    def freeze(self) -> None:
        for kind in ("platforms", "event_types", "jobs", "schedules"):
            setattr(self, kind, MappingProxyType(getattr(self, kind)))
