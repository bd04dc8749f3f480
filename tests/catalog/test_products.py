"""Products: SKUs with quantities, prices and markups; edited with If-Match; deactivated, and
deleted only while no order references them."""

from __future__ import annotations


def test_create_edit_and_delete_a_product(catalog):
    client = catalog.client
    created = catalog.product(
        "Teams Starter",
        {"Fusion user": 1, "BE geographic number": 1},
        description="One user with a Belgian number",
        setup_price="10.00",
        monthly_price="4.5",
        currency="EUR",
        markups=[
            {"tier": "reseller", "percent": "12.5", "starts_on": "2026-01-01"},
            {"tier": "distributor", "percent": "5", "starts_on": "2026-01-01"},
        ],
    )
    assert created["monthly_price"] == "4.5000"
    assert created["markups"] == [
        {"tier": "distributor", "percent": "5.00", "starts_on": "2026-01-01"},
        {"tier": "reseller", "percent": "12.50", "starts_on": "2026-01-01"},
    ]
    assert [(line["sku_name"], line["quantity"]) for line in created["lines"]] == [
        ("Fusion user", 1),
        ("BE geographic number", 1),
    ]

    item = client.get(f"products/{created['id']}")
    stale = item.headers["ETag"]
    changed = client.patch(
        f"products/{created['id']}",
        {"lines": [{"sku_id": catalog.skus["Fusion user"]["id"], "quantity": 2}]},
        headers={"If-Match": stale},
    )
    assert changed.status_code == 200, changed.json
    assert [(line["sku_key"], line["quantity"]) for line in changed.json["lines"]] == [
        ("fusion_user", 2)
    ]
    assert changed.json["version"] == created["version"] + 1
    lost = client.patch(f"products/{created['id']}", {"name": "X"}, headers={"If-Match": stale})
    assert lost.status_code == 412
    assert client.get(f"products/{created['id']}").json["name"] == "Teams Starter"

    assert client.delete(f"products/{created['id']}").status_code == 204
    assert client.get(f"products/{created['id']}").status_code == 404


def test_delete_is_refused_while_orders_reference_it_deactivate_instead(catalog):
    order = catalog.new_tenant("Shop", Starter=1)
    starter = catalog.products["Starter"]
    refused = catalog.client.delete(f"products/{starter['id']}")
    assert refused.status_code == 409, refused.json
    assert refused.json["orders"] == [order["id"]]
    assert "BSS-Shop" in refused.json["errors"]["id"][0]
    assert catalog.client.get(f"products/{starter['id']}").status_code == 200

    off = catalog.client.patch(f"products/{starter['id']}", {"active": False})
    assert off.json["active"] is False
    # An inactive product cannot be ordered up, but can still be ordered down.
    up = catalog.order(
        {
            "type": "change",
            "subscription_id": order["subscription_id"],
            "lines": catalog.lines(Starter=1),
        }
    )
    assert up.status_code == 422
    assert "inactive" in up.json["errors"]["lines"]["0"]["product_id"][0]
    down = catalog.order(
        {
            "type": "change",
            "subscription_id": order["subscription_id"],
            "lines": catalog.lines(Starter=-1),
        }
    )
    assert down.status_code == 201, down.json


def test_invalid_products_and_skus_name_the_field_and_change_nothing(catalog):
    client = catalog.client
    cases = [
        ("products", {"name": "P", "lines": []}, "lines"),
        (
            "products",
            {"name": "P", "lines": [{"sku_id": catalog.skus["Fusion user"]["id"], "quantity": 0}]},
            "lines",
        ),
        (
            "products",
            {
                "name": "P",
                "monthly_price": "3",
                "lines": [{"sku_id": catalog.skus["Fusion user"]["id"], "quantity": 1}],
            },
            "currency",
        ),
        (
            "products",
            {
                "name": "Starter",
                "lines": [{"sku_id": catalog.skus["Fusion user"]["id"], "quantity": 1}],
            },
            "name",
        ),
        (
            "skus",
            {
                "name": "S",
                "kind": "license",
                "license_type": "fax_seat",
                "external_reference": "S-1",
            },
            "license_type",
        ),
        (
            "skus",
            {
                "name": "S",
                "kind": "number",
                "country": "Belgium",
                "number_type": "mobile",
                "external_reference": "S-2",
            },
            "country",
        ),
        (
            "skus",
            {
                "name": "S",
                "kind": "number",
                "country": "BE",
                "number_type": "mobile",
                "license_type": "fusion_user",
                "external_reference": "S-3",
            },
            "license_type",
        ),
        ("skus", {"name": "S", "kind": "customer_license", "external_reference": "S-4"}, "code"),
        (
            "skus",
            {
                "name": "S",
                "kind": "license",
                "license_type": "fusion_user",
                "external_reference": "FU-1",
            },
            "external_reference",
        ),
    ]
    for path, body, fieldname in cases:
        response = client.post(path, body)
        assert response.status_code in (409, 422), (body, response.json)
        assert fieldname in response.json["errors"], (body, response.json)
    assert client.get("products").json["total"] == 2
    assert client.get("skus").json["total"] == 3


def test_sku_keys_for_numbers_and_customer_licences(catalog):
    vanity = catalog.sku(
        "BE gold",
        kind="number",
        country="BE",
        number_type="geographic",
        vanity_class="gold",
        external_reference="NUM-BE-GOLD",
    )
    m365 = catalog.sku(
        "M365 E3 pack", kind="customer_license", code="M365-E3", external_reference="MS-E3"
    )
    assert vanity["key"] == "number:BE:geographic:gold"
    assert m365["key"] == "customer:M365-E3"
    found = catalog.client.get("skus?kind=number").json
    assert sorted(s["key"] for s in found["items"]) == [
        "number:BE:geographic",
        "number:BE:geographic:gold",
    ]
