"""Every extension point of Fusion (pluggy project name "fusion").

Three families, as in Datasette and pytest:

* **startup collectors** (`register_*`, `load_demo_data`) are called once while the app is
  built (or the demo loaded); each returns a list; the core checks the combined lists for
  clashes, naming both plugins, and freezes them;
* **per-request contributors** are called while serving a request and return what to add;
* **notifications** receive things that already happened (committed events).

Implementations may accept fewer arguments than the spec names (pluggy passes only those they
ask for), so specs can gain arguments without breaking plugins. Built-in behaviour registers
through the same hooks (`fusion_core.builtin`). `docs/plugin-hooks.md` documents each hook with
its exact signature; `tests/test_hook_docs.py` fails if one is missing there or lacks a test.
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
    from fusion_core.hierarchy.models import Organization, Subscription
    from fusion_core.jobs import JobDefinition, Schedule
    from fusion_core.numbering.targets import NumberTarget
    from fusion_core.permissions import Permission
    from fusion_core.registry import Card, MenuItem, Platform, SearchResult, SkuKind, Tab

hookspec = pluggy.HookspecMarker("fusion")
hookimpl = pluggy.HookimplMarker("fusion")


# -------------------------------------------------------------------------------------------
# startup collectors: called once by create_app(), in plugin registration order
# -------------------------------------------------------------------------------------------


@hookspec
def register_hookspecs() -> list[Any]:
    """Called first, right after every plugin is registered, before `check_pending()`.

    Return modules or classes holding extra `@hookspec` functions that this plugin offers to
    other plugins (e.g. SBC drivers for the SIP-trunk connector); they are added to the app's
    plugin manager, so other plugins may implement them.
    """


@hookspec
def register_platforms() -> list[Platform]:
    """Called by create_app() to build the platform registry.

    Return the UC platforms (`Platform(key, name, description)`) a subscription can be of.
    A key registered by two plugins stops start-up.
    """


@hookspec
def register_api_blueprints() -> list[flask_smorest.Blueprint]:
    """Called by create_app() before the portal blueprints.

    Return flask-smorest blueprints; each is mounted under `/api/v1` + its `url_prefix` and
    published in `/api/v1/openapi.json`. Views need a bearer token unless marked
    `fusion_core.api.http.public`. A blueprint name or a route (path and method) that another
    plugin already claims stops start-up.
    """


@hookspec
def register_blueprints() -> list[flask.Blueprint]:
    """Called by create_app() after the API blueprints.

    Return plain Flask blueprints (portal pages). Name them after the plugin; a blueprint name
    or a route (path and method) that another plugin already claims stops start-up.
    """


@hookspec
def register_event_types() -> list[EventType]:
    """Called by create_app() to build the event-type registry.

    Return the `EventType(name, description)`s the plugin emits with `fusion_core.events.emit`;
    `emit` refuses unregistered types. A name registered by two plugins stops start-up.
    """


@hookspec
def register_permissions() -> list[Permission]:
    """Called by create_app() to build the permission registry.

    Return the `Permission(key, action, levels, write, description)`s of the actions the
    plugin restricts to some levels of the hierarchy (e.g. only group administrators configure
    SBCs); check them with `fusion_core.permissions.require(actor, key)`, which answers 403
    with the reason. `GET /api/v1/permissions` lists them with what the caller holds. A key
    registered by two plugins stops start-up.
    """


@hookspec
def register_jobs() -> list[JobDefinition]:
    """Called by create_app() to build the job registry.

    Return `JobDefinition(name, func, max_attempts, on_failure)`s; `fusion_core.jobs.enqueue`
    refuses unregistered names. A name registered by two plugins stops start-up.
    """


@hookspec
def register_schedules() -> list[Schedule]:
    """Called by create_app() after `register_jobs`.

    Return `Schedule(name, job, every, kwargs)`s: periodic runs of a registered job, enqueued
    at most once per `every` seconds by the in-process thread runner or, with rq, across all
    `fusion worker` processes. A schedule naming an unknown job stops start-up.
    """


@hookspec
def register_cli_commands() -> list[click.Command]:
    """Called by create_app(); return click commands (or groups) added to `fusion`.

    Commands run inside an app context. A command name claimed twice stops start-up.
    """


@hookspec
def register_migrations() -> list[str]:
    """Called by `fusion db upgrade` (and `db revision`) to build Alembic's version locations.

    Return absolute paths of Alembic version folders. Each plugin keeps its own branch: its
    first revision has `branch_labels=("<plugin>",)`, `down_revision=None` and
    `depends_on="core_0001"`; its tables carry the plugin's prefix.
    """


@hookspec
def load_demo_data(session: Session, group: Organization, tenants: list[Organization]) -> None:
    """Called once by `fusion demo load` after the core's demo hierarchy is flushed.

    Add the plugin's demo rows to `session` (the demo group and its tenants are given);
    do not commit: the core commits everything in one transaction. Return nothing.
    """


@hookspec
def register_sku_kinds() -> list[SkuKind]:
    """Called by create_app() to build the licence-type registry of the catalogue.

    Return the `SkuKind(key, name, description)`s of the licences the plugin consumes (e.g.
    `teams_seat`); a group's licence SKUs must be of a registered kind, and the plugin takes
    units with `fusion_core.catalog.ledger.consume(..., "<key>", ...)`. The core registers
    `fusion_user` and `sip_channel`. A key registered by two plugins stops start-up.
    """


@hookspec
def register_number_targets() -> list[NumberTarget]:
    """Called once per app, the first time numbering needs its targets (assign, unassign).

    Return `NumberTarget(key, label, validate, act, platforms)`s: what a number can be
    assigned to (e.g. `siptrunk.trunk`, `teams.user`). The core stores the target's `key` and
    reference on the number; `validate(number, ref)` returns None or the reason `ref` cannot
    take it; `act(number, action, ref)` runs in a job after the commit ("assign" or
    "unassign"). A key registered by two plugins is refused.
    """


# -------------------------------------------------------------------------------------------
# per-request contributors: called while serving a request or a service call
# -------------------------------------------------------------------------------------------


@hookspec
def menu_items(actor: Actor) -> list[MenuItem]:
    """Called by `fusion_core.plugins.menu(actor)` each time the portal draws its navigation.

    Return the `MenuItem(label, url, section, order)`s to show to the signed-in `actor`
    (check its organisation kind and role); return an empty list to show nothing.
    """


@hookspec
def deletion_blockers(entity: Any) -> list[str]:
    """Called by the hierarchy services before an organisation or a subscription is deleted.

    Return human-readable reasons why `entity` cannot be deleted now (e.g. "it has 3 SIP
    trunks"); any reason refuses the deletion with 409, listing every reason.
    """


@hookspec
def tenant_cards(actor: Actor, tenant: Organization) -> list[Card]:
    """Called by the portal each time it draws a tenant's page, for the signed-in `actor`.

    Return `Card(key, title, body, url, order)`s to show (Licenses, Numbers, Trunks...);
    cards are sorted by `order`. `body` is HTML: escape what you put in it. Return an empty
    list when the tenant has nothing of yours (e.g. no subscription to your platform).
    """


@hookspec
def subscription_tabs(actor: Actor, subscription: Subscription) -> list[Tab]:
    """Called by the portal each time it draws a subscription's page, for `actor`.

    Return `Tab(key, label, body, url, order)`s shown after the built-in "Details" tab; a
    tab's `body` (escaped HTML) is shown when it is selected, or `url` links to a page of
    your own. Check `subscription.platform` and return tabs only for your platform.
    """


@hookspec
def global_search(actor: Actor, query: str, limit: int) -> list[SearchResult]:
    """Called by the portal's search box with what the administrator typed.

    Return at most `limit` `SearchResult(kind, label, url, detail)`s matching `query` among
    the rows `actor` may see (use `fusion_core.scope.scoped`); results are grouped by `kind`.
    """


# -------------------------------------------------------------------------------------------
# notifications: called after the fact; a failing listener is logged, never propagated
# -------------------------------------------------------------------------------------------


@hookspec
def event_committed(event: Event) -> None:
    """Called once for each emitted event after the transaction that emitted it has committed.

    Never called for a rolled-back transaction. Return nothing; slow work belongs in a job
    (`enqueue` in a new transaction), not here.
    """
