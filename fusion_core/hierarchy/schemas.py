from __future__ import annotations

from marshmallow import fields, validate

from fusion_core.api.lists import ListArgs
from fusion_core.api.schemas import BillingId, Name, StrictSchema
from fusion_core.hierarchy.models import KINDS, STATUSES, SUBSCRIPTION_STATUSES


class OrganizationSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    kind = fields.String(dump_only=True, validate=validate.OneOf(KINDS))
    name = Name(required=True)
    parent_id = fields.UUID(required=True)
    external_billing_id = BillingId()
    status = fields.String(validate=validate.OneOf(STATUSES))
    path = fields.Method(
        "ancestors", dump_only=True, metadata={"description": "ancestor ids, root first"}
    )
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    def ancestors(self, org) -> list[str]:
        # str(uuid.UUID(part)) for each part of the materialised path (lower-case hex, see
        # models.path_for), without building UUID objects: a list page dumps ~200 of them.
        return [
            f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
            for h in org.org_path.strip("/").split("/")
        ]


class OrganizationUpdateSchema(StrictSchema):
    name = Name()
    external_billing_id = BillingId()
    status = fields.String(validate=validate.OneOf(STATUSES))


class OrganizationListArgs(ListArgs):
    parent_id = fields.UUID(metadata={"description": "only direct children of this organisation"})
    within = fields.UUID(metadata={"description": "anywhere below this organisation"})
    status = fields.String(validate=validate.OneOf(STATUSES))
    external_billing_id = fields.String()


class SubscriptionSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    tenant_id = fields.UUID(dump_only=True)
    platform = fields.String(required=True, validate=validate.Length(min=1, max=50))
    name = Name(required=True)
    billing_id = BillingId()
    status = fields.String(validate=validate.OneOf(SUBSCRIPTION_STATUSES))
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class SubscriptionUpdateSchema(StrictSchema):
    name = Name()
    billing_id = BillingId()
    status = fields.String(validate=validate.OneOf(SUBSCRIPTION_STATUSES))


class SubscriptionListArgs(ListArgs):
    platform = fields.String()
    status = fields.String(validate=validate.OneOf(SUBSCRIPTION_STATUSES))
    tenant_id = fields.UUID()
