"""Lists: page/per_page with the total, `q` search, `sort` (`name`, `-created_at`), filters."""

from __future__ import annotations

import functools
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate
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


@functools.cache
def page_schema(item_schema: type[Schema]) -> type[Schema]:
    """A list envelope: {items, total, page, per_page, pages}."""
    return type(
        f"{item_schema.__name__.removesuffix('Schema')}PageSchema",
        (Schema,),
        {
            "items": fields.List(fields.Nested(item_schema)),
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
