from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from fusion_core.api.lists import ListArgs
from fusion_core.api.schemas import BillingId, Name, StrictSchema
from fusion_core.catalog.models import (
    MARKUP_TIERS,
    NUMBER_TYPES,
    ORDER_STATES,
    ORDER_TYPES,
    SKU_KINDS,
)


class SkuSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    kind = fields.String(required=True, validate=validate.OneOf(SKU_KINDS))
    name = Name(required=True)
    external_reference = fields.String(required=True, validate=validate.Length(min=1, max=100))
    license_type = fields.String(
        allow_none=True, metadata={"description": "license SKUs: a registered SKU kind"}
    )
    country = fields.String(
        allow_none=True, metadata={"description": "number SKUs: ISO 3166-1 alpha-2"}
    )
    number_type = fields.String(
        allow_none=True, metadata={"description": f"number SKUs: {', '.join(NUMBER_TYPES)}"}
    )
    vanity_class = fields.String(allow_none=True, metadata={"description": "number SKUs"})
    code = fields.String(allow_none=True, metadata={"description": "customer licences: the code"})
    key = fields.String(
        dump_only=True, metadata={"description": "what consumers ask for, e.g. number:BE:mobile"}
    )
    active = fields.Boolean(load_default=True)
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class SkuUpdateSchema(StrictSchema):
    name = Name()
    external_reference = fields.String(validate=validate.Length(min=1, max=100))
    active = fields.Boolean()


class SkuListArgs(ListArgs):
    kind = fields.String(validate=validate.OneOf(SKU_KINDS))
    active = fields.Boolean()
    key = fields.String()


class ProductLineSchema(StrictSchema):
    sku_id = fields.UUID(required=True)
    quantity = fields.Integer(required=True, validate=validate.Range(min=1, max=1_000_000))
    sku_name = fields.Function(lambda line: line.sku.name, dump_only=True)
    sku_key = fields.Function(lambda line: line.sku.key, dump_only=True)


class MarkupSchema(StrictSchema):
    tier = fields.String(required=True, validate=validate.OneOf(MARKUP_TIERS))
    percent = fields.Decimal(
        required=True, places=2, as_string=True, validate=validate.Range(min=0, max=1000)
    )
    starts_on = fields.Date(required=True)


def Price():
    return fields.Decimal(
        places=4, as_string=True, allow_none=True, validate=validate.Range(min=0, max=10**8)
    )


class ProductSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    name = Name(required=True)
    description = fields.String(allow_none=True, validate=validate.Length(max=5000))
    active = fields.Boolean(load_default=True)
    lines = fields.List(
        fields.Nested(ProductLineSchema), required=True, validate=validate.Length(min=1, max=100)
    )
    setup_price = Price()
    monthly_price = Price()
    currency = fields.String(
        allow_none=True,
        validate=validate.Regexp(r"^[A-Z]{3}$", error="An ISO 4217 code, e.g. EUR."),
    )
    markups = fields.List(fields.Nested(MarkupSchema), allow_none=True, load_only=True)
    markups_stored = fields.Raw(dump_only=True, data_key="markups", attribute="markups")
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class ProductUpdateSchema(StrictSchema):
    name = Name()
    description = fields.String(allow_none=True, validate=validate.Length(max=5000))
    active = fields.Boolean()
    lines = fields.List(fields.Nested(ProductLineSchema), validate=validate.Length(min=1, max=100))
    setup_price = Price()
    monthly_price = Price()
    currency = fields.String(
        allow_none=True,
        validate=validate.Regexp(r"^[A-Z]{3}$", error="An ISO 4217 code, e.g. EUR."),
    )
    markups = fields.List(fields.Nested(MarkupSchema), allow_none=True)


class ProductListArgs(ListArgs):
    active = fields.Boolean()


class OrderLineSchema(StrictSchema):
    product_id = fields.UUID(required=True)
    quantity = fields.Integer(
        required=True,
        validate=[
            validate.Range(min=-1_000_000, max=1_000_000),
            validate.NoneOf([0], error="Must not be 0."),
        ],
        metadata={"description": "negative in a change order removes units (downgrade)"},
    )
    product_name = fields.Function(lambda line: line.product.name, dump_only=True)


