"""One transition table: every legal move works and writes history; every other is refused."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update

from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import get_db
from fusion_core.errors import Conflict
from fusion_core.numbering import lifecycle
from fusion_core.numbering.models import STATES, NumberHistory, PhoneNumber

CASES = [(action, state) for action in lifecycle.TRANSITIONS for state in STATES]


@pytest.fixture
def group(make):
    return make.group()


def a_number(session, group, state: str) -> PhoneNumber:
    number = PhoneNumber(
        e164="+3225551234",
        country="BE",
        number_type="geographic",
        state=state,
        org_path=group.org_path,
    )
    session.add(number)
    session.flush()
    return number


@pytest.mark.parametrize(("action", "state"), CASES)
def test_the_transition_table_decides(app, group, action, state):
    transition = lifecycle.TRANSITIONS[action]
    with app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        number = a_number(session, group, state)
        if state in transition.sources:
            lifecycle.apply(session, number, action, reason="test")
            session.commit()
            assert number.state == transition.target
            rows = session.scalars(select(NumberHistory)).all()
            assert [(h.action, h.from_state, h.to_state, h.reason, h.actor) for h in rows] == [
                (action, state, transition.target, "test", "system")
            ]
        else:
            with pytest.raises(Conflict) as error:
                lifecycle.apply(session, number, action)
            assert error.value.details["state"] == state
            assert error.value.errors["state"][0].startswith(f"The number is {state}; {action}")
            assert number.state == state
            session.rollback()


def test_every_state_has_a_way_out_and_every_state_is_reachable():
    targets = {t.target for t in lifecycle.TRANSITIONS.values()}
    assert set(STATES) - targets == set()  # new numbers of a port-in start in porting
    for state in STATES:
        assert lifecycle.allowed_actions(state, internal=True), state
    # only a port-in brings a retired number back, and no one can ask for that by hand
    assert lifecycle.allowed_actions("retired", internal=True) == ["port_in"]
    assert lifecycle.allowed_actions("retired") == []


def test_history_is_append_only(app, group):
    with app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        number = a_number(session, group, "imported")
        lifecycle.apply(session, number, "publish")
        session.commit()
        with pytest.raises(Exception, match="append-only"):
            session.execute(text("UPDATE number_history SET reason = 'rewritten'"))
        session.rollback()
        with pytest.raises(RuntimeError, match="bypasses the audit"):
            session.execute(update(PhoneNumber).values(state="retired"))
        session.rollback()


def test_illegal_moves_over_the_api_answer_409_with_the_current_state(nm):
    nm.stock("+3225551234", publish=False)
    sub = nm.subscription()
    response = nm.group.post("numbers/+3225551234/allocate", {"subscription_id": str(sub.id)})
    assert response.status_code == 409, response.json
    assert response.json["code"] == "conflict"
    assert response.json["state"] == "imported"
    assert response.json["errors"]["state"] == [
        "The number is imported; allocate needs it to be available or reserved. "
        "From imported you can: publish, retire."
    ]

    published = nm.group.post("numbers/+3225551234/publish", {"reason": "launch"})
    assert published.status_code == 200, published.json
    assert published.json["state"] == "available"
    assert published.json["actions"] == ["unpublish", "reserve", "allocate", "retire"]
    again = nm.group.post("numbers/+3225551234/publish", {})
    assert again.status_code == 409
    assert again.json["errors"]["state"][0].startswith("The number is available; publish needs")

    history = nm.group.get("numbers/+3225551234/history").json
    assert [(h["action"], h["from_state"], h["to_state"]) for h in history] == [
        ("import", None, "imported"),
        ("publish", "imported", "available"),
    ]
    assert history[1]["reason"] == "launch"
    assert history[1]["actor_id"] == str(nm.group_admin.id)


def test_the_full_journey_over_the_api(nm, app):
    nm.stock("+3225551234")
    sub = nm.subscription()
    nm.grant(sub)
    tenant = str(nm.tree["tenant"].id)
    steps = [
        ("reserve", {"tenant_id": tenant}, "reserved"),
        ("unreserve", {}, "available"),
        ("reserve", {"tenant_id": tenant}, "reserved"),
        ("allocate", {"subscription_id": str(sub.id)}, "allocated"),
        ("release", {}, "aging"),
        ("recycle", {}, "available"),
        ("unpublish", {}, "imported"),
        ("retire", {}, "retired"),
    ]
    for action, body, state in steps:
        response = nm.group.post(f"numbers/+3225551234/{action}", body)
        assert response.status_code == 200, (action, response.json)
        assert response.json["state"] == state, action
    history = nm.group.get("numbers/+3225551234/history").json
    assert [h["to_state"] for h in history][1:] == [state for _a, _b, state in steps]
    assert nm.group.post("numbers/+3225551234/publish", {}).json["errors"]["state"] == [
        "The number is retired; publish needs it to be imported. From retired you can: nothing."
    ]
