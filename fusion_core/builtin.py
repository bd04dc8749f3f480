"""The core's own features, registered through the same hooks as any plugin."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields
from sqlalchemy import func, select

from fusion_core.api.schemas import StrictSchema
from fusion_core.events import EventType
from fusion_core.hookspecs import hookimpl
from fusion_core.numbering import registration as numbering

platforms = Blueprint("platforms", __name__, url_prefix="/platforms", description="UC platforms.")


class PlatformSchema(StrictSchema):
    key = fields.String()
    name = fields.String()
    description = fields.String()
    plugin = fields.String()


@platforms.route("")
class PlatformCollection(MethodView):
    @platforms.response(200, PlatformSchema(many=True))
    def get(self):
        """Platforms a subscription can be of, with the plugin providing each."""
        from flask import current_app

        registry = current_app.extensions["fusion"].registry
        return [
            {**vars(p), "plugin": registry.owners[("platforms", key)]}
            for key, p in sorted(registry.platforms.items())
        ]


permissions = Blueprint(
    "permissions",
    __name__,
    url_prefix="/permissions",
    description="Actions restricted to some levels of the hierarchy, and which the caller holds.",
)


class PermissionSchema(StrictSchema):
    key = fields.String()
    action = fields.String()
    description = fields.String()
    levels = fields.List(fields.String(), metadata={"description": "who holds it"})
    write = fields.Boolean(metadata={"description": "needs the admin role"})
    plugin = fields.String()
    granted = fields.Boolean(metadata={"description": "whether the caller holds it"})


@permissions.route("")
class PermissionCollection(MethodView):
    @permissions.response(200, PermissionSchema(many=True))
    def get(self):
        """Every registered permission, with the plugin declaring it and whether you hold it."""
        from flask import current_app

        from fusion_core.context import current_actor

        actor = current_actor()
        registry = current_app.extensions["fusion"].registry
        return [
            {
                **vars(p),
                "plugin": registry.owners[("permissions", key)],
                "granted": p.granted(actor),
            }
            for key, p in sorted(registry.permissions.items())
        ]


@hookimpl
def register_api_blueprints():
    from fusion_core.audit.api import BLUEPRINTS as audit
    from fusion_core.catalog.api import BLUEPRINTS as catalog
    from fusion_core.hierarchy.api import BLUEPRINTS as hierarchy
    from fusion_core.iam.api import BLUEPRINTS as iam
    from fusion_core.numbering.api import BLUEPRINTS as numbers
    from fusion_core.numbering.self_service_api import BLUEPRINTS as self_service

    return [*iam, *hierarchy, *audit, platforms, permissions, *catalog, *numbers, *self_service]


@hookimpl
def register_event_types():
    return (
        [
            EventType(f"{entity}.{action}", f"{article} {entity} was {action}")
            for entity, article in (("organization", "An"), ("subscription", "A"))
            for action in ("created", "updated", "deleted")
        ]
        + [
            EventType("sku.created", "A SKU was added to the catalogue"),
            EventType("sku.updated", "A SKU was changed"),
            EventType("product.created", "A product was created"),
            EventType("product.updated", "A product was changed"),
            EventType("product.deleted", "A product was deleted"),
            EventType("order.completed", "An order was fulfilled: entitlements changed"),
            EventType("order.rejected", "An order was refused and changed nothing"),
        ]
        + numbering.event_types()
    )


@hookimpl
def register_permissions():
    from fusion_core.permissions import core_permissions

    return core_permissions()


@hookimpl
def register_sku_kinds():
    from fusion_core.registry import SkuKind

    return [
        SkuKind("fusion_user", "Fusion user", "One end user linked to a phone number."),
        SkuKind("sip_channel", "SIP channel", "One simultaneous SIP call."),
    ]


@hookimpl
def deletion_blockers(entity):
    from fusion_core.catalog.models import Entitlement
    from fusion_core.db import session
    from fusion_core.hierarchy.models import Subscription

    if not isinstance(entity, Subscription):
        return []
    ordered = session.scalar(
        select(func.coalesce(func.sum(Entitlement.ordered), 0)).where(
            Entitlement.subscription_id == entity.id
        )
    )
    if ordered:
        return [f"it has {ordered} ordered unit(s); downgrade them to zero by an order first"]
    return []


@hookimpl
def register_migrations():
    from pathlib import Path

    return [str(Path(__file__).parent / "migrations" / "versions")]


@hookimpl
def register_jobs():
    return [*numbering.jobs()]


@hookimpl
def register_schedules():
    return [*numbering.schedules()]


@hookimpl
def register_cli_commands():
    return [*numbering.cli_commands()]


@hookimpl
def global_search(actor, query, limit):
    from fusion_core.numbering.search import search_numbers

    return search_numbers(actor, query, limit)


@hookimpl
def tenant_cards(actor, tenant):
    from fusion_core.numbering.search import tenant_card

    return tenant_card(actor, tenant)


@hookimpl
def subscription_tabs(actor, subscription):
    from fusion_core.numbering.search import subscription_tab

    return subscription_tab(actor, subscription)
