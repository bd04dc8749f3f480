"""On PostgreSQL: 200 concurrent consumers race for the last 100 units of a SKU. Exactly 100
win, the others get the clear error, and the ledger balances with its holders.

The 200 consumers are 200 threads released together by a barrier. PostgreSQL's default
`max_connections` is 100, so they share a pool of CONNECTIONS (80) sized for the race, not the
app's default of 5 + 10: the test checks that the pool really had that many transactions open
at once."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import event, func, select

from fusion_core.catalog import ledger
from fusion_core.catalog.models import Entitlement, EntitlementHold
from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import get_db, make_engine
from fusion_core.testing import need_service

pytestmark = pytest.mark.postgres

RACERS = 200
CONNECTIONS = 80


def test_200_consumers_race_for_the_last_100_units(catalog, app):
    need_service("PostgreSQL", "FUSION_TEST_DATABASE_URL")
    assert app.extensions["fusion.db"].engine.dialect.name == "postgresql"

    order = catalog.new_tenant("Race", Trunk_10=15)  # 150 SIP channels
    sub = uuid.UUID(order["subscription_id"])
    catalog.consume(order["subscription_id"], "sip_channel", 50, ("trunks", "early"))

    db = app.extensions["fusion.db"]
    url = db.engine.url.render_as_string(hide_password=False)
    race_engine = make_engine(url, pool_size=CONNECTIONS, max_overflow=0, pool_timeout=120)
    db.factory.configure(bind=race_engine)
    barrier = threading.Barrier(RACERS)
    results: list[str] = []
    lock = threading.Lock()
    open_at_once = [0, 0]  # now, most

    @event.listens_for(race_engine, "checkout")
    def _out(*_args) -> None:
        with lock:
            open_at_once[0] += 1
            open_at_once[1] = max(open_at_once)

    @event.listens_for(race_engine, "checkin")
    def _in(*_args) -> None:
        with lock:
            open_at_once[0] -= 1

    def racer(i: int) -> None:
        with app.app_context(), acting_as(SYSTEM):
            session = get_db().session
            barrier.wait()
            try:
                ledger.consume(session, sub, "sip_channel", 1, ("trunks", f"racer-{i}"))
                session.commit()
                outcome = "won"
            except ledger.NothingLeft as error:
                session.rollback()
                outcome = "nothing left" if "0 available" in error.message else error.message
            except Exception as error:  # anything else is a failure of the test
                session.rollback()
                outcome = f"{type(error).__name__}: {error}"
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(RACERS)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        db.factory.configure(bind=db.engine)
        race_engine.dispose()

    assert open_at_once[1] >= CONNECTIONS // 2, open_at_once

    assert len(results) == RACERS
    assert results.count("won") == 100, sorted(set(results))
    assert results.count("nothing left") == 100, sorted(set(results))

    with app.app_context():
        session = get_db().session
        ent = session.scalar(select(Entitlement).where(Entitlement.subscription_id == sub))
        assert (ent.ordered, ent.consumed) == (150, 150)
        held = session.scalar(
            select(func.sum(EntitlementHold.quantity)).where(
                EntitlementHold.entitlement_id == ent.id
            )
        )
        racers = session.scalar(
            select(func.count())
            .select_from(EntitlementHold)
            .where(EntitlementHold.holder_id.like("racer-%"))
        )
        assert (held, racers) == (150, 100)


def test_one_holder_consuming_from_many_transactions_keeps_every_unit(catalog, app):
    """20 transactions add one unit each to the same holder: the hold ends with every unit.
    (The conditional UPDATE of the entitlement locks its row until commit, so each
    transaction reads the hold's quantity after the previous one committed.)"""
    need_service("PostgreSQL", "FUSION_TEST_DATABASE_URL")
    order = catalog.new_tenant("Same holder", Trunk_10=3)  # 30 SIP channels
    sub = uuid.UUID(order["subscription_id"])
    catalog.consume(order["subscription_id"], "sip_channel", 1, ("trunks", "shared"))
    racers = 20
    barrier = threading.Barrier(racers)
    errors: list[str] = []

    def racer() -> None:
        with app.app_context(), acting_as(SYSTEM):
            session = get_db().session
            barrier.wait()
            try:
                ledger.consume(session, sub, "sip_channel", 1, ("trunks", "shared"))
                session.commit()
            except Exception as error:
                session.rollback()
                errors.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=racer) for _ in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with app.app_context():
        session = get_db().session
        ent = session.scalar(select(Entitlement).where(Entitlement.subscription_id == sub))
        hold = session.scalar(
            select(EntitlementHold).where(
                EntitlementHold.entitlement_id == ent.id, EntitlementHold.holder_id == "shared"
            )
        )
        assert (ent.consumed, hold.quantity) == (racers + 1, racers + 1)
