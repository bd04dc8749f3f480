"""Only the group writes the catalogue and places orders; everyone below reads the catalogue;
another group's ids answer 404."""

from __future__ import annotations


def test_non_group_admins_read_the_catalogue_but_cannot_write(catalog, make, api):
    reseller = api.as_(make.admin(catalog.tree["reseller"]))
    tenant_admin = api.as_(make.admin(catalog.tree["tenant"]))
    starter = catalog.products["Starter"]
    for client in (reseller, tenant_admin):
        listed = client.get("products")
        assert listed.status_code == 200
        assert sorted(p["name"] for p in listed.json["items"]) == ["Starter", "Trunk 10"]
        assert client.get(f"skus/{catalog.skus['SIP channel']['id']}").json["key"] == "sip_channel"

        attempts = [
            client.post(
                "skus",
                {
                    "name": "X",
                    "kind": "license",
                    "license_type": "fusion_user",
                    "external_reference": "X-1",
                },
            ),
            client.patch(f"products/{starter['id']}", {"name": "Mine"}),
            client.delete(f"products/{starter['id']}"),
            client.post(
                "products",
                {
                    "name": "Y",
                    "lines": [{"sku_id": catalog.skus["SIP channel"]["id"], "quantity": 1}],
                },
            ),
            client.post(
                "orders",
                {
                    "type": "change",
                    "subscription_id": str(starter["id"]),
                    "lines": catalog.lines(Starter=1),
                },
            ),
        ]
        for response in attempts:
            assert response.status_code == 403, response.json
            assert response.json["code"] == "forbidden"
            assert "group administrators" in response.json["message"]
    assert catalog.client.get(f"products/{starter['id']}").json["name"] == "Starter"
    assert catalog.client.get("skus").json["total"] == 3


def test_read_only_group_admin_cannot_write(catalog, make, api):
    viewer = api.as_(make.admin(catalog.tree["group"], role="read_only"))
    response = viewer.patch(f"skus/{catalog.skus['SIP channel']['id']}", {"active": False})
    assert response.status_code == 403
    assert "read-only" in response.json["message"]


def test_another_groups_catalogue_and_orders_answer_404(catalog, make, api):
    order = catalog.new_tenant("Mine", Starter=1)
    other = make.group("Rival")
    rival = api.as_(make.admin(other))
    for path in (
        f"skus/{catalog.skus['SIP channel']['id']}",
        f"products/{catalog.products['Starter']['id']}",
        f"orders/{order['id']}",
        f"subscriptions/{order['subscription_id']}/entitlements",
    ):
        response = rival.get(path)
        assert response.status_code == 404, (path, response.json)
        assert response.json["errors"] == {"id": ["Not found."]}
    assert (
        rival.patch(f"products/{catalog.products['Starter']['id']}", {"name": "x"}).status_code
        == 404
    )
    assert rival.delete(f"products/{catalog.products['Starter']['id']}").status_code == 404
    assert rival.get("products").json["total"] == 0
    assert rival.get("orders").json["total"] == 0
    # The rival cannot order on our subscription either: it is not in its scope.
    response = rival.post(
        "orders",
        {
            "type": "change",
            "subscription_id": order["subscription_id"],
            "lines": catalog.lines(Starter=1),
        },
    )
    assert response.status_code == 422
    assert "subscription_id" in response.json["errors"]


def test_a_sibling_reseller_sees_neither_the_order_nor_its_entitlements(catalog, make, api):
    order = catalog.new_tenant("Mine", Starter=1)  # under tree["reseller"]
    sibling = api.as_(make.admin(catalog.tree["sibling_reseller"]))
    assert sibling.get(f"orders/{order['id']}").status_code == 404
    assert sibling.get(f"subscriptions/{order['subscription_id']}/entitlements").status_code == 404
    own = api.as_(make.admin(catalog.tree["reseller"]))
    assert own.get(f"orders/{order['id']}").json["state"] == "completed"
    ents = own.get(f"subscriptions/{order['subscription_id']}/entitlements").json
    assert {e["external_reference"]: e["ordered"] for e in ents} == {"FU-1": 1, "NUM-BE-GEO": 1}
