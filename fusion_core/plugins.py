"""The plugin manager: built-in plugins, entry-point discovery, allow-list, clash checks.

It lives on the app (app.extensions["fusion.plugins"]), never in a module global, so two apps
with different plugin sets can coexist (tests do this).
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy
from flask import Flask, current_app

from fusion_core import hookspecs

if TYPE_CHECKING:
    from fusion_core.context import Actor
    from fusion_core.registry import MenuItem

ENTRY_POINT_GROUP = "fusion.plugins"
BUILTIN_PLUGINS = ("fusion_core.builtin",)

log = logging.getLogger(__name__)


def discover() -> list[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)


def build_plugin_manager(
    allow: list[str] | None, extra: list[tuple[str, Any]] | None = None
) -> pluggy.PluginManager:
    """Register built-ins, then installed plugins whose entry-point name is allowed.

    `allow=None` loads every installed plugin; `extra` registers (name, object) pairs directly
    (tests and embedding applications).
    """
    pm = pluggy.PluginManager("fusion")
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTIN_PLUGINS:
        module = importlib.import_module(module_name)
        pm.register(module, name=module_name)
    found = {ep.name: ep for ep in discover()}
    if allow is not None:
        unknown = sorted(set(allow) - set(found))
        if unknown:
            raise RuntimeError(
                f"FUSION_PLUGINS names plugins that are not installed: {', '.join(unknown)} "
                f"(installed: {', '.join(found) or 'none'})"
            )
    for name, ep in found.items():
        if allow is None or name in allow:
            pm.register(ep.load(), name=name)
    for name, obj in extra or []:
        pm.register(obj, name=name)
    for specs in call_each(pm, "register_hookspecs"):
        pm.add_hookspecs(specs[1])
    pm.check_pending()
    return pm


def call_each(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
    """Call a collector hook plugin by plugin, yielding (plugin name, item) for each list item.

    Knowing which plugin contributed what lets clash errors name both plugins.
    """
    hook = getattr(pm.hook, hook_name)
    for impl in reversed(hook.get_hookimpls()):  # registration order
        result = impl.function(**{name: kwargs[name] for name in impl.argnames})
        for item in result or []:
            yield impl.plugin_name, item


def plugin_names(pm: pluggy.PluginManager) -> list[str]:
    return [name for name, _ in pm.list_name_plugin() if name not in BUILTIN_PLUGINS]


def menu(actor: Actor, app: Flask | None = None) -> list[MenuItem]:
    """The portal navigation for `actor`: every plugin's `menu_items`, by section and order."""
    app = app or current_app
    items = [
        item
        for _plugin, item in call_each(app.extensions["fusion.plugins"], "menu_items", actor=actor)
    ]
    return sorted(items, key=lambda i: (i.section, i.order, i.label))


@dataclass(frozen=True)
class PluginInfo:
    """One row of `fusion plugins list`."""

    name: str
    distribution: str
    version: str
    loaded: bool
    registers: dict[str, list[str]]


def describe(app: Flask) -> list[PluginInfo]:
    """Installed plugins (loaded or not) and directly registered ones, with what each adds."""
    fusion = app.extensions["fusion"]
    loaded = plugin_names(fusion.plugins)
    rows = []
    for ep in discover():
        dist = ep.dist
        rows.append(
            PluginInfo(
                ep.name,
                dist.name if dist else "?",
                dist.version if dist else "?",
                ep.name in loaded,
                _registers(fusion, ep.name) if ep.name in loaded else {},
            )
        )
    installed = {row.name for row in rows}
    for name in loaded:
        if name not in installed:  # registered through PLUGIN_OBJECTS
            rows.append(
                PluginInfo(name, "(registered directly)", "-", True, _registers(fusion, name))
            )
    return rows


def _registers(fusion: Any, name: str) -> dict[str, list[str]]:
    found = fusion.registry.contributed_by(name)
    callers = fusion.plugins.get_hookcallers(fusion.plugins.get_plugin(name)) or []
    found["hooks"] = sorted(caller.name for caller in callers)
    return found
