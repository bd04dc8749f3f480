"""The expiry job ends reservations and quarantines whose time is over, with history."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import get_db, utcnow
from fusion_core.numbering import services
from fusion_core.numbering.models import PhoneNumber


def backdate(app, e164: str, **fields) -> None:
    with app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        number = session.scalar(select(PhoneNumber).where(PhoneNumber.e164 == e164))
        for key, value in fields.items():
            setattr(number, key, value)
        session.commit()


def test_expired_reservations_and_quarantines_become_available(nm, app):
    held, aging, still_held = "+3225550001", "+3225550002", "+3225550003"
    nm.stock(held, aging, still_held)
    tenant = str(nm.tree["tenant"].id)
    nm.group.post(f"numbers/{held}/reserve", {"tenant_id": tenant})
    nm.group.post(f"numbers/{still_held}/reserve", {"tenant_id": tenant})
    sub = nm.subscription()
    nm.grant(sub)
    nm.group.post(f"numbers/{aging}/allocate", {"subscription_id": str(sub.id)})
    nm.group.post(f"numbers/{aging}/release", {})
    past = utcnow() - timedelta(minutes=1)
    backdate(app, held, reserved_until=past)
    backdate(app, aging, aging_until=past)

    with app.app_context(), acting_as(SYSTEM):
        services.expire_job()
        get_db().session.commit()

    states = {n: nm.group.get(f"numbers/{n}").json for n in (held, aging, still_held)}
    assert states[held]["state"] == "available"
    assert states[held]["reserved_for_id"] is None
    assert states[aging]["state"] == "available"
    assert states[aging]["aging_until"] is None
    assert states[still_held]["state"] == "reserved"
    last = nm.group.get(f"numbers/{held}/history").json[-1]
    assert (last["action"], last["reason"]) == ("unreserve", "reservation expired")
    last = nm.group.get(f"numbers/{aging}/history").json[-1]
    assert (last["action"], last["reason"]) == ("recycle", "quarantine over")


def test_a_reservation_must_end_in_the_future(nm):
    nm.stock("+3225550001")
    response = nm.group.post(
        "numbers/+3225550001/reserve",
        {"tenant_id": str(nm.tree["tenant"].id), "until": "2020-01-01T00:00:00+00:00"},
    )
    assert response.status_code == 422
    assert response.json["errors"] == {"until": ["Must be in the future."]}
    assert nm.group.get("numbers/+3225550001").json["state"] == "available"
