"""Tenant self-service number requests: reserve at once, approve (allocate) or reject (release),
cancel, expire; not enough numbers refuses and reserves nothing; the upstream queue is scoped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from fusion_core.context import SYSTEM, acting_as
from fusion_core.db import get_db, utcnow
from fusion_core.numbering import services
from fusion_core.numbering.models import NumberRequest

ANTWERP = ["+3232120001", "+3232120002"]


def be(n: int) -> str:
    return f"+322555{n:04d}"


@pytest.fixture
def stocked(nm):
    """Five Brussels numbers in the reseller's pool, two Antwerp numbers in the group's."""
    brussels = [be(n) for n in range(5)]
    nm.stock(*brussels, *ANTWERP)
    nm.transfer("reseller", *brussels)
    return brussels


def states(nm, numbers):
    return [nm.group.get(f"numbers/{n}").json["state"] for n in numbers]


def ask(nm, sub, level="tenant", **body):
    return nm.client(level).post(
        "number-requests", {"subscription_id": str(sub.id), "country": "BE",
                            "type": "geographic", **body},
    )  # fmt: skip


def test_a_tenant_request_reserves_numbers_and_approval_allocates_them(nm, stocked):
    sub = nm.subscription()
    granted = nm.grant(sub, quantity=3)
    response = ask(nm, sub, quantity=2, area="2", note="new office")
    assert response.status_code == 201, response.json
    request = response.json
    assert request["state"] == "pending"
    assert request["numbers"] == stocked[:2]
    assert request["requested_by"].startswith("admin")
    for e164 in stocked[:2]:
        number = nm.group.get(f"numbers/{e164}").json
        assert number["state"] == "reserved"
        assert number["reserved_for_id"] == str(nm.tree["tenant"].id)
        last = nm.group.get(f"numbers/{e164}/history").json[-1]
        assert last["action"] == "reserve"
        assert last["details"]["request"] == request["id"]

    # The tenant cannot approve its own request.
    refused = nm.client("tenant").post(f"number-requests/{request['id']}/approve", {})
    assert refused.status_code == 403, refused.json

    # The queue of the reseller shows it; approval allocates and consumes entitlements.
    queue = nm.client("reseller").get("number-requests", query_string={"state": "pending"})
    assert [r["id"] for r in queue.json["items"]] == [request["id"]]
    approved = nm.client("reseller").post(f"number-requests/{request['id']}/approve", {})
    assert approved.status_code == 200, approved.json
    assert approved.json["state"] == "approved"
    assert approved.json["decided_by"].startswith("admin")
    assert states(nm, stocked[:2]) == ["allocated", "allocated"]
    assert nm.group.get(f"numbers/{stocked[0]}").json["subscription_id"] == str(sub.id)
    last = nm.group.get(f"numbers/{stocked[0]}/history").json[-1]
    assert (last["action"], last["from_state"], last["to_state"]) == (
        "allocate", "reserved", "allocated",
    )  # fmt: skip
    if granted:
        assert nm.entitlement(sub) == (3, 2)
    # Approved is final.
    again = nm.client("reseller").post(f"number-requests/{request['id']}/reject", {"reason": "x"})
    assert again.status_code == 409
    assert again.json["state"] == "approved"


def test_approval_without_entitlements_changes_nothing(nm, stocked):
    sub = nm.subscription()
    if not nm.grant(sub, quantity=1):
        pytest.skip("no entitlement ledger in this code base")
    request = ask(nm, sub, quantity=2).json
    response = nm.group.post(f"number-requests/{request['id']}/approve", {})
    assert response.status_code == 409, response.json
    assert response.json["code"] == "entitlement_exhausted"
    assert "number:BE:geographic" in response.json["message"]
    assert nm.group.get(f"number-requests/{request['id']}").json["state"] == "pending"
    assert states(nm, request["numbers"]) == ["reserved", "reserved"]
    assert nm.entitlement(sub) == (1, 0)


def test_rejection_needs_a_reason_and_releases_the_numbers(nm, stocked):
    sub = nm.subscription()
    request = ask(nm, sub, quantity=3).json
    missing = nm.group.post(f"number-requests/{request['id']}/reject", {})
    assert missing.status_code == 422
    assert "reason" in missing.json["errors"]
    response = nm.group.post(f"number-requests/{request['id']}/reject", {"reason": "no stock"})
    assert response.status_code == 200, response.json
    assert (response.json["state"], response.json["decision_reason"]) == ("rejected", "no stock")
    assert states(nm, stocked[:3]) == ["available"] * 3
    last = nm.group.get(f"numbers/{stocked[0]}/history").json[-1]
    assert (last["action"], last["reason"]) == ("unreserve", "number request rejected: no stock")


def test_the_tenant_cancels_its_request(nm, stocked):
    sub = nm.subscription()
    request = ask(nm, sub, quantity=1).json
    response = nm.client("tenant").post(f"number-requests/{request['id']}/cancel", {})
    assert response.status_code == 200, response.json
    assert response.json["state"] == "cancelled"
    assert states(nm, stocked[:1]) == ["available"]
    readonly = nm.client("tenant", "read_only")
    other = ask(nm, sub, quantity=1).json
    assert readonly.post(f"number-requests/{other['id']}/cancel", {}).status_code == 403


def test_not_enough_numbers_is_refused_and_nothing_is_reserved(nm, stocked):
    sub = nm.subscription()
    response = ask(nm, sub, quantity=6, area="2")
    assert response.status_code == 422, response.json
    assert response.json["errors"]["quantity"] == [
        "6 asked, 5 available (BE geographic in area 2)."
    ]
    assert response.json["available"] == 5
    assert states(nm, stocked) == ["available"] * 5
    assert nm.group.get("number-requests").json["items"] == []


def test_a_specific_vanity_number(nm, stocked):
    sub = nm.subscription()
    response = ask(nm, sub, number=ANTWERP[1], country=None, type=None)
    assert response.status_code == 422  # country/type may be left out, not null
    body = {"subscription_id": str(sub.id), "number": ANTWERP[1]}
    response = nm.client("tenant").post("number-requests", body)
    assert response.status_code == 201, response.json
    assert (response.json["numbers"], response.json["quantity"]) == ([ANTWERP[1]], 1)
    assert (response.json["country"], response.json["number_type"]) == ("BE", "geographic")
    # Taken now: asking again says so on `number`.
    again = nm.client("tenant").post("number-requests", body)
    assert again.status_code == 422
    assert again.json["errors"]["number"] == [
        f"{ANTWERP[1]} is not available in the pools serving the tenant."
    ]
    wrong = nm.client("tenant").post("number-requests", {**body, "number": "+3225559999999"})
    assert wrong.status_code == 422
    assert "number" in wrong.json["errors"]


def test_numbers_of_a_sibling_pool_are_never_reserved(nm, stocked):
    """The sibling tenant's pools are the sibling reseller, distributor and group: the five
    Brussels numbers in the reseller's pool are out of its reach."""
    sub = nm.subscription("sibling_tenant")
    response = nm.client("sibling_tenant").post(
        "number-requests",
        {"subscription_id": str(sub.id), "country": "BE", "type": "geographic", "quantity": 3},
    )
    assert response.status_code == 422
    assert response.json["available"] == 2  # the Antwerp numbers in the group's pool
    # And a subscription of another tenant is not in the tenant admin's scope.
    mine = nm.client("tenant").post(
        "number-requests",
        {"subscription_id": str(sub.id), "country": "BE", "type": "geographic"},
    )
    assert mine.status_code == 422
    assert "subscription_id" in mine.json["errors"]


