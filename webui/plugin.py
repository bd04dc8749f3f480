"""Registers the portal with the core through the same hooks any plugin uses."""

from __future__ import annotations

from fusion_core.hookspecs import hookimpl


@hookimpl
def register_blueprints():
    from webui.views import portal

    return [portal]
