"""Database: declarative base, typed columns shared by the models, engine and session per app.

`session` is a proxy to the current app's scoped session, so services write
`from fusion_core.db import session` and work the same in a request, a CLI command
or a job. Each app owns its engine (tests build several apps side by side).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app
from flask.globals import app_ctx
from sqlalchemy import JSON, DateTime, MetaData, String, TypeDecorator, Uuid, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    declared_attr,
    mapped_column,
    scoped_session,
    sessionmaker,
)
from werkzeug.local import LocalProxy

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every engine (SQLite stores them naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime: use timezone-aware UTC values (db.utcnow())")
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


# Materialised organisation paths are compared byte-wise: "C" collation on PostgreSQL,
# SQLite compares bytes already. See fusion_core.hierarchy.models.subtree().
PathString = String(400).with_variant(String(400, collation="C"), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        uuid.UUID: Uuid(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }

    # Each audited model says which organisation it belongs to; see fusion_core.audit.
    __audit__ = True


class IdMixin:
    """UUID primary key assigned on construction, so audit and events know it before flush."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("id", uuid.uuid4())
        super().__init__(**kwargs)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VersionMixin:
    """Optimistic locking: the version is the ETag, and a stale UPDATE fails in the database."""

    version: Mapped[int] = mapped_column(default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _app_context_id() -> int:
    return id(app_ctx._get_current_object())


# A pooled connection that sat unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 10.0
_CHECKED_IN = "fusion_checked_in"


def _ping_if_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling for connections that have been idle, not for every use.

    SQLAlchemy's pool_pre_ping costs one round trip per checkout, i.e. per request: about 0.3 ms
    of a worker's CPU (and wall time) on a ~2.5 ms API GET, plus the database's own work. The
    connections that are likely to be dead are the ones that sat in the pool (database restart,
    a firewall's idle timeout): those are pinged, with the dialect's own ping, and a dead one is
    replaced (raising DisconnectionError in the checkout event makes the pool connect again, up
    to three times). A connection reused within PING_AFTER_IDLE_SECONDS is not pinged; if the
    database restarted in that window, that request fails once, SQLAlchemy sees the disconnect
    and invalidates the whole pool, and the next requests get fresh connections - the same as
    the requests that were running during the restart."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection, record) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, _proxy) -> None:
        since = record.info.pop(_CHECKED_IN, None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return  # a new connection, or one in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"idle pooled connection is dead: {exc}") from exc


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False})
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    elif not kwargs.get("pool_pre_ping"):
        _ping_if_idle(engine)
    return engine


class Database:
    """The app's engine and scoped session, kept in app.extensions["fusion.db"]."""

    def __init__(self, app: Flask, engine: Engine | None = None) -> None:
        self.engine = engine or make_engine(app.config["FUSION"]["DATABASE_URL"])
        self.factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        # One session per app context (not per thread): a job run eagerly after a request's
        # commit pushes its own app context and so gets its own session and transaction.
        self.session = scoped_session(self.factory, scopefunc=_app_context_id)
        app.extensions["fusion.db"] = self
        app.teardown_appcontext(self._remove)

    def _remove(self, exc: BaseException | None) -> None:
        """End the context's session. A transaction that only read is committed rather than
        rolled back: the outcome is the same, but psycopg forgets every prepared statement on
        ROLLBACK, so PostgreSQL would parse and plan the token and scope queries of every API
        request again. Anything that wrote, or waits for a commit (jobs, events), or ended in
        an exception, is rolled back as before."""
        if exc is None and self.session.registry.has():
            current = self.session()
            if current.in_transaction() and _read_only(current):
                try:
                    current.commit()
                except Exception:
                    current.rollback()
        self.session.remove()


_WROTE = "fusion.wrote"
_AWAITING_COMMIT = ("fusion.jobs", "fusion.events")  # jobs.PENDING_KEY, events.PENDING_KEY


def _read_only(session: Session) -> bool:
    if session.new or session.dirty or session.deleted:
        return False
    if any(session.info.get(key) for key in _AWAITING_COMMIT):
        return False
    return not session.connection().info.get(_WROTE)


@event.listens_for(Engine, "before_cursor_execute")
def _note_writes(conn, _cursor, statement: str, *_args: Any) -> None:
    """Every statement but a SELECT marks the connection's transaction as having written."""
    if not statement.lstrip()[:6].upper().startswith("SELECT"):
        conn.info[_WROTE] = True


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _transaction_settled(conn) -> None:
    # An invalidated connection (the database went away) has no info left to clear, and
    # reading it would try to reconnect inside the failed transaction.
    if not conn.invalidated:
        conn.info.pop(_WROTE, None)


def get_db() -> Database:
    return current_app.extensions["fusion.db"]


session: Session = LocalProxy(lambda: get_db().session)  # type: ignore[assignment]
