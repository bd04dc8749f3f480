"""/api/v1/numbers, /number-ranges, /number-imports, /number-settings."""

from __future__ import annotations

from flask import jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from fusion_core.api.errors import ErrorSchema
from fusion_core.api.http import check_if_match, with_etag
from fusion_core.api.lists import page_schema, paginate
from fusion_core.context import current_actor
from fusion_core.db import session
from fusion_core.errors import Forbidden
from fusion_core.numbering import services, uploads
from fusion_core.numbering.models import NumberImport, NumberRange
from fusion_core.numbering.schemas import (
    ActionSchema,
    AllocateSchema,
    AssignSchema,
    DryRunSchema,
    HistorySchema,
    ImportListArgs,
    ImportRequestSchema,
    ImportSchema,
    NumberPageSchema,
    NumberSchema,
    NumberSearchArgs,
    NumberUpdateSchema,
    RangeListArgs,
    RangePublishedSchema,
    RangeSchema,
    ReserveSchema,
    SettingsSchema,
    TransferResultSchema,
    TransferSchema,
)
from fusion_core.scope import load, scoped

numbers = Blueprint(
    "numbers", __name__, url_prefix="/numbers", description="Telephone numbers and their lifecycle."
)


@numbers.route("")
class NumberCollection(MethodView):
    @numbers.arguments(NumberSearchArgs, location="query")
    @numbers.response(200, NumberPageSchema)
    def get(self, args):
        """Search numbers in your scope (prefix, pattern, filters); keyset pages by E.164."""
        return services.search(session, args)


@numbers.route("/transfer")
class NumberTransfer(MethodView):
    @numbers.arguments(TransferSchema)
    @numbers.response(200, TransferResultSchema)
    @numbers.alt_response(409, schema=ErrorSchema)
    def post(self, data):
        """Move unallocated numbers (a list, or first..last) into a pool below you."""
        moved = services.transfer(session, **data)
        return {"moved": len(moved), "organization_id": data["organization_id"]}


@numbers.route("/<id:id>")
class NumberItem(MethodView):
    @numbers.response(200, NumberSchema)
    @numbers.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """One number, by id or E.164 (+3225551234); the ETag carries its version."""
        return with_etag(services.get_number(session, id))

    @numbers.arguments(NumberUpdateSchema)
    @numbers.response(200, NumberSchema)
    @numbers.alt_response(412, schema=ErrorSchema)
    def patch(self, data, id):
        """Change notes or (group admins) the vanity class; send If-Match."""
        number = services.get_number(session, id)
        check_if_match(number)
        return with_etag(services.update_number(session, number, data))


@numbers.route("/<id:id>/history")
class NumberHistoryView(MethodView):
    @numbers.response(200, HistorySchema(many=True))
    def get(self, id):
        """Who moved the number from which state to which, when and why; oldest first."""
        return services.history(session, services.get_number(session, id))


ACTIONS = {
    "publish": (ActionSchema, services.publish, "Offer an imported number (group admins)."),
    "unpublish": (ActionSchema, services.unpublish, "Withdraw an offered number (group)."),
    "reserve": (ReserveSchema, services.reserve, "Hold an available number for a tenant."),
    "unreserve": (ActionSchema, services.unreserve, "Cancel a reservation."),
    "allocate": (
        AllocateSchema,
        services.allocate,
        "Give the number to a tenant subscription (consumes a number entitlement).",
    ),
    "release": (ActionSchema, services.release, "Give it back: quarantine, then available."),
    "assign": (AssignSchema, services.assign, "Put an allocated number on a plugin's target."),
    "unassign": (ActionSchema, services.unassign, "Take the number off its target."),
    "retire": (ActionSchema, services.retire, "Take the number out of service (group)."),
    "recycle": (ActionSchema, services.recycle, "End a quarantine early (group)."),
}


def _action_view(name: str, schema, func, doc: str):
    class ActionView(MethodView):
        @numbers.arguments(schema)
        @numbers.response(200, NumberSchema)
        @numbers.alt_response(409, schema=ErrorSchema, description="illegal in the current state")
        def post(self, data, id):
            number = services.get_number(session, id, lock=True)
            return with_etag(func(session, number, **data))

    ActionView.post.__doc__ = doc + " Refused with 409 naming the current state when illegal."
    ActionView.__name__ = f"Number{name.title()}"
    numbers.route(f"/<id:id>/{name}", endpoint=f"number_{name}")(ActionView)


