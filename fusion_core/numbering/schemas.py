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


class PortStepsField(fields.Dict):
    """{"BE": ["step", ...]}: country codes to lists of step names."""

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        clean = {}
        for country, steps in result.items():
            if not (isinstance(country, str) and re.match(r"^[A-Za-z]{2}$", country)):
                raise ValidationError(f"{country!r}: a two-letter country code.")
            if not isinstance(steps, list) or not all(
                isinstance(s, str) and 0 < len(s) <= 100 for s in steps
            ):
                raise ValidationError(f"{country}: a list of step names (1-100 characters).")
            if len(set(steps)) != len(steps):
                raise ValidationError(f"{country}: each step once.")
            clean[country.upper()] = steps
        return clean


class SettingsSchema(StrictSchema):
    aging_days = fields.Integer(validate=validate.Range(min=0, max=3650))
    reservation_days = fields.Integer(validate=validate.Range(min=1, max=365))
    port_steps = PortStepsField(
        metadata={"description": 'port-in steps per country: {"BE": ["letter of authorisation"]}'}
    )


# --- number requests --------------------------------------------------------------------------


class NumberRequestCreateSchema(StrictSchema):
    subscription_id = fields.UUID(required=True)
    country = fields.String(validate=validate.Length(equal=2))
    type = fields.String(validate=validate.OneOf(NUMBER_TYPES))
    area = fields.String(
        validate=validate.Regexp(r"^[0-9]{1,10}$"),
        metadata={"description": "area code (national destination code), when the plan has one"},
    )
    quantity = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100))
    number = fields.String(
        validate=validate.Regexp(E164_RE, error="Not in E.164 form."),
        metadata={"description": "one specific (vanity) number instead of a quantity"},
    )
    note = fields.String(validate=validate.Length(max=1000))


class NumberRequestSchema(Schema):
    id = fields.UUID()
    subscription_id = fields.UUID()
    tenant_id = fields.UUID()
    country = fields.String()
    number_type = fields.String()
    area = fields.String(allow_none=True)
    vanity_number = fields.String(allow_none=True)
    quantity = fields.Integer()
    state = fields.String()
    numbers = fields.List(fields.String(), metadata={"description": "the reserved numbers"})
    expires_at = fields.DateTime()
    note = fields.String(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    requested_by = fields.String()
    decided_by = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    version = fields.Integer()


class NumberRequestListArgs(ListArgs):
    state = fields.String(validate=validate.OneOf(("pending", "approved", "rejected", "cancelled",
                                                   "expired")))  # fmt: skip
    subscription_id = fields.UUID()


class RejectSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


# --- port-ins ---------------------------------------------------------------------------------


class RangeEndsSchema(StrictSchema):
    first = fields.String(required=True)
    last = fields.String(required=True)


class PortInCreateSchema(StrictSchema):
    subscription_id = fields.UUID(required=True)
    numbers = fields.List(fields.String(), metadata={"description": "E.164 numbers"})
    ranges = fields.List(fields.Nested(RangeEndsSchema))
    current_carrier = fields.String(required=True, validate=validate.Length(min=1, max=200))
    account_reference = fields.String(required=True, validate=validate.Length(min=1, max=200))
    requested_date = fields.Date(required=True)
    submit = fields.Boolean(load_default=False, metadata={"description": "submit at once"})


class PortDocumentSchema(Schema):
    id = fields.UUID()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    uploaded_by = fields.String()
    created_at = fields.DateTime()


class PortInSchema(Schema):
    id = fields.UUID()
    subscription_id = fields.UUID()
    tenant_id = fields.UUID()
    country = fields.String()
    number_type = fields.String()
    numbers = fields.List(fields.String())
    ranges = fields.List(fields.Dict())
    count = fields.Integer()
    current_carrier = fields.String()
    account_reference = fields.String()
    requested_date = fields.Date()
    scheduled_for = fields.Date(allow_none=True)
    state = fields.String()
    steps = fields.Function(
        lambda p: [{"name": s, "done": s in p.steps_done} for s in p.steps],
        metadata={"description": "the country's steps and whether each is done"},
    )
    comments = fields.List(fields.Dict())
    reason = fields.String(allow_none=True)
    requested_by = fields.String()
    actions = fields.Function(lambda p: _port_actions(p.state))
    created_at = fields.DateTime()
    version = fields.Integer()


def _port_actions(state):
    from fusion_core.numbering.ports import port_actions

    return port_actions(state)


class PortInListArgs(ListArgs):
    state = fields.String(validate=validate.OneOf(("draft", "submitted", "pending", "scheduled",
                                                   "completed", "rejected", "cancelled")))  # fmt: skip
    subscription_id = fields.UUID()


class PortActionSchema(StrictSchema):
    reason = Reason
    date = fields.Date(metadata={"description": "schedule: the porting date"})


class CommentSchema(StrictSchema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class StepSchema(StrictSchema):
    step = fields.String(required=True)
    done = fields.Boolean(load_default=True)


class DocumentUploadSchema(StrictSchema):
    filename = fields.String(required=True, validate=validate.Length(min=1, max=200))
    content_type = fields.String(validate=validate.Length(max=100))
    content_base64 = fields.String(required=True)


# --- report -----------------------------------------------------------------------------------


class NumberReportArgs(StrictSchema):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv", "xlsx")))
    group_by = fields.String(
        load_default="tenant",
        validate=validate.OneOf(("tenant", "reseller", "distributor", "group")),
    )
