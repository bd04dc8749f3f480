"""Allocation down the hierarchy: pools, tenant subscriptions, number entitlements, release."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


def be(n: int) -> str:
    """A valid Brussels number."""
    return f"+322555{n:04d}"


@pytest.fixture
def pool(nm):
    """Ten available numbers, five of them in the reseller's pool."""
    numbers = [be(n) for n in range(10)]
    nm.stock(*numbers)
    nm.transfer("reseller", *numbers[:5])
    return numbers


def test_group_hands_a_block_to_a_reseller_pool(nm, pool):
    moved = nm.group.post(
        "numbers/transfer",
        {"organization_id": str(nm.tree["distributor"].id), "first": be(5), "last": be(7)},
    )
    assert moved.status_code == 200, moved.json
    assert moved.json["moved"] == 3
    reseller = nm.client("reseller")
    seen = reseller.get("numbers").json["items"]
    assert [n["e164"] for n in seen] == pool[:5]
    assert {n["owner_id"] for n in seen} == {str(nm.tree["reseller"].id)}
    history = nm.group.get(f"numbers/{pool[0]}/history").json
    assert history[-1]["action"] == "transfer"
    assert history[-1]["details"]["to"] == str(nm.tree["reseller"].id)


def test_a_transfer_is_all_or_nothing(nm, pool):
    sub = nm.subscription()
    nm.grant(sub)
    nm.group.post(f"numbers/{pool[9]}/allocate", {"subscription_id": str(sub.id)})
    response = nm.group.post(
        "numbers/transfer",
        {"organization_id": str(nm.tree["sibling_reseller"].id), "numbers": pool[7:]},
    )
    assert response.status_code == 409
    assert response.json["errors"]["numbers"] == [
        f"{pool[9]}: allocated (only unallocated numbers move)"
    ]
    assert nm.group.get(f"numbers/{pool[7]}").json["owner_id"] == str(nm.tree["group"].id)
    # A reseller cannot push numbers into a pool outside its subtree.
    response = nm.client("reseller").post(
        "numbers/transfer",
        {"organization_id": str(nm.tree["sibling_reseller"].id), "numbers": pool[:1]},
    )
    assert response.status_code == 422
    assert "organization_id" in response.json["errors"]


def test_a_reseller_allocates_from_its_pool_consuming_an_entitlement(nm, pool):
    sub = nm.subscription()
    if not nm.grant(sub, quantity=1):
        pytest.skip("no entitlement ledger in this code base")
    reseller = nm.client("reseller")
    response = reseller.post(f"numbers/{pool[0]}/allocate", {"subscription_id": str(sub.id)})
    assert response.status_code == 200, response.json
    body = response.json
    assert body["state"] == "allocated"
    assert body["subscription_id"] == str(sub.id)
    assert body["owner_id"] == str(nm.tree["tenant"].id)
    assert nm.entitlement(sub) == (1, 1)

    # The one entitlement is spent: the next allocation fails clearly and changes nothing.
    refused = reseller.post(f"numbers/{pool[1]}/allocate", {"subscription_id": str(sub.id)})
    assert refused.status_code == 409, refused.json
    assert refused.json["code"] == "entitlement_exhausted"
    assert "number:BE:geographic" in refused.json["message"]
    assert reseller.get(f"numbers/{pool[1]}").json["state"] == "available"
    assert [h["action"] for h in reseller.get(f"numbers/{pool[1]}/history").json] == [
        "import",
        "transfer",
    ]


def test_without_an_entitlement_of_that_type_allocation_fails(nm, pool):
    sub = nm.subscription()
    if not nm.grant(sub, number_type="mobile", quantity=5):
        pytest.skip("no entitlement ledger in this code base")
    response = nm.group.post(f"numbers/{pool[9]}/allocate", {"subscription_id": str(sub.id)})
    assert response.status_code == 409
    assert response.json["code"] == "entitlement_exhausted"
    assert "no number:BE:geographic entitlement" in response.json["message"]


def test_allocation_stays_inside_the_pools_subtree(nm, pool):
    sibling_sub = nm.subscription("sibling_tenant")
    nm.grant(sibling_sub, quantity=5)
    # The reseller cannot reach the sibling tenant's subscription at all...
    response = nm.client("reseller").post(
        f"numbers/{pool[0]}/allocate", {"subscription_id": str(sibling_sub.id)}
    )
    assert response.status_code == 422
    assert "subscription_id" in response.json["errors"]
    # ...and even the group cannot give a reseller's pool number to another reseller's tenant.
    response = nm.group.post(
        f"numbers/{pool[0]}/allocate", {"subscription_id": str(sibling_sub.id)}
    )
    assert response.status_code == 422
    assert "does not serve it" in response.json["errors"]["subscription_id"][0]
    # Tenants never allocate.
    sub = nm.subscription()
    response = nm.client("tenant").post(
        f"numbers/{pool[0]}/allocate", {"subscription_id": str(sub.id)}
    )
    assert response.status_code == 404  # the pool is not the tenant's to see


def test_release_quarantines_in_the_pool_and_gives_the_entitlement_back(nm, pool):
    assert nm.group.patch("number-settings", {"aging_days": 30}).json["aging_days"] == 30
    sub = nm.subscription()
    nm.grant(sub, quantity=1)
    nm.client("reseller").post(f"numbers/{pool[0]}/allocate", {"subscription_id": str(sub.id)})

    tenant = nm.client("tenant")
    assert tenant.post(f"numbers/{pool[0]}/allocate", {"subscription_id": str(sub.id)}).json[
        "code"
    ] in ("forbidden", "conflict")
    released = tenant.post(f"numbers/{pool[0]}/release", {"reason": "office closed"})
    assert released.status_code == 200, released.json
    body = released.json
    assert body["state"] == "aging"
    assert body["owner_id"] == str(nm.tree["reseller"].id)
    assert body["subscription_id"] is None
    aging_until = datetime.fromisoformat(body["aging_until"])
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs((aging_until - expected).total_seconds()) < 3600
    if nm.entitlement(sub) is not None:
        assert nm.entitlement(sub) == (1, 0)
    # The tenant no longer sees it; the reseller does.
    assert tenant.get(f"numbers/{pool[0]}").status_code == 404
    assert nm.client("reseller").get(f"numbers/{pool[0]}").json["state"] == "aging"


def test_a_reservation_holds_the_number_for_one_tenant(nm, pool):
    sub = nm.subscription()
    sibling = nm.make.org("tenant", nm.tree["reseller"])
    sibling_sub = nm.make.subscription(sibling)
    nm.grant(sub)
    nm.grant(sibling_sub)
    reseller = nm.client("reseller")
    reserved = reseller.post(f"numbers/{pool[0]}/reserve", {"tenant_id": str(sibling.id)})
    assert reserved.status_code == 200, reserved.json
    assert reserved.json["reserved_for_id"] == str(sibling.id)
    assert reserved.json["reserved_until"] is not None
    taken = reseller.post(f"numbers/{pool[0]}/allocate", {"subscription_id": str(sub.id)})
    assert taken.status_code == 409
    assert taken.json["errors"]["state"] == ["The number is reserved for another tenant."]
    ok = reseller.post(f"numbers/{pool[0]}/allocate", {"subscription_id": str(sibling_sub.id)})
    assert ok.status_code == 200, ok.json
    assert ok.json["reserved_for_id"] is None
