"""PATCH a number: notes by its owners, vanity class by group admins, ETag / If-Match."""

from __future__ import annotations


def test_patch_with_if_match(nm):
    nm.stock("+3225550001")
    first = nm.group.get("numbers/+3225550001")
    etag = first.headers["ETag"]
    by_id = nm.group.get(f"numbers/{first.json['id']}")
    assert by_id.json["e164"] == "+3225550001"
    assert by_id.headers["ETag"] == etag

    changed = nm.group.patch(
        "numbers/+3225550001",
        {"notes": "front desk", "vanity_class": "gold"},
        headers={"If-Match": etag},
    )
    assert changed.status_code == 200, changed.json
    assert (changed.json["notes"], changed.json["vanity_class"]) == ("front desk", "gold")
    assert changed.headers["ETag"] != etag

    stale = nm.group.patch("numbers/+3225550001", {"notes": "lost"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert nm.group.get("numbers/+3225550001").json["notes"] == "front desk"

    refused = nm.group.patch("numbers/+3225550001", {"state": "retired"})
    assert refused.status_code == 422
    assert "state" in refused.json["errors"]


def test_only_group_admins_change_the_vanity_class(nm):
    nm.stock("+3225550001")
    nm.transfer("reseller", "+3225550001")
    reseller = nm.client("reseller")
    assert reseller.patch("numbers/+3225550001", {"vanity_class": "gold"}).status_code == 403
    noted = reseller.patch("numbers/+3225550001", {"notes": "for Shop"})
    assert noted.status_code == 200
    assert noted.json["vanity_class"] is None
    assert (
        nm.client("reseller", role="read_only")
        .patch("numbers/+3225550001", {"notes": "x"})
        .status_code
        == 403
    )
    assert nm.client("tenant").get("numbers/nonsense").json["errors"] == {
        "id": ["Give a number's id or its E.164 form."]
    }
