"""consume()/release() for plugins: holders recorded, a clear error when nothing is left,
and every ledger change audited although it is made by a conditional UPDATE."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update

from fusion_core.audit.models import AuditEntry
from fusion_core.catalog import ledger
from fusion_core.catalog.models import Entitlement, EntitlementHold
from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import get_db


def test_nothing_left_names_the_sku_and_what_is_left(catalog):
    order = catalog.new_tenant("Shop", Trunk_10=1)
    sub = order["subscription_id"]
    catalog.consume(sub, "sip_channel", 8, ("trunks", "t1"))
    with pytest.raises(ledger.NothingLeft) as caught:
        catalog.consume(sub, "sip_channel", 3, ("trunks", "t2"))
    error = caught.value
    assert error.status == 409
    assert error.code == "entitlement_exhausted"
    assert "sip_channel" in error.message
    assert "10 ordered, 8 consumed, 2 available; 3 requested" in error.message
    assert (error.details["available"], error.details["sku"]) == (2, "sip_channel")
    with pytest.raises(ledger.NothingLeft, match="has no teams_seat entitlement"):
        catalog.consume(sub, "teams_seat", 1, ("users", "u"))
    sc = catalog.entitlements(sub, holders=True)["SC-1"]
    assert (sc["ordered"], sc["consumed"]) == (10, 8)
    assert [(h["holder_type"], h["holder_id"], h["quantity"]) for h in sc["holders"]] == [
        ("trunks", "t1", 8)
    ]


def test_release_gives_back_what_the_holder_holds(catalog, app):
    order = catalog.new_tenant("Shop", Trunk_10=1, Starter=1)
    sub = order["subscription_id"]
    catalog.consume(sub, "sip_channel", 4, ("trunks", "t1"))
    catalog.consume(sub, "sip_channel", 2, ("trunks", "t1"))  # the same holder takes more
    catalog.consume(sub, "fusion_user", 1, ("trunks", "t1"))
    catalog.consume(sub, "sip_channel", 1, ("trunks", "t2"))
    ents = catalog.entitlements(sub, holders=True)
    assert [(h["holder_id"], h["quantity"]) for h in ents["SC-1"]["holders"]] == [
        ("t1", 6),
        ("t2", 1),
    ]

    with app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        assert ledger.release(session, ("trunks", "t1")) == 7
        session.commit()
    ents = catalog.entitlements(sub, holders=True)
    assert (ents["SC-1"]["consumed"], ents["FU-1"]["consumed"]) == (1, 0)
    assert [h["holder_id"] for h in ents["SC-1"]["holders"]] == ["t2"]
    assert ents["FU-1"]["holders"] == []


def test_every_ledger_change_is_audited(catalog, app):
    order = catalog.new_tenant("Shop", Trunk_10=1)
    sub = order["subscription_id"]
    catalog.consume(sub, "sip_channel", 3, ("trunks", "t1"))
    with app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        ledger.release(session, ("trunks", "t1"))
        session.commit()
        ent = session.scalar(
            select(Entitlement).where(Entitlement.subscription_id == uuid.UUID(sub))
        )
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity_type == "entitlements", AuditEntry.entity_id == str(ent.id))
            .order_by(AuditEntry.id)
        ).all()
        assert [(e.action, e.changes) for e in entries] == [
            (
                "create",
                {
                    "subscription_id": [None, sub],
                    "sku_id": [None, str(ent.sku_id)],
                    "ordered": [None, 10],
                    "consumed": [None, 0],
                    "created_at": entries[0].changes["created_at"],
                    "id": [None, str(ent.id)],
                    "org_path": [None, ent.org_path],
                },
            ),
            ("update", {"consumed": [0, 3]}),
            ("update", {"consumed": [3, 0]}),
        ]
        assert all(e.org_path == ent.org_path for e in entries)
        holds = session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity_type == "entitlement_holds")
        ).all()
        assert sorted(holds) == ["create", "delete"]


def test_an_unrecorded_bulk_update_of_the_ledger_is_refused(catalog, app):
    catalog.new_tenant("Shop", Trunk_10=1)
    with app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        with pytest.raises(RuntimeError, match="bypasses the audit"):
            session.execute(update(Entitlement).values(consumed=Entitlement.consumed + 1))
        session.rollback()
        assert session.scalar(select(Entitlement.consumed)) == 0


def test_the_database_refuses_an_overdrawn_ledger(catalog, app):
    from sqlalchemy.exc import IntegrityError

    catalog.new_tenant("Shop", Trunk_10=1)
    with app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        ent = session.scalar(select(Entitlement))
        ent.consumed = 11  # more than ordered: the CHECK constraint stops it
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
        assert session.scalar(select(EntitlementHold.id)) is None
