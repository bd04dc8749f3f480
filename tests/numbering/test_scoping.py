"""Scope: each level sees the numbers owned in its subtree, and nothing of its siblings."""

from __future__ import annotations


def test_a_reseller_never_sees_another_resellers_pool(nm):
    mine, theirs, group_only = "+3225550001", "+3225550002", "+3225550003"
    nm.stock(mine, theirs, group_only)
    nm.transfer("reseller", mine)
    nm.transfer("sibling_reseller", theirs)

    def visible(client):
        return [n["e164"] for n in client.get("numbers").json["items"]]

    assert visible(nm.group) == [mine, theirs, group_only]
    assert visible(nm.client("distributor")) == [mine, theirs]
    assert visible(nm.client("reseller")) == [mine]
    assert visible(nm.client("sibling_reseller")) == [theirs]
    assert visible(nm.client("tenant")) == []

    other = nm.client("sibling_reseller")
    for path in (f"numbers/{mine}", f"numbers/{mine}/history"):
        response = other.get(path)
        assert response.status_code == 404, path
        assert response.json["code"] == "not_found"
    number_id = nm.group.get(f"numbers/{mine}").json["id"]
    assert other.get(f"numbers/{number_id}").status_code == 404
    assert (
        other.post(
            f"numbers/{mine}/reserve", {"tenant_id": str(nm.tree["sibling_tenant"].id)}
        ).status_code
        == 404
    )
    assert other.patch(f"numbers/{mine}", {"notes": "mine now"}).status_code == 404
    # Searching by the other reseller's tenant is refused as out of scope, not answered empty.
    response = other.get(f"numbers?tenant_id={nm.tree['tenant'].id}")
    assert response.status_code == 422
    assert "tenant_id" in response.json["errors"]


def test_a_tenant_sees_only_its_own_numbers(nm):
    nm.stock("+3225550001", "+3225550002")
    sub = nm.subscription()
    nm.grant(sub)
    nm.group.post("numbers/+3225550001/allocate", {"subscription_id": str(sub.id)})
    tenant = nm.client("tenant")
    assert [n["e164"] for n in tenant.get("numbers").json["items"]] == ["+3225550001"]
    assert tenant.get("numbers/+3225550002").status_code == 404
    assert nm.client("sibling_tenant").get("numbers/+3225550001").status_code == 404


def test_inventory_records_belong_to_group_admins(nm):
    nm.import_rows([{"first": "+3225550000", "last": "+3225550009"}])
    assert nm.group.get("number-ranges").json["total"] == 1
    assert nm.group.get("number-imports").json["total"] == 1
    for level in ("reseller", "tenant"):
        client = nm.client(level)
        assert client.get("number-ranges").json["total"] == 0
        assert client.get("number-imports").json["total"] == 0
        assert client.get("number-settings").status_code == 403
        assert client.patch("number-settings", {"aging_days": 1}).status_code == 403
    block = nm.group.get("number-ranges").json["items"][0]["id"]
    assert nm.client("reseller").get(f"number-ranges/{block}").status_code == 404


def test_pool_owners_cannot_publish_or_retire(nm):
    nm.stock("+3225550001", publish=False)
    nm.transfer("reseller", "+3225550001")
    reseller = nm.client("reseller")
    for action in ("publish", "retire"):
        response = reseller.post(f"numbers/+3225550001/{action}", {})
        assert response.status_code == 403, action
        assert response.json["message"].startswith("Only group administrators")
    read_only = nm.client("group", role="read_only")
    assert read_only.post("numbers/+3225550001/publish", {}).status_code == 403
    assert nm.group.get("numbers/+3225550001").json["state"] == "imported"


def test_inventory_ids_are_shown_to_group_admins_only(nm, make):
    nm.import_rows([{"first": "+3225550000", "last": "+3225550009"}])
    nm.transfer("reseller", "+3225550001")
    assert nm.group.get("numbers/+3225550001").json["range_id"] is not None
    seen = nm.client("reseller").get("numbers/+3225550001").json
    assert (seen["range_id"], seen["import_id"]) == (None, None)
    history = nm.client("reseller").get("numbers/+3225550001/history").json
    assert history[0]["details"] == {}

    other_group = make.group()
    response = nm.group.post(
        "number-imports",
        {"rows": [{"number": "+3225551234"}], "group_id": str(other_group.id)},
    )
    assert response.status_code == 422
    assert response.json["errors"] == {"group_id": [f"No group {other_group.id} in your scope."]}