def test_the_queue_is_scoped(nm, stocked):
    sub = nm.subscription()
    request = ask(nm, sub).json
    sibling = nm.client("sibling_reseller")
    assert sibling.get("number-requests", query_string={"state": "pending"}).json["items"] == []
    assert sibling.get(f"number-requests/{request['id']}").status_code == 404
    assert sibling.post(f"number-requests/{request['id']}/approve", {}).status_code == 404
    assert states(nm, request["numbers"]) == ["reserved"]


def test_an_expired_request_releases_its_numbers(nm, stocked, app):
    sub = nm.subscription()
    request = ask(nm, sub, quantity=2).json
    with app.app_context(), acting_as(SYSTEM):
        session = get_db().session
        row = session.scalar(select(NumberRequest))
        row.expires_at = utcnow() - timedelta(minutes=1)
        session.commit()
    late = nm.group.post(f"number-requests/{request['id']}/approve", {})
    assert late.status_code == 409
    assert late.json["state"] == "expired"
    assert states(nm, request["numbers"]) == ["reserved", "reserved"]
    with app.app_context(), acting_as(SYSTEM):
        services.expire_job()
        get_db().session.commit()
    assert nm.group.get(f"number-requests/{request['id']}").json["state"] == "expired"
    assert states(nm, request["numbers"]) == ["available", "available"]
    last = nm.group.get(f"numbers/{request['numbers'][0]}/history").json[-1]
    assert (last["action"], last["reason"]) == ("unreserve", "number request expired")


def test_an_area_request_takes_the_area_s_numbers_only(nm, stocked):
    """The area code is also read as the E.164 prefix +<country code><area>: Antwerp's "3"
    finds +323… numbers and none of Brussels' +322…, and an area with none finds nothing."""
    sub = nm.subscription()
    nm.grant(sub, quantity=3)
    response = ask(nm, sub, quantity=2, area="3")
    assert response.status_code == 201, response.json
    assert response.json["numbers"] == ANTWERP
    refused = ask(nm, sub, quantity=1, area="9")
    assert refused.status_code == 422, refused.json
    assert "quantity" in refused.json["errors"]
