"""Every extension point of Fusion (pluggy project name "fusion").

Three families, as in Datasette and pytest:

* **startup collectors** (`register_*`) are called once while the app is built; each returns a
  list; the core checks the combined lists for clashes and freezes them;
* **per-request contributors** are called while serving a request and return what to add;
* **notifications** receive things that already happened (committed events).

Implementations may accept fewer arguments than the spec names (pluggy passes only those they
ask for), so specs can gain arguments without breaking plugins. Built-in behaviour registers
through the same hooks (`fusion_core.builtin`). `docs/plugin-hooks.md` documents each hook with
its exact signature; a test fails if one is missing there or lacks a test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    import flask
    import flask_smorest
    from sqlalchemy.orm import Session

    from fusion_core.context import Actor
    from fusion_core.events import Event, EventType
    from fusion_core.hierarchy.models import Organization
    from fusion_core.jobs import JobDefinition, Schedule
    from fusion_core.registry import MenuItem, Platform

hookspec = pluggy.HookspecMarker("fusion")
hookimpl = pluggy.HookimplMarker("fusion")


# ---------------------------------------------------------------------------
# startup collectors
# ---------------------------------------------------------------------------


@hookspec
def register_hookspecs() -> list[Any]:
    """Modules or classes of additional hookspecs a plugin offers to other plugins."""


@hookspec
def register_platforms() -> list[Platform]:
    """UC platforms a subscription can be of; keys must be unique across plugins."""


@hookspec
def register_api_blueprints() -> list[flask_smorest.Blueprint]:
    """flask-smorest blueprints mounted under /api/v1 and published in the OpenAPI document."""


@hookspec
def register_blueprints() -> list[flask.Blueprint]:
    """Flask blueprints for portal pages; a route claimed twice stops start-up."""


@hookspec
def register_event_types() -> list[EventType]:
    """Event types the plugin emits; names must be unique across plugins."""


@hookspec
def register_jobs() -> list[JobDefinition]:
    """Background jobs by name, run in-process or on rq workers."""


@hookspec
def register_schedules() -> list[Schedule]:
    """Periodic jobs: a registered job name and its interval."""


@hookspec
def register_cli_commands() -> list[click.Command]:
    """Click commands added to the `fusion` command line."""


@hookspec
def register_migrations() -> list[str]:
    """Alembic version folders (absolute paths), one branch per plugin."""


@hookspec
def load_demo_data(session: Session, group: Organization, tenants: list[Organization]) -> None:
    """Add the plugin's demo data after the core's demo hierarchy is created."""


# ---------------------------------------------------------------------------
# per-request contributors
# ---------------------------------------------------------------------------


@hookspec
def menu_items(actor: Actor) -> list[MenuItem]:
    """Portal navigation entries for the signed-in administrator."""


@hookspec
def deletion_blockers(entity: Any) -> list[str]:
    """Reasons why `entity` (an organisation or subscription) cannot be deleted now."""


# ---------------------------------------------------------------------------
# notifications
# ---------------------------------------------------------------------------


@hookspec
def event_committed(event: Event) -> None:
    """Called once for each event after the transaction that emitted it has committed."""
