"""How an app context's transaction ends: a context that only read commits (so psycopg keeps its
prepared statements: it forgets them all on ROLLBACK), anything that wrote, waits for a commit
or failed is rolled back as before."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import get_db
from fusion_core.hierarchy import services as hierarchy
from fusion_core.hierarchy.models import Organization


@pytest.fixture
def endings(app):
    seen: list[str] = []
    with app.app_context():
        engine = get_db().engine

    def commit(_conn):
        seen.append("commit")

    def rollback(_conn):
        seen.append("rollback")

    event.listen(engine, "commit", commit)
    event.listen(engine, "rollback", rollback)
    yield seen
    event.remove(engine, "commit", commit)
    event.remove(engine, "rollback", rollback)


def groups(app) -> int:
    with app.app_context():
        return get_db().session.scalar(select(func.count()).select_from(Organization))


def test_a_context_that_only_read_commits(app, endings):
    with app.app_context():
        get_db().session.scalar(select(func.count()).select_from(Organization))
    assert endings == ["commit"]


def test_a_write_never_committed_is_rolled_back(app, endings):
    before = groups(app)
    endings.clear()
    with app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        hierarchy.create_group(session, "Never committed")
        session.flush()
    assert endings == ["rollback"]
    assert groups(app) == before


def test_pending_objects_or_an_exception_roll_back(app, endings):
    before = groups(app)
    endings.clear()
    with app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        session.scalar(select(func.count()).select_from(Organization))
        hierarchy.create_group(session, "Pending only")  # added, not flushed
    assert endings == ["rollback"]
    endings.clear()
    with pytest.raises(RuntimeError), app.app_context():
        get_db().session.scalar(select(func.count()).select_from(Organization))
        raise RuntimeError("boom")
    assert endings == ["rollback"]
    assert groups(app) == before
