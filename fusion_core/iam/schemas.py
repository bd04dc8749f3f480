from __future__ import annotations

from marshmallow import fields, validate

from fusion_core.api.lists import ListArgs
from fusion_core.api.schemas import Name, StrictSchema
from fusion_core.iam.models import ROLES


class TokenRequestSchema(StrictSchema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1000))
    name = fields.String(load_default="api", validate=validate.Length(min=1, max=100))
    expires_in_days = fields.Integer(
        allow_none=True, validate=validate.Range(min=1, max=3650), load_default=None
    )


class TokenSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    admin_id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    prefix = fields.String(
        dump_only=True, metadata={"description": "first characters, to recognise it"}
    )
    created_at = fields.DateTime(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)
    revoked_at = fields.DateTime(dump_only=True)
    last_used_at = fields.DateTime(dump_only=True)


class NewTokenSchema(TokenSchema):
    token = fields.String(dump_only=True, metadata={"description": "the secret; shown only now"})


class AdminSchema(StrictSchema):
    id = fields.UUID(dump_only=True)
    organization_id = fields.UUID(required=True)
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    name = Name(required=True)
    role = fields.String(load_default="admin", validate=validate.OneOf(ROLES))
    active = fields.Boolean(dump_only=True)
    password = fields.String(
        load_only=True,
        validate=validate.Length(max=1000),
        metadata={"description": "at least 10 characters; omit to invite without a password"},
    )
    last_login_at = fields.DateTime(dump_only=True)
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class AdminUpdateSchema(StrictSchema):
    email = fields.String(validate=validate.Length(min=3, max=254))
    name = Name()
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean()
    password = fields.String(load_only=True, validate=validate.Length(max=1000))


class AdminListArgs(ListArgs):
    organization_id = fields.UUID(metadata={"description": "members of this organisation only"})
    role = fields.String(validate=validate.OneOf(ROLES))


class MeSchema(StrictSchema):
    admin = fields.Nested(AdminSchema)
    organization_kind = fields.String()
    organization_name = fields.String()
