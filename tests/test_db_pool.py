"""Pooled PostgreSQL connections: pinged after sitting idle (a dead one is replaced unseen), not
on every checkout (a round trip per request). See fusion_core.db._ping_if_idle."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, exc, text

from fusion_core import db
from fusion_core.testing import need_service


@pytest.fixture
def pg():
    url = need_service("PostgreSQL", "FUSION_TEST_DATABASE_URL")
    engine = db.make_engine(url, pool_size=1, max_overflow=0)
    killer = create_engine(url, isolation_level="AUTOCOMMIT")
    yield engine, killer
    engine.dispose()
    killer.dispose()


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT pg_backend_pid()"))


def kill(killer, pid: int) -> None:
    with killer.connect() as conn:
        assert conn.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": pid}) is True


def test_a_dead_connection_that_sat_idle_is_replaced_before_use(pg, monkeypatch):
    engine, killer = pg
    first = backend_pid(engine)
    kill(killer, first)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # it has been idle "long enough"
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT 1")) == 1  # no error: the ping found it dead
        assert conn.scalar(text("SELECT pg_backend_pid()")) != first


def test_a_connection_reused_at_once_is_not_pinged(pg, monkeypatch):
    """The trade-off, stated: a connection killed a moment after its last use fails the next
    statement once (the pool is then invalidated), where pool_pre_ping would have hidden it."""
    engine, killer = pg
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    first = backend_pid(engine)
    kill(killer, first)
    with pytest.raises(exc.DBAPIError) as failed, engine.connect() as conn:
        conn.scalar(text("SELECT 1"))
    assert failed.value.connection_invalidated
    assert backend_pid(engine) != first  # the next checkout gets a fresh connection


def test_sqlite_engines_get_no_idle_ping():
    engine = db.make_engine("sqlite://")
    assert not [fn for fn in engine.pool.dispatch.checkout if fn.__name__ == "_checkout"]
