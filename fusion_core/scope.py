"""The one scoping mechanism: every list and load of an organisation-owned row goes through here.

Each scoped model carries `org_path`, the materialised path of the organisation that owns it
("/<group>/<distributor>/.../"). An administrator sees exactly the rows whose path starts
with their organisation's path. The comparison is a byte-wise range on an indexed column,
so it is one index scan on SQLite and PostgreSQL alike, whatever the depth.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import Select, and_, false
from sqlalchemy.orm import Mapped, mapped_column

from fusion_core.context import Actor, current_actor
from fusion_core.db import PathString, session
from fusion_core.errors import NotFound

PATH_END = "~"  # sorts after every character a path contains ("/", 0-9, a-f)

T = TypeVar("T")


class ScopedMixin:
    """Rows owned by an organisation; `org_path` is copied from the owner at creation."""

    org_path: Mapped[str] = mapped_column(PathString, index=True)

    @property
    def owner_id(self) -> uuid.UUID:
        return uuid.UUID(self.org_path.rstrip("/").rsplit("/", 1)[-1])


def subtree(column: Any, path: str):
    """SQL condition: `column` lies at or below `path`."""
    return and_(column >= path, column < path + PATH_END)


def in_scope(path: str | None, actor: Actor | None = None) -> bool:
    actor = actor or current_actor()
    if actor.unrestricted:
        return True
    return path is not None and actor.org_path is not None and path.startswith(actor.org_path)


def scoped(stmt: Select, model: type, actor: Actor | None = None) -> Select:
    """Restrict a SELECT on `model` to the actor's subtree (unrestricted actors see all)."""
    actor = actor or current_actor()
    if actor.unrestricted:
        return stmt
    if actor.org_path is None:
        return stmt.where(false())
    return stmt.where(subtree(model.org_path, actor.org_path))


def load(
    model: type[T],
    ident: Any,
    actor: Actor | None = None,
    *,
    what: str | None = None,
    field: str = "id",
) -> T:
    """Load one row by id, or raise NotFound when it is missing *or* out of scope.

    `field` names where the id came from (a query argument such as `within`) in the error."""
    what = what or getattr(model, "__label__", model.__name__.lower())
    if not isinstance(ident, uuid.UUID):
        raise NotFound(f"No {what} with id {ident!r}.", errors={field: ["Not a valid UUID."]})
    obj = session.get(model, ident)
    if obj is None or not in_scope(obj.org_path, actor):
        raise NotFound(f"No {what} with id {ident}.", errors={field: ["Not found."]})
    return obj