class NewTenantSchema(StrictSchema):
    parent_id = fields.UUID(required=True)
    name = Name(required=True)
    external_billing_id = BillingId()


class NewSubscriptionSchema(StrictSchema):
    platform = fields.String(required=True, validate=validate.Length(min=1, max=50))
    name = Name(required=True)
    billing_id = BillingId()


class OrderSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    type = fields.String(required=True, validate=validate.OneOf(ORDER_TYPES))
    state = fields.String(dump_only=True, validate=validate.OneOf(ORDER_STATES))
    reason = fields.String(dump_only=True)
    bss_reference = fields.String(allow_none=True, validate=validate.Length(max=100))
    tenant = fields.Nested(
        NewTenantSchema, load_only=True, metadata={"description": "new_tenant orders"}
    )
    subscription = fields.Nested(
        NewSubscriptionSchema,
        load_only=True,
        metadata={"description": "new_tenant and new_subscription orders"},
    )
    tenant_id = fields.UUID(metadata={"description": "new_subscription orders"})
    subscription_id = fields.UUID(metadata={"description": "change orders"})
    # At least one line: checked by the service after the subscription or tenant, so a
    # foreign id is refused as such whatever the lines.
    lines = fields.List(
        fields.Nested(OrderLineSchema), required=True, validate=validate.Length(max=100)
    )
    effect = fields.List(fields.Dict(), dump_only=True)
    idempotency_key = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    completed_at = fields.DateTime(dump_only=True)

    @validates_schema
    def _fits_type(self, data, **_kwargs):
        kind = data.get("type")
        needs = {
            "new_tenant": {"tenant", "subscription"},
            "new_subscription": {"tenant_id", "subscription"},
            "change": {"subscription_id"},
        }.get(kind)
        if needs is None:
            return
        errors = {f: [f"Required for a {kind} order."] for f in sorted(needs) if f not in data}
        others = {"tenant", "subscription", "tenant_id", "subscription_id"} - needs
        errors.update({f: [f"Not part of a {kind} order."] for f in sorted(others) if f in data})
        if errors:
            raise ValidationError(errors)


class OrderListArgs(ListArgs):
    format = fields.String(
        validate=validate.OneOf(("json", "csv", "xlsx")),
        metadata={"description": "export every matching order (not one page) in this format"},
    )
    type = fields.String(validate=validate.OneOf(ORDER_TYPES))
    state = fields.String(validate=validate.OneOf(ORDER_STATES))
    tenant_id = fields.UUID()
    subscription_id = fields.UUID()
    bss_reference = fields.String()


class OrderPostArgs(StrictSchema):
    dry_run = fields.Boolean(
        load_default=False,
        metadata={"description": "preview the per-SKU effect (200); nothing is written"},
    )


class HolderSchema(StrictSchema):
    holder_type = fields.String()
    holder_id = fields.String()
    quantity = fields.Integer()
    created_at = fields.DateTime()


class EntitlementSchema(StrictSchema):
    id = fields.UUID()
    sku_id = fields.UUID()
    sku_name = fields.Function(lambda e: e.sku.name)
    sku_key = fields.Function(lambda e: e.sku.key)
    sku_kind = fields.Function(lambda e: e.sku.kind)
    external_reference = fields.Function(lambda e: e.sku.external_reference)
    ordered = fields.Integer()
    consumed = fields.Integer()
    available = fields.Integer()
    holders = fields.List(fields.Nested(HolderSchema), metadata={"description": "with ?holders=1"})


class EntitlementArgs(StrictSchema):
    holders = fields.Boolean(load_default=False)


class LicenseReportArgs(StrictSchema):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv", "xlsx")))
    group_by = fields.String(
        load_default="tenant",
        validate=validate.OneOf(("tenant", "reseller", "distributor", "group")),
    )
    view = fields.String(
        load_default="licenses",
        validate=validate.OneOf(("licenses", "products")),
        metadata={
            "description": "licenses: ordered/consumed per SKU; products: products held, with "
            "list prices and the markup in effect (for the billing system)"
        },
    )
    as_of = fields.Date(metadata={"description": "products view: the date markups apply at"})
    tier = fields.String(
        validate=validate.OneOf(MARKUP_TIERS),
        metadata={
            "description": "products view: whose markup to show; distributors and resellers "
            "always see their own tier's"
        },
    )
