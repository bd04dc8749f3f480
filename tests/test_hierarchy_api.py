"""Building the hierarchy through the API, with the parent rules of DESIGN.md §4."""

from __future__ import annotations


def test_group_admin_builds_the_tree(api, make):
    group = make.group("Acme Telecom")
    client = api.as_(make.admin(group))

    distributor = client.post("distributors", {"parent_id": str(group.id), "name": "North"})
    assert distributor.status_code == 201, distributor.json
    assert distributor.json["kind"] == "distributor"
    assert distributor.json["path"] == [str(group.id), distributor.json["id"]]

    reseller = client.post("resellers", {"parent_id": distributor.json["id"], "name": "Blue"})
    assert reseller.status_code == 201, reseller.json
    tenant = client.post(
        "tenants",
        {"parent_id": reseller.json["id"], "name": "Shop", "external_billing_id": "CRM-1"},
    )
    assert tenant.status_code == 201, tenant.json
    assert tenant.json["external_billing_id"] == "CRM-1"
    assert tenant.json["status"] == "active"

    listed = client.get(f"tenants?within={distributor.json['id']}")
    assert listed.json["total"] == 1
    assert [t["name"] for t in listed.json["items"]] == ["Shop"]


def test_illegal_parents_are_refused_naming_the_field(api, make):
    tree = make.tree()
    client = api.as_(make.admin(tree["group"]))
    cases = [
        ("tenants", tree["tenant"], "tenant"),
        ("resellers", tree["reseller"], "reseller"),
        ("distributors", tree["reseller"], "reseller"),
        ("distributors", tree["distributor"], "distributor"),
    ]
    for collection, parent, parent_kind in cases:
        response = client.post(collection, {"parent_id": str(parent.id), "name": "X"})
        assert response.status_code == 422, (collection, response.json)
        assert response.json["code"] == "validation_error"
        assert f"not a {parent_kind}" in response.json["errors"]["parent_id"][0]
    assert client.get("tenants").json["total"] == 2
