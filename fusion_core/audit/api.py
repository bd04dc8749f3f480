"""/api/v1/audit: the audit log, scoped to your subtree."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import select

from fusion_core.api.errors import ErrorSchema
from fusion_core.api.lists import ListArgs, page_schema, paginate
from fusion_core.api.schemas import StrictSchema
from fusion_core.audit.models import AuditEntry
from fusion_core.db import session
from fusion_core.errors import NotFound
from fusion_core.hierarchy.models import Organization
from fusion_core.scope import in_scope, load, scoped, subtree

blp = Blueprint("audit", __name__, url_prefix="/audit", description="Audit log.")


class AuditEntrySchema(StrictSchema):
    id = fields.Integer()
    at = fields.DateTime()
    actor_id = fields.UUID(allow_none=True)
    actor = fields.String()
    via = fields.String(metadata={"description": "api, portal, cli, job or system"})
    request_id = fields.String(allow_none=True)
    organization_id = fields.UUID(allow_none=True)
    entity_type = fields.String()
    entity_id = fields.String()
    action = fields.String(metadata={"description": "create, update or delete"})
    changes = fields.Dict(metadata={"description": "{field: [before, after]}"})


class AuditListArgs(ListArgs):
    entity_type = fields.String()
    entity_id = fields.String()
    actor_id = fields.UUID()
    organization_id = fields.UUID(metadata={"description": "this organisation and below"})
    action = fields.String(validate=validate.OneOf(["create", "update", "delete"]))
    request_id = fields.String()
    since = fields.DateTime()
    until = fields.DateTime()


SORT = {"id": AuditEntry.id, "at": AuditEntry.at}


@blp.route("")
class AuditCollection(MethodView):
    @blp.arguments(AuditListArgs, location="query")
    @blp.response(200, page_schema(AuditEntrySchema))
    def get(self, args):
        """Changes in your subtree, newest first; filter by entity, actor, organisation, time."""
        stmt = scoped(select(AuditEntry), AuditEntry)
        for key in ("entity_type", "entity_id", "actor_id", "action", "request_id"):
            if key in args:
                stmt = stmt.where(getattr(AuditEntry, key) == args[key])
        if "organization_id" in args:
            org = load(Organization, args["organization_id"], field="organization_id")
            stmt = stmt.where(subtree(AuditEntry.org_path, org.org_path))
        if "since" in args:
            stmt = stmt.where(AuditEntry.at >= args["since"])
        if "until" in args:
            stmt = stmt.where(AuditEntry.at < args["until"])
        return paginate(
            stmt,
            args,
            sortable=SORT,
            default_sort="-id",
            search=[AuditEntry.actor, AuditEntry.entity_type],
            tiebreak=AuditEntry.id,
        )


@blp.route("/<int:id>")
class AuditItem(MethodView):
    @blp.response(200, AuditEntrySchema)
    @blp.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """One audit entry."""
        if id >= 2**63:  # beyond BIGINT: the database would fail, not answer
            raise NotFound(f"No audit entry with id {id}.", errors={"id": ["Not found."]})
        entry = session.get(AuditEntry, id)
        if entry is None or not in_scope(entry.org_path):
            raise NotFound(f"No audit entry with id {id}.", errors={"id": ["Not found."]})
        return entry


BLUEPRINTS = [blp]
