"""Lists: page/per_page with the total, `q` search, `sort` (`name`, `-created_at`), filters."""

from __future__ import annotations

import datetime
import functools
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, missing, pre_load, validate
from sqlalchemy import Select, func, or_, select

from fusion_core.db import session
from fusion_core.errors import ValidationFailed

MAX_PER_PAGE = 200


class ListArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    q = fields.String(metadata={"description": "case-insensitive search"})
    sort = fields.String(metadata={"description": "field name, '-' prefix for descending"})

    @pre_load
    def refuse_unknown_arguments(self, data, **_kwargs):
        """A misspelt filter must not silently list everything: name it. (webargs drops
        unknown query arguments before the schema sees them as unknown, so check here.)"""
        known = {f.data_key or name for name, f in self.load_fields.items()}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError({key: ["Unknown field."] for key in unknown})
        return data


def item_dumper(schema: Schema) -> Callable[[Any], dict[str, Any]]:
    """`schema.dump` for one object, without marshmallow's per-field lookup machinery.

    A list page dumps 50 objects of about ten fields each; marshmallow spends most of that time
    finding each value (field.serialize -> get_value -> schema.get_attribute -> utils.get_value)
    rather than formatting it. Here each plain field reads its attribute with getattr and is
    formatted by the field's own `_serialize`, so the output is the same; whatever is not plain
    (dump hooks, a custom get_attribute, dotted attributes, overridden serialize/get_value,
    Method/Function fields, mappings as items, a missing attribute) goes through marshmallow.

    Fields whose `_serialize` is marshmallow's own String, UUID, ISO DateTime or Integer format
    a value of exactly the type they expect inline (what their `_serialize` returns for it: the
    str itself, str(uuid), datetime.isoformat(), the int itself; None stays None); any other
    value still goes through the field's `_serialize`."""
    if (
        schema._hooks["pre_dump"]
        or schema._hooks["post_dump"]
        or type(schema).get_attribute is not Schema.get_attribute
    ):
        return schema.dump
    plan = []
    for name, field in schema.dump_fields.items():
        attr = name if field.attribute is None else field.attribute
        plain = (
            field._CHECK_ATTRIBUTE
            and "." not in attr
            and type(field).serialize is fields.Field.serialize
            and type(field).get_value is fields.Field.get_value
        )
        key = field.data_key if field.data_key is not None else name
        plan.append((key, name, attr, field, plain, _fast_type(field) if plain else None))
    accessor = schema.get_attribute

    def dump(obj: Any) -> dict[str, Any]:
        if isinstance(obj, Mapping):
            return schema.dump(obj)
        out = {}
        for key, name, attr, field, plain, fast in plan:
            value = getattr(obj, attr, missing) if plain else missing
            if value is missing:
                value = field.serialize(name, obj, accessor=accessor)
                if value is missing:
                    continue
            elif value is None:
                if fast is None:
                    value = field._serialize(value, name, obj)
            elif fast is None or type(value) is not fast:
                value = field._serialize(value, name, obj)
            elif fast is uuid.UUID:
                value = str(value)
            elif fast is datetime.datetime:
                value = value.isoformat()
            out[key] = value
        return out

    return dump


def _fast_type(field: fields.Field) -> type | None:
    """The value type `item_dumper` formats inline for this field, if any (see there)."""
    serialize = type(field)._serialize
    if serialize is fields.String._serialize:
        return str
    if serialize is fields.UUID._serialize:
        return uuid.UUID
    if (
        serialize is fields.DateTime._serialize
        and field.SERIALIZATION_FUNCS.get(field.format or field.DEFAULT_FORMAT)
        is datetime.datetime.isoformat
    ):
        return datetime.datetime
    if (
        serialize is fields.Number._serialize
        and type(field)._format_num is fields.Number._format_num
        and field.num_type is int
        and not field.as_string
    ):
        return int
    return None


class PageItems(fields.List):
    """`items` of a list envelope: documented as a list of the item schema, dumped with
    `item_dumper` (the same output as the nested schema's dump, in a fraction of the time)."""

    def __init__(self, item_schema: type[Schema], **kwargs: Any) -> None:
        super().__init__(fields.Nested(item_schema), **kwargs)
        self._dump: Callable[[Any], dict[str, Any]] | None = None

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if self._dump is None:
            self._dump = item_dumper(self.inner.schema)
        return [self._dump(item) for item in value]


@functools.cache
def page_schema(item_schema: type[Schema]) -> type[Schema]:
    """A list envelope: {items, total, page, per_page, pages}."""
    return type(
        f"{item_schema.__name__.removesuffix('Schema')}PageSchema",
        (Schema,),
        {
            "items": PageItems(item_schema),
            "total": fields.Integer(),
            "page": fields.Integer(),
            "per_page": fields.Integer(),
            "pages": fields.Integer(),
        },
    )


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere (lower-cased): `%` and `_` in a
    search are characters to find, not wildcards. Use with `.like(pattern, escape="\\")`."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def paginate(
    stmt: Select,
    args: dict[str, Any],
    *,
    sortable: dict[str, Any],
    default_sort: str,
    search: list[Any] = (),
    tiebreak: Any,
) -> dict[str, Any]:
    """Run a list query; `tiebreak` (the id column) makes the order total so pages never overlap."""
    if args.get("q") and search:
        like = contains_pattern(args["q"])
        stmt = stmt.where(or_(*[func.lower(column).like(like, escape="\\") for column in search]))
    sort = args.get("sort") or default_sort
    key = sort.lstrip("-")
    if key not in sortable:
        raise ValidationFailed(
            "Unknown sort field.",
            errors={"sort": [f"Sort by one of: {', '.join(sorted(sortable))}."]},
            location="query",
        )
    column = sortable[key]
    order = column.desc() if sort.startswith("-") else column.asc()
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    page, per_page = args["page"], args["per_page"]
    stmt = stmt.order_by(order, tiebreak)
    items = session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return {
        "items": items,
        "total": total,
        "page": page,
        "per_page": per_page,
        "pages": (total + per_page - 1) // per_page,
    }
