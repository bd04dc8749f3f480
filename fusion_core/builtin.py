"""The core's own features, registered through the same hooks as any plugin."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields

from fusion_core.api.schemas import StrictSchema
from fusion_core.events import EventType
from fusion_core.hookspecs import hookimpl

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


@hookimpl
def register_api_blueprints():
    from fusion_core.audit.api import BLUEPRINTS as audit
    from fusion_core.hierarchy.api import BLUEPRINTS as hierarchy
    from fusion_core.iam.api import BLUEPRINTS as iam

    return [*iam, *hierarchy, *audit, platforms]


@hookimpl
def register_event_types():
    return [
        EventType(f"{entity}.{action}", f"{article} {entity} was {action}")
        for entity, article in (("organization", "An"), ("subscription", "A"))
        for action in ("created", "updated", "deleted")
    ]


@hookimpl
def register_migrations():
    from pathlib import Path

    return [str(Path(__file__).parent / "migrations" / "versions")]
