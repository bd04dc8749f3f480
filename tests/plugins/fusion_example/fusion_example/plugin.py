"""An example connector that implements every Fusion hook.

docs/plugin-hooks.md quotes this module, and tests/test_plugin_contract.py proves each hook with
it, so the documented examples are tested code. A real connector keeps its tables as audited
models on `fusion_core.db.Base`; this one is loaded by some tests only, so its single table lives
on a metadata of its own and never reaches the models every other test sees.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Blueprint, render_template_string
from flask.views import MethodView
from flask_login import login_required
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import fields

from fusion_core.api.schemas import StrictSchema
from fusion_core.context import current_actor
from fusion_core.db import get_db
from fusion_core.events import EventType, emit
from fusion_core.hierarchy.models import Organization, Subscription
from fusion_core.hookspecs import hookimpl, hookspec
from fusion_core.jobs import JobDefinition, Schedule, enqueue
from fusion_core.jobs.models import mark
from fusion_core.permissions import UPSTREAM, Permission, require
from fusion_core.registry import Card, MenuItem, Platform, SearchResult, SkuKind, Tab
from fusion_core.scope import load
from webui.views import breadcrumbs

PLATFORM = Platform(key="example", name="Example", description="The connector of the docs.")
SYNC_TARGET = "example"

notes = sa.Table(
    "example_notes",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("organization_id", sa.Uuid, nullable=False),
    sa.Column("text", sa.String(200), nullable=False),
)

# What the notification and scheduled hooks saw, for the tests (one process: eager/thread jobs).
RECEIVED: list = []
RECONCILED: list = []
ATTEMPTS: Counter[str] = Counter()


# --- a hookspec of the plugin's own, offered to other plugins ---------------------------------


class ExampleSpecs:
    @hookspec
    def example_drivers() -> list[str]:
        """Names of the devices another plugin can drive for the example platform."""


@hookimpl
def register_hookspecs():
    return [ExampleSpecs]


@hookimpl
def example_drivers():
    return ["loopback"]


# --- startup collectors -------------------------------------------------------------------------


@hookimpl
def register_platforms():
    return [PLATFORM]


@hookimpl
def register_sku_kinds():
    """A licence the example consumes: `consume(session, sub, "example_seat", 1, device)`."""
    return [SkuKind("example_seat", "Example seat", "One example device.")]


api = ApiBlueprint("example_api", __name__, url_prefix="/example", description="Example platform.")


class SyncStateSchema(StrictSchema):
    organization_id = fields.UUID()
    state = fields.String()


class StatusSchema(StrictSchema):
    plugin = fields.String()
    actor = fields.String()
    drivers = fields.List(fields.String())


@api.route("/status")
class ExampleStatus(MethodView):
    @api.response(200, StatusSchema)
    def get(self):
        """Who is asking, and the drivers other plugins offer through `example_drivers`."""
        from flask import current_app

        pm = current_app.extensions["fusion.plugins"]
        drivers = sorted(d for found in pm.hook.example_drivers() for d in found)
        return {"plugin": "example", "actor": current_actor().label, "drivers": drivers}


@hookimpl
def register_permissions():
    """Pushing an organisation by hand is for its providers, never for a tenant."""
    return [Permission("example.sync", "push organisations to the example platform", UPSTREAM)]


@api.route("/organizations/<id:organization_id>/sync")
class ExampleSync(MethodView):
    @api.response(202, SyncStateSchema)
    def post(self, organization_id):
        """Queue a push of the organisation to the example platform (runs after the commit)."""
        session = get_db().session
        org = load(Organization, organization_id)  # scope first: out of scope is 404
        require(current_actor(), "example.sync")
        status = mark(session, org, "pending", target=SYNC_TARGET)
        enqueue(session, "example.sync", organization_id=str(org.id))
        session.commit()
        return {"organization_id": org.id, "state": status.state}


@hookimpl
def register_api_blueprints():
    return [api]


portal = Blueprint("example", __name__, url_prefix="/example")


@portal.get("/")
def portal_home():
    return "<h1>Example platform</h1>"


# A page of the plugin inside the portal's layout: extend "base.html" and fill its blocks; pass
# `org` (the sidebar opens down to it) and `crumbs` (label, url) pairs. The layout adds the
# branding, the menu, the account menu and the sidebar. A page template would normally live in
# the plugin's templates/ folder (Blueprint(..., template_folder="templates")).
DEVICES_PAGE = """{% extends "base.html" %}
{% block title %}Example devices{% endblock %}
{% block content %}<h1>Example devices of {{ org.name }}</h1><p>None yet.</p>{% endblock %}"""


@portal.get("/organizations/<uuid:org_id>")
@login_required
def devices_page(org_id):
    org = load(Organization, org_id)  # out of the admin's scope: 404
    crumbs = [*breadcrumbs(org), ("Example devices", "")]
    return render_template_string(DEVICES_PAGE, org=org, crumbs=crumbs)


@hookimpl
def register_blueprints():
    return [portal]


@hookimpl
def register_event_types():
    return [EventType("example.synced", "An organisation reached the example platform")]


def sync_organization(organization_id: str) -> None:
    """Idempotent: push one organisation; the fake remote refuses names starting "Failing"."""
    ATTEMPTS[organization_id] += 1
    session = get_db().session
    org = session.get(Organization, uuid.UUID(organization_id))
    if org.name.startswith("Failing"):
        raise RuntimeError("the example platform refused the organisation")
    mark(session, org, "in_sync", target=SYNC_TARGET)
    emit(session, "example.synced", org.org_path, id=org.id)


def sync_failed(error: str, organization_id: str) -> None:
    session = get_db().session
    org = session.get(Organization, uuid.UUID(organization_id))
    mark(session, org, "failed", target=SYNC_TARGET, error=error)


def reconcile() -> None:
    RECONCILED.append(current_actor().label)


@hookimpl
def register_jobs():
    return [
        JobDefinition("example.sync", sync_organization, max_attempts=3, on_failure=sync_failed),
        JobDefinition("example.reconcile", reconcile),
    ]


@hookimpl
def register_schedules():
    return [Schedule("example.nightly-reconcile", job="example.reconcile", every=24 * 3600)]


@click.command("example-notes")
def notes_command():
    """List the example platform's notes."""
    rows = get_db().session.execute(sa.select(notes.c.text).order_by(notes.c.id)).scalars()
    for text in rows:
        click.echo(text)


