"""One mechanism records every change: a flush listener on every SQLAlchemy session.

After each flush it writes, in the same transaction, one audit row per inserted, updated or
deleted instance of an audited model (`Base.__audit__`), with the changed columns before
and after. Column info {"audit": "secret"} records that a value changed without its value;
{"audit": "skip"} marks bookkeeping (last use, counters). Bulk INSERT/UPDATE/DELETE through the
session (ORM or Core, on a model's table) would bypass the listener, so it is refused unless
the caller records the change with `record()`.
"""

from __future__ import annotations

import decimal
import enum
import functools
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Mapper, ORMExecuteState, Session

from fusion_core.audit.models import AuditEntry
from fusion_core.context import Actor, current_actor
from fusion_core.db import Base, utcnow

REDACTED = "[redacted]"
IGNORED_COLUMNS = {"version", "updated_at"}  # implied by the entry itself


_PLAIN = frozenset({str, int, bool, float, type(None)})


def _jsonable(value: Any) -> Any:
    if type(value) in _PLAIN:  # most values: nothing to convert (no isinstance chain)
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def entity_type(obj_or_cls: Any) -> str:
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    return cls.__tablename__


def _entry(
    obj: Any, action: str, changes: dict[str, Any], actor: Actor | None = None
) -> dict[str, Any]:
    actor = actor or current_actor()
    path = getattr(obj, "org_path", None)
    org_id = uuid.UUID(path.rstrip("/").rsplit("/", 1)[-1]) if path and path != "/" else None
    ident = _layout(type(obj))[1].primary_key_from_instance(obj)
    return {
        "at": utcnow(),
        "actor_id": actor.admin_id,
        "actor": actor.label,
        "via": actor.via,
        "request_id": actor.request_id,
        "organization_id": org_id,
        "org_path": path,
        "entity_type": entity_type(obj),
        "entity_id": ",".join(str(part) for part in ident),
        "action": action,
        "changes": changes,
    }


@functools.cache
def _layout(cls: type) -> tuple[tuple[tuple[str, bool], ...], Mapper]:
    """Per mapped class, worked out once (a bulk load flushes thousands of objects): the
    audited columns as (attribute key, is secret), and the mapper."""
    mapper = inspect(cls)
    columns = []
    for attr in mapper.column_attrs:
        flag = attr.columns[0].info.get("audit")
        if attr.key in IGNORED_COLUMNS or flag == "skip":
            continue
        columns.append((attr.key, flag == "secret"))
    return tuple(columns), mapper


def _columns(obj: Any) -> tuple[tuple[str, bool], ...]:
    return _layout(type(obj))[0]


def _snapshot(obj: Any, *, after: bool) -> dict[str, Any]:
    state = inspect(obj)
    changes = {}
    for key, secret in _columns(obj):
        value = state.dict.get(key)
        if value is None:
            continue
        shown = REDACTED if secret else _jsonable(value)
        changes[key] = [None, shown] if after else [shown, None]
    return changes


def _diff(obj: Any) -> dict[str, Any]:
    state = inspect(obj)
    changes = {}
    for key, secret in _columns(obj):
        history = state.attrs[key].history
        if not history.has_changes():
            continue
        before = history.deleted[0] if history.deleted else None
        after = history.added[0] if history.added else None
        if before == after:
            continue
        if secret:
            before, after = (REDACTED if before else None), (REDACTED if after else None)
        changes[key] = [_jsonable(before), _jsonable(after)]
    return changes


def audited(obj: Any) -> bool:
    return isinstance(obj, Base) and type(obj).__audit__


def _after_flush(session: Session, _context: Any) -> None:
    actor = current_actor()  # one flush, one actor
    rows = [
        _entry(obj, "create", _snapshot(obj, after=True), actor)
        for obj in session.new
        if audited(obj)
    ]
    for obj in session.dirty:
        if audited(obj) and (changes := _diff(obj)):
            rows.append(_entry(obj, "update", changes, actor))
    rows += [
        _entry(obj, "delete", _snapshot(obj, after=False), actor)
        for obj in session.deleted
        if audited(obj)
    ]
    if rows:
        session.connection().execute(insert(AuditEntry), rows)


def _mapped_class(table: Any) -> type | None:
    """The model class mapped to `table`, or None (plain tables such as counters)."""
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            return mapper.class_
    return None


def _refuse_unaudited_bulk(state: ORMExecuteState) -> None:
    """ORM bulk statements, and Core INSERT/UPDATE/DELETE on a model's table run through the
    session, bypass the flush listener: refused on audited models unless the caller records
    the change itself (`record()`) and says so with execution_options(fusion_audit='recorded').
    """
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    if state.execution_options.get("fusion_audit") == "recorded":
        return
    if state.bind_mapper is not None:
        cls = state.bind_mapper.class_
    else:
        cls = _mapped_class(getattr(state.statement, "table", None))
    if cls is None or not cls.__audit__:
        return
    kind = "INSERT" if state.is_insert else "UPDATE" if state.is_update else "DELETE"
    raise RuntimeError(
        f"Bulk {kind} on {entity_type(cls)} bypasses the audit: change loaded objects, or"
        " record the change with fusion_core.audit.recorder.record() and"
        " execution_options(fusion_audit='recorded')."
    )


def record(session: Session, obj: Any, action: str, changes: dict[str, Any]) -> None:
    """Record a change made by a conditional/bulk statement (e.g. an atomic ledger update)."""
    changes = {key: [_jsonable(b), _jsonable(a)] for key, (b, a) in changes.items()}
    session.connection().execute(insert(AuditEntry), [_entry(obj, action, changes)])


def install() -> None:
    """Attach the listeners to every Session (idempotent)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _refuse_unaudited_bulk)
