"""The plugin manager: built-in plugins, entry-point discovery, allow-list, clash checks.

It lives on the app (app.extensions["fusion.plugins"]), never in a module global, so two apps
with different plugin sets can coexist (tests do this).
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterator
from typing import Any

import pluggy

from fusion_core import hookspecs

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