@hookimpl
def register_cli_commands():
    return [notes_command]


@hookimpl
def register_migrations():
    return [str(Path(__file__).parent / "migrations" / "versions")]


@hookimpl
def load_demo_data(session, tenants):
    session.execute(
        notes.insert(), [{"organization_id": t.id, "text": f"welcome {t.name}"} for t in tenants]
    )


def _target_accepts(number, ref):
    return None if ref.startswith("device-") else f"{ref!r} is not an example device"


@hookimpl
def register_number_targets():
    from fusion_core.numbering.targets import NumberTarget

    return [
        NumberTarget(
            "example.device", "Example device", validate=_target_accepts, platforms=("example",)
        )
    ]


# --- per-request contributors -----------------------------------------------------------------


@hookimpl
def menu_items(actor):
    if not actor.is_admin:
        return []
    items = [MenuItem("Example", "/example/", section="platforms", order=50)]
    if actor.is_group:
        items.append(MenuItem("Example settings", "/example/settings", section="settings"))
    return items


@hookimpl
def tenant_cards(actor, tenant):
    """A card on every tenant's portal page; its body is escaped HTML."""
    from markupsafe import Markup

    body = Markup("<p>Example devices of {}: none yet.</p>").format(tenant.name)
    return [
        Card(
            "example", "Example devices", body, url=f"/example/organizations/{tenant.id}", order=50
        )
    ]


@hookimpl
def subscription_tabs(actor, subscription):
    """A tab on subscriptions to the example platform only."""
    if subscription.platform != PLATFORM.key:
        return []
    from markupsafe import Markup

    body = Markup("<p>Example settings of {}.</p>").format(subscription.name)
    return [Tab("example-settings", "Example settings", body, order=10)]


@hookimpl
def global_search(actor, query, limit):
    """Search the plugin's own rows: here, a fixed device name, when the query names it."""
    if "loopback".startswith(query.strip().lower()) and actor.is_admin:
        return [SearchResult("Example devices", "loopback", "/example/", "the test device")]
    return []


@hookimpl
def deletion_blockers(entity):
    if isinstance(entity, Organization) and entity.name.endswith("(locked)"):
        return ["it holds example resources"]
    if isinstance(entity, Subscription) and entity.billing_id == "EXAMPLE-LOCKED":
        return ["its example devices are still provisioned"]
    return []


# --- notifications ------------------------------------------------------------------------------


@hookimpl
def event_committed(event):
    RECEIVED.append(event)
