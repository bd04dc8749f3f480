"""On PostgreSQL, 100 concurrent requests for one number: exactly one wins, the rest get 409."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from fusion_core.context import Actor, acting_as
from fusion_core.db import get_db
from fusion_core.errors import Conflict
from fusion_core.numbering import services
from fusion_core.numbering.models import NumberHistory
from fusion_core.testing import need_service

RACERS = 100


@pytest.fixture
def postgres(app):
    need_service("PostgreSQL", "FUSION_TEST_DATABASE_URL")
    assert app.extensions["fusion.db"].engine.dialect.name == "postgresql"


def race(app, actor: Actor, action) -> Counter:
    """Run `action(session)` in RACERS threads released at once; count the outcomes."""
    barrier = threading.Barrier(RACERS)
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def run():
        with app.app_context(), acting_as(actor):
            session = get_db().session
            barrier.wait()
            try:
                action(session)
                outcome = "won"
            except Conflict as exc:
                session.rollback()
                outcome = f"409 {exc.details.get('state')}"
            except Exception as exc:  # anything else is a bug the assertion shows
                session.rollback()
                outcome = f"{type(exc).__name__}: {exc}"
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=run) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def group_actor(nm) -> Actor:
    group = nm.tree["group"]
    return Actor(
        label="racer",
        via="api",
        admin_id=nm.group_admin.id,
        organization_id=group.id,
        org_kind="group",
        org_path=group.org_path,
        role="admin",
    )


def history_count(app, action: str) -> int:
    with app.app_context():
        return get_db().session.scalar(
            select(func.count()).select_from(NumberHistory).where(NumberHistory.action == action)
        )


def test_one_of_100_concurrent_allocations_wins(postgres, nm, app):
    nm.stock("+3225551234")
    sub = nm.subscription()
    nm.grant(sub, quantity=RACERS)

    def allocate(session):
        number = services.get_number(session, "+3225551234", lock=True)
        services.allocate(session, number, sub.id)

    outcomes = race(app, group_actor(nm), allocate)
    assert outcomes == Counter({"won": 1, "409 allocated": RACERS - 1})
    assert history_count(app, "allocate") == 1
    if nm.entitlement(sub) is not None:
        assert nm.entitlement(sub) == (RACERS, 1)


def test_one_of_100_concurrent_reservations_wins(postgres, nm, app):
    nm.stock("+3225551234")
    tenant_id = nm.tree["tenant"].id

    def reserve(session):
        number = services.get_number(session, "+3225551234", lock=True)
        services.reserve(session, number, tenant_id)

    outcomes = race(app, group_actor(nm), reserve)
    assert outcomes == Counter({"won": 1, "409 reserved": RACERS - 1})
    assert history_count(app, "reserve") == 1
