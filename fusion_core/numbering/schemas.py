from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate, validates

from fusion_core.api.lists import ListArgs
from fusion_core.api.schemas import StrictSchema
from fusion_core.numbering.lifecycle import allowed_actions
from fusion_core.numbering.models import IMPORT_STATUSES, NUMBER_TYPES, STATES
from fusion_core.numbering.validation import E164_RE

PATTERN_RE = re.compile(r"^\+[0-9?*]{1,15}$")
MAX_SEARCH = 200

Reason = fields.String(validate=validate.Length(max=500), metadata={"description": "why"})


def _inventory_id(value) -> str | None:
    from fusion_core.numbering.services import sees_inventory

    return str(value) if value is not None and sees_inventory() else None


class NumberSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    e164 = fields.String(dump_only=True)
    country = fields.String(dump_only=True)
    number_type = fields.String(dump_only=True)
    vanity_class = fields.String(allow_none=True, validate=validate.Length(max=50))
    area = fields.String(dump_only=True)
    state = fields.String(dump_only=True)
    owner_id = fields.UUID(
        dump_only=True, metadata={"description": "the organisation that owns it now"}
    )
    subscription_id = fields.UUID(dump_only=True)
    target_type = fields.String(dump_only=True)
    target_ref = fields.String(dump_only=True)
    reserved_for_id = fields.UUID(dump_only=True)
    reserved_until = fields.DateTime(dump_only=True)
    aging_until = fields.DateTime(dump_only=True)
    notes = fields.String(allow_none=True, validate=validate.Length(max=2000))
    range_id = fields.Function(
        lambda n: _inventory_id(n.range_id),
        dump_only=True,
        metadata={"description": "group administrators only (the group's range)"},
    )
    import_id = fields.Function(
        lambda n: _inventory_id(n.import_id),
        dump_only=True,
        metadata={"description": "group administrators only (the group's import)"},
    )
    actions = fields.Function(
        lambda n: allowed_actions(n.state),
        dump_only=True,
        metadata={"description": "lifecycle actions its state allows"},
    )
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class NumberUpdateSchema(StrictSchema):
    notes = fields.String(allow_none=True, validate=validate.Length(max=2000))
    vanity_class = fields.String(allow_none=True, validate=validate.Length(max=50))


class NumberSearchArgs(Schema):
    prefix = fields.String(metadata={"description": "E.164 prefix, e.g. +3225"})
    pattern = fields.String(
        metadata={"description": "E.164 with wildcards: ? one digit, * any digits (+32255?12*)"}
    )
    country = fields.String(validate=validate.Length(equal=2))
    type = fields.String(validate=validate.OneOf(NUMBER_TYPES))
    state = fields.String(validate=validate.OneOf(STATES))
    vanity_class = fields.String()
    tenant_id = fields.UUID(metadata={"description": "numbers owned by this tenant"})
    owner_id = fields.UUID(metadata={"description": "numbers owned by this organisation"})
    subscription_id = fields.UUID()
    target_type = fields.String()
    target_ref = fields.String()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_SEARCH))
    cursor = fields.String(metadata={"description": "next_cursor of the previous page"})

    @validates("prefix")
    def _prefix(self, value, **_kw):
        if not re.match(r"^\+[0-9]{0,15}$", value):
            raise ValidationError("A prefix is '+' followed by digits.")

    @validates("pattern")
    def _pattern(self, value, **_kw):
        if not PATTERN_RE.match(value):
            raise ValidationError("'+' then digits, '?' (one digit) and '*' (any digits).")

    @validates("cursor")
    def _cursor(self, value, **_kw):
        if not E164_RE.match(value):
            raise ValidationError("Use the next_cursor of the previous page.")


class NumberPageSchema(Schema):
    items = fields.List(fields.Nested(NumberSchema))
    limit = fields.Integer()
    next_cursor = fields.String(
        allow_none=True, metadata={"description": "pass as cursor for the next page; null at end"}
    )


class ActionSchema(StrictSchema):
    reason = Reason


class ReserveSchema(ActionSchema):
    tenant_id = fields.UUID(required=True)
    until = fields.AwareDateTime(metadata={"description": "default: the group's reservation days"})


class AllocateSchema(ActionSchema):
    subscription_id = fields.UUID(required=True)


class AssignSchema(ActionSchema):
    target_type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    target_ref = fields.String(required=True, validate=validate.Length(min=1, max=200))


class TransferSchema(StrictSchema):
    organization_id = fields.UUID(required=True, metadata={"description": "the receiving pool"})
    numbers = fields.List(fields.String(validate=validate.Regexp(E164_RE)))
    first = fields.String(validate=validate.Regexp(E164_RE))
    last = fields.String(validate=validate.Regexp(E164_RE))
    reason = Reason


class TransferResultSchema(Schema):
    moved = fields.Integer()
    organization_id = fields.UUID()


class HistorySchema(Schema):
    at = fields.DateTime()
    actor = fields.String()
    actor_id = fields.UUID(allow_none=True)
    via = fields.String()
    request_id = fields.String(allow_none=True)
    action = fields.String()
    from_state = fields.String(allow_none=True)
    to_state = fields.String()
    reason = fields.String(allow_none=True)
    details = fields.Dict()


class RangeSchema(Schema):
    id = fields.UUID()
    first = fields.String()
    last = fields.String()
    country = fields.String()
    number_type = fields.String()
    count = fields.Integer()
    vanity_class = fields.String(allow_none=True)
    area = fields.String(allow_none=True)
    notes = fields.String(allow_none=True)
    import_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()


class RangePublishedSchema(Schema):
    published = fields.Integer(metadata={"description": "numbers moved to available"})


class RangeListArgs(ListArgs):
    country = fields.String(validate=validate.Length(equal=2))
    type = fields.String(validate=validate.OneOf(NUMBER_TYPES))


class ImportRequestSchema(StrictSchema):
    rows = fields.List(fields.Dict(), metadata={"description": "objects like the CSV's rows"})
    csv = fields.String(
        metadata={
            "description": "CSV text; header from: number, first, last, type, "
            "vanity_class, area, notes"
        }
    )
    dry_run = fields.Boolean(load_default=False)
    publish = fields.Boolean(load_default=False, metadata={"description": "import as available"})
    group_id = fields.UUID(metadata={"description": "system actors only"})


class ReportSchema(Schema):
    row = fields.Integer()
    value = fields.Raw(allow_none=True)
    field = fields.String()
    reason = fields.String()


class DryRunSchema(Schema):
    dry_run = fields.Boolean()
    valid = fields.Boolean()
    numbers = fields.Integer()
    ranges = fields.Integer()
    preview = fields.List(fields.Dict())
    report = fields.List(fields.Nested(ReportSchema))
    problems = fields.Integer()


class ImportSchema(Schema):
    id = fields.UUID()
    status = fields.String(validate=validate.OneOf(IMPORT_STATUSES))
    source = fields.String()
    total = fields.Integer()
    processed = fields.Integer()
    created_numbers = fields.Integer()
    created_ranges = fields.Integer()
    publish = fields.Boolean()
    error = fields.String(allow_none=True)
    created_by = fields.String()
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    progress = fields.Function(
        lambda imp: round(imp.processed / imp.total, 4) if imp.total else 1.0,
        metadata={"description": "0..1"},
    )


class ImportListArgs(ListArgs):
    status = fields.String(validate=validate.OneOf(IMPORT_STATUSES))


class SettingsSchema(StrictSchema):
    aging_days = fields.Integer(validate=validate.Range(min=0, max=3650))
    reservation_days = fields.Integer(validate=validate.Range(min=1, max=365))
