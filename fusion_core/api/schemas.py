"""Schema building blocks shared by every resource."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate


def not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("Must not be blank.")


def Name(**kwargs):
    return fields.String(validate=[validate.Length(min=1, max=200), not_blank], **kwargs)


def BillingId(**kwargs):
    return fields.String(validate=validate.Length(max=100), allow_none=True, **kwargs)


class StrictSchema(Schema):
    """Unknown fields are refused (marshmallow's RAISE), and named in the error."""

    class Meta:
        ordered = True
