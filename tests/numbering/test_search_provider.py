"""Numbers in the portal's global search: what was typed is read as the start of an E.164
number, and only numbers in the viewer's scope come back."""

from __future__ import annotations

from fusion_core.context import Actor
from fusion_core.numbering.search import as_prefix


def be(n: int) -> str:
    return f"+322555{n:04d}"


def actor(org) -> Actor:
    return Actor(label="viewer", via="portal", organization_id=org.id, org_kind=org.kind,
                 org_path=org.org_path, role="admin")  # fmt: skip


def search(app, org, query, limit=20):
    pm = app.extensions["fusion.plugins"]
    with app.test_request_context():
        found = pm.hook.global_search(actor=actor(org), query=query, limit=limit)
    return [r for results in found for r in results if r.kind == "Numbers"]


def test_query_forms():
    assert as_prefix("+32 2 555") == "+322555"
    assert as_prefix("0032-2-555.00") == "+32255500"
    assert as_prefix("(322) 555") == "+322555"
    assert as_prefix("32") is None  # too short: most of the inventory
    assert as_prefix("acme") is None
    assert as_prefix("+32a") is None


def test_only_numbers_in_scope_are_found(nm, app):
    nm.stock(*[be(n) for n in range(6)])
    nm.transfer("reseller", be(1), be(2))
    nm.transfer("sibling_reseller", be(3))
    sub = nm.subscription()
    nm.grant(sub)
    nm.group.post(f"numbers/{be(2)}/allocate", {"subscription_id": str(sub.id)})

    everything = search(app, nm.tree["group"], "+32 2 555")
    assert [r.label for r in everything] == [be(n) for n in range(6)]
    assert everything[2].detail == "allocated · BE geographic"
    first = nm.group.get(f"numbers/{be(0)}").json["id"]
    assert everything[0].url == f"/numbers/{first}"  # the portal's page of the number

    reseller = search(app, nm.tree["reseller"], "322555")
    assert [r.label for r in reseller] == [be(1), be(2)]
    assert [r.label for r in search(app, nm.tree["tenant"], "0032 2 555")] == [be(2)]
    assert search(app, nm.tree["sibling_tenant"], "+322555") == []
    assert [r.label for r in search(app, nm.tree["sibling_reseller"], be(3))] == [be(3)]
    assert search(app, nm.tree["sibling_reseller"], be(1)) == []
    assert len(search(app, nm.tree["group"], "+322555", limit=2)) == 2
    assert search(app, nm.tree["group"], nm.tree["tenant"].name) == []
