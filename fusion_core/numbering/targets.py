"""Assignment targets: what a number can be put on (a SIP trunk, a Teams user, …).

Plugins register them with the `register_number_targets` hook. The core stores only the
target's type (`key`) and reference on the number; the plugin validates a reference when a
number is assigned and acts on the remote side in a job afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

from fusion_core.plugins import call_each
from fusion_core.registry import PluginConflict

if TYPE_CHECKING:
    from fusion_core.numbering.models import PhoneNumber


@dataclass(frozen=True)
class NumberTarget:
    """`validate(number, ref)` returns None when `ref` names a usable target for `number`
    (which belongs to a subscription), or the reason it does not. `act(number, action, ref)`
    runs in a job after the commit, with action "assign" or "unassign"; raising makes the job
    retry and finally marks the number's sync status failed."""

    key: str  # "<plugin>.<kind>", e.g. "siptrunk.trunk"
    label: str
    validate: Callable[[PhoneNumber, str], str | None]
    act: Callable[[PhoneNumber, str, str], Any] | None = None
    platforms: tuple[str, ...] = ()  # subscription platforms it applies to; () = any


EXTENSION_KEY = "fusion.numbering.targets"


def collect(app: Flask) -> dict[str, NumberTarget]:
    """Every registered target by key, collected once per app; a key claimed twice is refused."""
    found = app.extensions.get(EXTENSION_KEY)
    if found is not None:
        return found
    targets: dict[str, NumberTarget] = {}
    owners: dict[str, str] = {}
    for plugin, target in call_each(app.extensions["fusion.plugins"], "register_number_targets"):
        if target.key in targets:
            raise PluginConflict(
                f"number target {target.key!r} is registered by both plugin "
                f"{owners[target.key]!r} and plugin {plugin!r}"
            )
        targets[target.key] = target
        owners[target.key] = plugin
    app.extensions[EXTENSION_KEY] = targets
    return targets


def registered() -> dict[str, NumberTarget]:
    return collect(current_app)