for _name, (_schema, _func, _doc) in ACTIONS.items():
    _action_view(_name, _schema, _func, _doc)


ranges = Blueprint(
    "number_ranges", __name__, url_prefix="/number-ranges", description="Imported number ranges."
)


@ranges.route("")
class RangeCollection(MethodView):
    @ranges.arguments(RangeListArgs, location="query")
    @ranges.response(200, page_schema(RangeSchema))
    def get(self, args):
        """Ranges of your group's inventory."""
        stmt = scoped(select(NumberRange), NumberRange)
        if "country" in args:
            stmt = stmt.where(NumberRange.country == args["country"].upper())
        if "type" in args:
            stmt = stmt.where(NumberRange.number_type == args["type"])
        return paginate(
            stmt,
            args,
            sortable={"first": NumberRange.first, "created_at": NumberRange.created_at},
            default_sort="first",
            search=[NumberRange.first, NumberRange.notes],
            tiebreak=NumberRange.id,
        )


@ranges.route("/<id:id>")
class RangeItem(MethodView):
    @ranges.response(200, RangeSchema)
    @ranges.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """One range."""
        return load(NumberRange, id)


@ranges.route("/<id:id>/publish")
class RangePublish(MethodView):
    @ranges.arguments(ActionSchema)
    @ranges.response(200, RangePublishedSchema)
    @ranges.alt_response(403, schema=ErrorSchema)
    def post(self, data, id):
        """Publish every still-imported number of the range at once (group admins)."""
        block = load(NumberRange, id)
        return {"published": services.publish_range(session, block, **data)}


imports = Blueprint(
    "number_imports",
    __name__,
    url_prefix="/number-imports",
    description="Inventory imports (group admins): numbers, ranges, CSV; dry run; progress.",
)


@imports.before_request
def _import_body_limit() -> None:
    """An import's body may be as large as FUSION_MAX_IMPORT_BYTES, not FUSION_MAX_BODY_BYTES."""
    if request.method == "POST":
        uploads.allow_import_body("_body")


@imports.route("")
class ImportCollection(MethodView):
    @imports.arguments(ImportRequestSchema)
    @imports.response(201, ImportSchema)
    @imports.alt_response(200, schema=DryRunSchema, description="dry run: what would be created")
    @imports.alt_response(202, schema=ImportSchema, description="large: running as a job")
    @imports.alt_response(422, schema=ErrorSchema, description="per-row report in `report`")
    def post(self, data):
        """Import `rows` or a `csv` text: all or nothing, with a per-row report when anything
        is wrong. `dry_run` answers what would be created and writes nothing; imports of more
        than 10,000 numbers run as a job (poll the import for its progress)."""
        result = services.import_numbers(
            session,
            rows=data.get("rows"),
            csv_text=data.get("csv"),
            publish=data["publish"],
            dry_run=data["dry_run"],
            group_id=data.get("group_id"),
        )
        if isinstance(result, dict):
            return jsonify(DryRunSchema().dump(result))  # not an import: its own schema
        return result, 201 if result.status == "completed" else 202

    @imports.arguments(ImportListArgs, location="query")
    @imports.response(200, page_schema(ImportSchema))
    def get(self, args):
        """Imports of your group, newest first."""
        stmt = scoped(select(NumberImport), NumberImport)
        if "status" in args:
            stmt = stmt.where(NumberImport.status == args["status"])
        return paginate(
            stmt,
            args,
            sortable={"created_at": NumberImport.created_at},
            default_sort="-created_at",
            tiebreak=NumberImport.id,
        )


@imports.route("/<id:id>")
class ImportItem(MethodView):
    @imports.response(200, ImportSchema)
    @imports.alt_response(404, schema=ErrorSchema)
    def get(self, id):
        """One import: status, progress, outcome."""
        return load(NumberImport, id)


settings = Blueprint(
    "number_settings",
    __name__,
    url_prefix="/number-settings",
    description="Your group's numbering policy.",
)


@settings.route("")
class SettingsView(MethodView):
    @settings.response(200, SettingsSchema)
    def get(self):
        """Quarantine (aging) and reservation days of your group."""
        actor = current_actor()
        if not actor.is_group:
            raise Forbidden("Numbering settings belong to group administrators.")
        return services.settings_for(session, actor.org_path)

    @settings.arguments(SettingsSchema)
    @settings.response(200, SettingsSchema)
    def patch(self, data):
        """Change them (group admins)."""
        return services.update_settings(session, data)


BLUEPRINTS = [numbers, ranges, imports, settings]
